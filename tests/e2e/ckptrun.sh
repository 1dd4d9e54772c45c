#!/bin/bash
# ckptrun.sh - the ckpt-run launcher: its embedded server and store, exit
# statuses and signals passed through, --mount with an external server, its
# command line, and an installed copy (make install) working on its own.
source "$(dirname "$0")/lib.sh"

RUN=$BIN/ckpt-run
S=$T/store
mkdir -p "$T/rtmp" "$T/wd"
cd "$T/wd" || exit 1
# ckpt-run makes its private socket directory under TMPDIR: watch it there.
export TMPDIR=$T/rtmp

# leftovers NAME: the embedded server of the last run is gone with its directory.
leftovers() {
	local left
	left=$(ls -A "$T/rtmp")
	if [ -z "$left" ] && ! pgrep -f -- "--root $S" >/dev/null; then
		pass "$1: the embedded server and its directory are gone"
	else
		fail "$1: left behind: $left $(pgrep -af -- "--root $S")"
	fi
}

# ---- the embedded server and its store ---------------------------------------
out=$(timeout 30 "$RUN" --store "$S" -- sh -c 'echo hello >/ckpt/x; cat /ckpt/x; echo more >>/ckpt/x' 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = hello ] && [ "$(cat "$S/x" 2>&1)" = "$(printf 'hello\nmore')" ]; then
	pass "no --mount: /ckpt/x lands in the store"
else
	fail "no --mount: exit $rc, output '$out', store file '$(cat "$S/x" 2>&1)'"
fi
mode=$(stat -c %a "$S")
if [ "$mode" = 700 ]; then pass "the store is made private (700)"; else fail "the store has mode $mode"; fi
leftovers "after a run"
gen_lines "$T/in.txt" 200000 5
timeout 30 "$RUN" --store "$S" -- cp "$T/in.txt" /ckpt/in.txt
timeout 30 "$RUN" --store "$S" -- sort -o /ckpt/sorted.txt /ckpt/in.txt
sort -o "$T/sorted.txt" "$T/in.txt"
same "real programs under ckpt-run: cp then sort in the store" "$T/sorted.txt" "$S/sorted.txt"
out=$(echo "from stdin" | timeout 30 "$RUN" --store "$S" -- cat)
if [ "$out" = "from stdin" ]; then pass "stdin reaches the program"; else fail "stdin: got '$out'"; fi

# ---- exit statuses and signals ------------------------------------------------
timeout 30 "$RUN" --store "$S" -- sh -c 'exit 3'
rc=$?
if [ "$rc" = 3 ]; then pass "exit 3 gives 3"; else fail "exit 3 gives $rc"; fi
timeout 30 "$RUN" --store "$S" -- /nonexistent/program 2>"$T/err"
rc=$?
if [ "$rc" = 127 ]; then pass "a missing program gives 127"; else fail "a missing program gives $rc: $(cat "$T/err")"; fi
timeout 30 bash -c '"$1" --store "$2" -- sh -c "kill -TERM \$\$"; echo $? >"$3"' _ "$RUN" "$S" "$T/rc"
rc=$(cat "$T/rc")
if [ "$rc" = 143 ]; then pass "a program killed by SIGTERM: ckpt-run dies of SIGTERM too (143)"; else fail "a program killed by SIGTERM gives $rc"; fi
leftovers "after SIGTERM"
timeout 30 bash -c '"$1" --store "$2" -- sh -c "kill -KILL \$\$"; echo $? >"$3"' _ "$RUN" "$S" "$T/rc"
rc=$(cat "$T/rc")
if [ "$rc" = 137 ]; then pass "a program killed by SIGKILL gives 137"; else fail "a program killed by SIGKILL gives $rc"; fi
leftovers "after SIGKILL"
"$RUN" --store "$S" -- sleep 30 &
p=$!
BG_PIDS+=("$p")
sleep 1
kill -TERM "$p"
t0=$(now)
wait_gone "$p" 10
if [ "$RC" = 143 ] && le "$(elapsed "$t0")" 5; then
	pass "SIGTERM to ckpt-run reaches the program (143 after $(elapsed "$t0")s)"
else
	fail "SIGTERM to ckpt-run: status $RC after $(elapsed "$t0")s"
fi
leftovers "after SIGTERM to ckpt-run"

# ---- --mount with an external server ---------------------------------------------
need_server a "$T/root"
cp "$T/in.txt" "$T/root/f"
md5sum "$T/root/f" | sed "s|$T/root|/data|" >"$T/md5.local"
timeout 30 "$RUN" --mount "/data=unix:$SOCK_a" --job myjob -- md5sum /data/f >"$T/md5.remote" 2>"$T/err"
same_text "--mount with an external server: md5sum /data/f" "$T/md5.local" "$T/md5.remote"
if grep -q "job 'myjob'" "$T/a.log"; then pass "--job reaches the server"; else fail "--job: no \"job 'myjob'\" in the server log"; fi
timeout 30 "$RUN" --mount="/data=unix:$SOCK_a" -- sh -c 'cp /data/f /data/g'
same "--mount=: cp within the mount" "$T/root/f" "$T/root/g"
if grep -q "job 'sh-" "$T/a.log"; then pass "the default job name is the program's name"; else fail "default job name: $(grep -o "job '[^']*'" "$T/a.log" | tail -1)"; fi
if [ ! -e "$S/f" ] && [ ! -e "$S/g" ]; then pass "--mount: no embedded store used"; else fail "--mount: files appeared in the store"; fi

# ---- the command line -----------------------------------------------------------------
out=$("$RUN" --help 2>&1)
rc=$?
if [ "$rc" = 0 ] && [[ $out == usage:\ ckpt-run* ]] && [[ $out == *--mount* ]]; then
	pass "--help: usage, exit 0"
else
	fail "--help: exit $rc, '$(head -2 <<<"$out")'"
fi
# badopt NAME WANT-IN-STDERR ARGS...: exit 2 and a message on stderr, nothing run.
badopt() {
	local name=$1 want=$2 rc
	shift 2
	timeout 30 "$RUN" "$@" >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	if [ "$rc" = 2 ] && grep -q -- "$want" "$T/bad.err" && [ ! -s "$T/bad.out" ]; then
		pass "$name: exit 2, '$(head -1 "$T/bad.err")'"
	else
		fail "$name: exit $rc, stderr '$(head -2 "$T/bad.err")', stdout '$(head -2 "$T/bad.out")'"
	fi
}
badopt "an unknown option" "unknown option --bogus" --bogus -- touch "$T/ran"
badopt "a bad --mount" "bad --mount" --mount data=unix:/x -- touch "$T/ran"
badopt "--mount without a value" "needs" --mount
badopt "no program" "usage" --store "$S"
if [ ! -e "$T/ran" ]; then pass "bad command lines run nothing"; else fail "a bad command line ran the program"; fi

# ---- make install ---------------------------------------------------------------------
I=$T/inst
if make -C "$TOP" -s install PREFIX="$I" BUILD="$BUILD" >"$T/install.log" 2>&1; then
	pass "make install PREFIX=$I"
else
	fail "make install PREFIX=$I failed"
	tail -5 "$T/install.log" | sed 's/^/    /'
fi
S2=$T/store2
out=$(cd / && env -u CKPT_SHIM -u CKPT_SERVER PATH=/usr/bin:/bin timeout 30 "$I/bin/ckpt-run" --store "$S2" -- \
	sh -c 'cp /etc/hostname /ckpt/x; grep -o "[^ ]*libckptshim[^ ]*" /proc/self/maps | sort -u;
	       readlink /proc/$(pgrep -of -- "--root $0")/exe' "$S2" 2>&1)
rc=$?
want=$(printf '%s\n%s' "$I/lib/libckptshim.so.1" "$I/bin/ckpt-server")
if [ "$rc" = 0 ] && [ "$out" = "$want" ] && cmp -s /etc/hostname "$S2/x"; then
	pass "the installed ckpt-run runs the installed shim and server"
else
	fail "the installed ckpt-run: exit $rc, output:"
	echo "$out" | sed 's/^/    /'
	echo "    wanted:"
	echo "$want" | sed 's/^/    /'
fi
finish

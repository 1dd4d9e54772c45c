#!/bin/bash
# ckptsrv.sh - checkpoints streamed to the servers: generations, two servers,
# and the failures that must leave the program running and the previous
# generation the last good one.
#
# The workload is python3 appending numbered lines to a remote file with a
# short pause between lines; the suite signals it (SIGUSR1) and waits for the
# shim's status file (CKPT_RUN_DIR/JOB.status), then lets it finish and checks
# its output against what an uninterrupted run writes.
source "$(dirname "$0")/lib.sh"

RUN=$T/run
mkdir -p "$RUN" "$T/wd"
export CKPT_RUN_DIR=$RUN

cat >"$T/append.py" <<'EOF'
import sys, time
out, n = sys.argv[1], int(sys.argv[2])
with open(out, "a") as f:
    for i in range(n):
        f.write("line %d %d\n" % (i, i * i))
        f.flush()
        time.sleep(0.02)
print("wrote", n)
EOF
for i in $(seq 0 149); do echo "line $i $((i * i))"; done >"$T/expect150"

# launch JOB MOUNTS OUTPATH N: the workload in the background; sets PID.
launch() {
	rm -f "$RUN/$1.status"
	(cd "$T/wd" && in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$2" CKPT_JOB="$1" \
		"$PY" "$T/append.py" "$3" "$4") </dev/null >"$T/$1.out" 2>"$T/$1.err" &
	PID=$!
	BG_PIDS+=("$PID")
}

# ckpt JOB: signal PID, wait up to 30 s for the status line; prints it.
ckpt() {
	local i
	rm -f "$RUN/$1.status"
	kill -USR1 "$PID"
	for i in $(seq 1 600); do
		[ -s "$RUN/$1.status" ] && { cat "$RUN/$1.status"; return 0; }
		sleep 0.05
	done
	echo "no status"
	return 1
}

# finish NAME JOB: wait for the workload; it must exit 0 having written all.
finish() {
	local rc=0
	wait "$PID" || rc=$?
	if [ "$rc" = 0 ] && grep -q "^wrote" "$T/$2.out"; then
		pass "$1"
	else
		fail "$1: exit $rc; stderr: $(tail -3 "$T/$2.err")"
	fi
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

need_server A "$T/rootA" --state-dir "$T/stateA"
need_server B "$T/rootB" --state-dir "$T/stateB"
need_server N "$T/rootN"
MA="/a=unix:$SOCK_A"
MB="/b=unix:$SOCK_B"
MN="/n=unix:$SOCK_N"

# --- generations on one server, the older one dropped at commit ---------------
launch one "$MA" /a/one.txt 150
sleep 0.5
s1=$(ckpt one)
sleep 0.3
s2=$(ckpt one)
finish "one server: the program finishes after two checkpoints" one
same_text "one server: the remote file is what an uninterrupted run writes" "$T/expect150" "$T/rootA/one.txt"
if [[ $s1 == result=ok* ]] && [ "$(field gen "$s1")" = 1 ] && [ "$(field gen "$s2")" = 2 ] &&
	[ "$(field servers "$s2")" = 1 ] && [ "$(field image "$s2")" -gt 100000 ]; then
	pass "one server: status lines say ok, generations 1 then 2"
else
	fail "one server: status lines: '$s1' / '$s2'"
fi
ls "$T/stateA/one" >"$T/one.ls" 2>&1
if grep -qx gen-2.ckpt "$T/one.ls" && grep -qx gen-1.ckpt "$T/one.ls" &&
	[ "$(od -An -tx1 -j8 -N8 "$T/stateA/one/committed" | tr -d ' \n')" = 0000000000000002 ]; then
	pass "one server: generation 2 committed, generation 1 kept as the one before"
else
	fail "one server: store holds: $(tr '\n' ' ' <"$T/one.ls")"
fi
if grep -q "checkpoint: job one generation 2 on 1 server" "$T/one.err"; then
	pass "one server: one stderr line per checkpoint names job and generation"
else
	fail "one server: stderr: $(cat "$T/one.err")"
fi

# --- two servers: the same image in both joint files -------------------------
launch two "$MA,$MB" /b/two.txt 150
sleep 0.5
s=$(ckpt two)
finish "two servers: the program finishes" two
same_text "two servers: the remote file is complete" "$T/expect150" "$T/rootB/two.txt"
size=$(field image "$s")
if [ "$(field servers "$s")" = 2 ] && [ -f "$T/stateA/two/gen-1.ckpt" ] && [ -f "$T/stateB/two/gen-1.ckpt" ] &&
	cmp -s <(tail -c +4097 "$T/stateA/two/gen-1.ckpt" | head -c "$size") \
		<(tail -c +4097 "$T/stateB/two/gen-1.ckpt" | head -c "$size"); then
	pass "two servers: both hold generation 1 with the same image"
else
	fail "two servers: status '$s'; stores: $(ls "$T/stateA/two" "$T/stateB/two" 2>&1 | tr '\n' ' ')"
fi

# --- numbering follows the newest generation any server holds ----------------
launch cont "$MA" /a/cont1.txt 60
sleep 0.3
ckpt cont >/dev/null
ckpt cont >/dev/null
finish "numbering: first run" cont
launch cont "$MA,$MB" /b/cont2.txt 60
sleep 0.3
s=$(ckpt cont)
finish "numbering: second run with one more server" cont
if [ "$(field gen "$s")" = 3 ] && [ -f "$T/stateB/cont/gen-3.ckpt" ] && [ -f "$T/stateA/cont/gen-3.ckpt" ]; then
	pass "numbering: a later run of the job continues at generation 3 on both servers"
else
	fail "numbering: status '$s'"
fi

# --- a server that keeps no checkpoints -----------------------------------------
launch nost "$MN" /n/nost.txt 150
sleep 0.5
s=$(ckpt nost)
finish "no state dir: the program continues and finishes" nost
same_text "no state dir: the remote file is complete" "$T/expect150" "$T/rootN/nost.txt"
if [[ $s == result=failed* ]] && [[ $s == *--state-dir* ]] &&
	grep -q "checkpoint failed: server unix:$SOCK_N.*--state-dir.*the program continues" "$T/nost.err"; then
	pass "no state dir: the checkpoint fails naming the server and --state-dir"
else
	fail "no state dir: status '$s'; stderr: $(cat "$T/nost.err")"
fi

# --- one of two servers gone: aborted everywhere, the program unharmed --------
need_server C "$T/rootC" --state-dir "$T/stateC"
MC="/c=unix:$SOCK_C"
launch gone "$MA,$MC" /a/gone.txt 150
sleep 0.3
s=$(ckpt gone)
kill -KILL "$PID_C"
wait "$PID_C" 2>/dev/null
sleep 0.2
s=$(ckpt gone)
finish "server gone: the program finishes" gone
same_text "server gone: its files on the other server are complete" "$T/expect150" "$T/rootA/gone.txt"
if [[ $s == result=failed* ]] && [[ $s == *"$SOCK_C"* ]] && [ "$(field gen "$s")" = 2 ] &&
	[ -f "$T/stateA/gone/gen-1.ckpt" ] && [ ! -e "$T/stateA/gone/gen-2.ckpt" ]; then
	pass "server gone: the checkpoint fails naming it; generation 2 aborted, 1 stays"
else
	fail "server gone: status '$s'; store A: $(ls "$T/stateA/gone" | tr '\n' ' ')"
fi

# --- a server that stops answering: CKPT_IO_TIMEOUT bounds the wait ------------
need_server D "$T/rootD" --state-dir "$T/stateD"
MD="/d=unix:$SOCK_D"
CKPT_IO_TIMEOUT=2 launch hung "$MD,$MA" /a/hung.txt 150
sleep 0.3
kill -STOP "$PID_D"
t0=$(date +%s.%N)
s=$(ckpt hung)
t1=$(date +%s.%N)
kill -CONT "$PID_D"
finish "stopped server: the program finishes" hung
same_text "stopped server: its files on the other server are complete" "$T/expect150" "$T/rootA/hung.txt"
if [[ $s == result=failed* ]] && [[ $s == *"$SOCK_D"* ]] && [ "$(echo "$t1 - $t0 < 10" | bc)" = 1 ] &&
	[ -z "$(ls "$T/stateA/hung" 2>/dev/null | grep '^gen-.*\.ckpt$')" ]; then
	pass "stopped server: the checkpoint fails within the timeout and keeps nothing"
else
	fail "stopped server: status '$s' after $(echo "$t1 - $t0" | bc) s; store A: $(ls "$T/stateA/hung" 2>&1 | tr '\n' ' ')"
fi

exit $((FAILS > 0))

#!/bin/bash
# ckptjob.sh - whole jobs: ckpt-run, checkpoints, SIGKILL, ckpt-restart.
#
# Real programs (python3, gzip, sort, awk, bc) run under ckpt-run with its
# embedded server and write to the remote mount /ckpt; they are checkpointed
# at several instants (the checkpoint signal, or `ckpt checkpoint`), killed
# with SIGKILL and restarted with ckpt-restart, and what they leave (the
# store's files, and stdout where the program writes it only at the end)
# must be byte for byte what an uninterrupted run leaves. Then: five cycles
# in a row on one run; --interval; a restart of a job still running; a
# corrupt or truncated joint checkpoint file; a server killed during a
# checkpoint (--mount to an external server); the scripts' command lines and
# their errors, each one line with nothing changed.
#
# CKPTJOB_GZIP_MB sets the size of the gzip input (default 200).
source "$(dirname "$0")/lib.sh"

RUN=$BIN/ckpt-run
RESTART=$BIN/ckpt-restart
CKPT=${CKPT_TOOL:-$BIN/ckpt}
RESTORE=$BIN/ckpt-restore
export CKPT_RUN_DIR=$T/run
R=$CKPT_RUN_DIR
WD=$T/wd
mkdir -p "$WD"
cd "$WD" || exit 1
GZIP_MB=${CKPTJOB_GZIP_MB:-200}

# Wrappers (ckpt-run, ckpt-restart) still running at the end get SIGTERM,
# which they pass on to their program before they stop their server; then
# SIGKILL for them and their children.
WRAPPERS=()
WPID_RC=
stop_wrappers() {
	local p c
	for p in "${WRAPPERS[@]}"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
	for p in "${WRAPPERS[@]}"; do
		alive "$p" || continue
		wait_gone "$p" 10 && continue
		for c in $(pgrep -P "$p"); do kill -KILL "$c" 2>/dev/null; done
	done
}
trap 'stop_wrappers; cleanup_all' EXIT

# wait_file FILE SECONDS: true once FILE exists.
wait_file() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# launch NAME [ckpt-run options] -- CMD...: ckpt-run (in $WD, stdout
# $T/NAME.out, stderr $T/NAME.err) in the background as job NAME; sets WPID
# (ckpt-run) and PID (the program, from the pid file).
launch() {
	local name=$1
	shift
	rm -f "$R/$name.pid"
	(in_clean "$RUN" --job "$name" "$@") </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	WPID=$!
	WPID_RC=
	WRAPPERS+=("$WPID")
	started "$name"
}

# restart NAME [ckpt-restart options]: ckpt-restart (stdout and stderr
# appended to $T/NAME.out and .err) in the background; sets WPID and PID.
restart() {
	local name=$1
	shift
	(in_clean "$RESTART" "$@") </dev/null >>"$T/$name.out" 2>>"$T/$name.err" &
	WPID=$!
	WPID_RC=
	WRAPPERS+=("$WPID")
	started "$name"
}

# started NAME: waits for the pid file of job NAME (and, for a restart, for
# the loader to have become the program); sets PID. True as well if the
# wrapper has already exited 0 (a short job), false if it failed.
started() {
	local i
	PID=
	for ((i = 0; i < 600; i++)); do
		PID=$(cat "$R/$1.pid" 2>/dev/null) && [ -n "$PID" ] &&
			[ "$(cat "/proc/$PID/comm" 2>/dev/null)" != ckpt-restore ] && return 0
		if ! alive "$WPID"; then
			wait "$WPID"
			RC=$?
			WPID_RC=$RC
			[ "$RC" = 0 ] && return 0
			break
		fi
		sleep 0.05
	done
	PID=
	echo "    job $1 did not start: $(tail -3 "$T/$1.err")"
	return 1
}

# stamp FILE: changes whenever the status file is replaced.
stamp() { stat -c '%i %Y %s' "$1" 2>/dev/null; cat "$1" 2>/dev/null; }
# field KEY LINE: the value of KEY=VALUE in a status line.
field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# checkpoint NAME: the checkpoint signal to the program of job NAME; waits
# for its status file; STATUS := the line. True if the checkpoint succeeded.
checkpoint() {
	local st=$R/$1.status before i
	before=$(stamp "$st")
	STATUS="(no status: the program is gone)"
	kill -USR1 "$PID" 2>/dev/null || return 1
	for ((i = 0; i < 2400; i++)); do
		[ "$(stamp "$st")" != "$before" ] && break
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.05
	done
	STATUS=$(cat "$st" 2>/dev/null)
	[[ $STATUS == result=ok* ]]
}

# killjob NAME: SIGKILL to the program; its wrapper must exit 137.
killjob() {
	kill -KILL "$PID" 2>/dev/null
	wait_gone "$WPID" 30
	[ "$RC" = 137 ] && return 0
	echo "    killed job $1: its wrapper exited $RC"
	return 1
}

# cycles NAME N DELAY [ckpt-restart options]: N times: wait DELAY seconds,
# checkpoint (at several instants: CHECKPOINTS of them, DELAY apart), wait
# DELAY/2, SIGKILL, restart. False (and why) at the first thing that fails.
cycles() {
	local name=$1 n=$2 delay=$3 k c
	shift 3
	for ((k = 1; k <= n; k++)); do
		for ((c = 0; c < ${CHECKPOINTS:-1}; c++)); do
			sleep "$delay"
			if ! checkpoint "$name"; then
				echo "    cycle $k: checkpoint failed: $STATUS; $(tail -2 "$T/$name.err")"
				return 1
			fi
		done
		sleep "$(awk -v d="$delay" 'BEGIN { print d / 2 }')"
		killjob "$name" || return 1
		restart "$name" "$@" || return 1
	done
}

# finished NAME SECONDS: the job's wrapper exits 0 within SECONDS.
finished() {
	if [ -n "${WPID_RC:-}" ]; then # seen by started
		RC=$WPID_RC
	else
		wait_gone "$WPID" "$2"
	fi
	WPID_RC=
	[ "$RC" = 0 ] && return 0
	echo "    job $1 exited $RC: $(tail -4 "$T/$1.err")"
	return 1
}

# no_leftovers NAME STORE: after a job that finished: nothing of it left in
# the run directory, no server serving STORE, its checkpoints gone.
no_leftovers() {
	local left
	left=$(cd "$R" && ls -A | grep -E "^$1\.(sock|pid|ready|img|status)$")
	if [ -z "$left" ] && ! pgrep -f -- "--root $2 " >/dev/null && [ ! -e "$2/.ckpt-state" ]; then
		pass "$1: nothing left behind (run directory, server, checkpoints)"
	else
		fail "$1: left behind: $left $(pgrep -af -- "--root $2 ") $(ls -A "$2/.ckpt-state" 2>/dev/null)"
	fi
}

# one_line_error NAME WANT RC-WANT CMD...: CMD fails with exit status
# RC-WANT and exactly one line on stderr matching WANT (a grep -E pattern),
# nothing on stdout.
one_line_error() {
	local name=$1 want=$2 rcw=$3 rc
	shift 3
	(in_clean timeout -k 5 60 "$@") </dev/null >"$T/err.out" 2>"$T/err.err"
	rc=$?
	if [ "$rc" = "$rcw" ] && [ "$(wc -l <"$T/err.err")" = 1 ] && grep -Eq -- "$want" "$T/err.err" &&
		[ ! -s "$T/err.out" ]; then
		pass "$name: exit $rc, '$(cat "$T/err.err")'"
		return 0
	fi
	fail "$name: exit $rc (want $rcw), stderr '$(head -3 "$T/err.err")', stdout '$(head -2 "$T/err.out")'"
	return 1
}

cat >"$T/py.py" <<'EOF'
import hashlib, sys, time
out, n = sys.argv[1], int(sys.argv[2])
h = hashlib.sha256(b"ckptjob")
for i in range(1, n + 1):
    for _ in range(3000):
        h = hashlib.sha256(h.digest())
    with open(out, "a") as f:
        f.write("%d %s\n" % (i, h.hexdigest()))
    time.sleep(0.002)
with open(out, "rb") as f:
    data = f.read()
print("done", n, len(data), hashlib.sha256(data).hexdigest())
EOF

# ---- python3: computes and appends its results to a remote file -------------------
mkdir -p "$T/py.ref"
(cd "$T/py.ref" && $PY "$T/py.py" results.txt 1500 >"$T/py.ref.out")
S=$T/py.store
mkdir -p "$S"
if launch py --store "$S" -- $PY "$T/py.py" /ckpt/results.txt 1500 &&
	CHECKPOINTS=3 cycles py 1 0.8 --store "$S" --job py && finished py 60; then
	same_tree "python3: 3 checkpoints, SIGKILL, restart: the store is as after an uninterrupted run" "$T/py.ref" "$S"
	same_text "python3: its stdout too" "$T/py.ref.out" "$T/py.out"
	grep -q 'generation 3 ' "$T/py.err" && pass "python3: generations 1-3 before the kill" ||
		fail "python3: no generation 3: $(grep ckptshim "$T/py.err")"
	no_leftovers py "$S"
else
	fail "python3: the job did not complete its cycle"
fi

# ---- gzip -c of a big remote file (text and random bytes mixed) --------------------
cat >"$T/gen.py" <<'EOF'
import random, sys
out, mb, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "lambda", "sigma", "omega"]
pool = "".join("%08d %s %s %.6f\n" % (i, r.choice(words), r.choice(words), r.random())
               for i in range(40000)).encode()
B = 1 << 16
with open(out, "wb") as f:
    for blk in range((mb << 20) // B):
        if blk % 3 == 2:
            f.write(r.randbytes(B))
        else:
            o = r.randrange(len(pool) - B)
            f.write(pool[o:o + B])
EOF
S=$T/gz.store
mkdir -p "$S" "$T/gz.ref"
$PY "$T/gen.py" "$S/big.dat" "$GZIP_MB" 7
ln "$S/big.dat" "$T/gz.ref/big.dat"
gzip -c "$T/gz.ref/big.dat" >"$T/gz.ref/big.dat.gz"
t0=$(now)
if launch gz --store "$S" -- sh -c 'exec gzip -c /ckpt/big.dat >/ckpt/big.dat.gz' &&
	CHECKPOINTS=2 cycles gz 2 1 --store "$S" && finished gz 300; then
	same_tree "gzip -c of a $GZIP_MB MB remote file: 2 cycles of 2 checkpoints, SIGKILL, restart: output as uninterrupted" \
		"$T/gz.ref" "$S"
	echo "    (gzip job: $(elapsed "$t0") s)"
	no_leftovers gz "$S"
else
	fail "gzip: the job did not complete its cycles"
fi
rm -rf "$S" "$T/gz.ref"

# ---- sort --parallel=1 of a big remote file, its temporary files on the mount -------
S=$T/sort.store
mkdir -p "$S/tmp" "$T/sort.ref/tmp" "$T/sort.tmp"
gen_lines "$S/in.txt" 3000000 3
ln "$S/in.txt" "$T/sort.ref/in.txt"
SORT=(sort --parallel=1 --batch-size=2 -S 1M -k2,2 -k1,1n)
TMPDIR=$T/sort.tmp "${SORT[@]}" -o "$T/sort.ref/sorted.txt" "$T/sort.ref/in.txt"
if launch sort --store "$S" -- env TMPDIR=/ckpt/tmp "${SORT[@]}" -o /ckpt/sorted.txt /ckpt/in.txt &&
	CHECKPOINTS=2 cycles sort 1 0.8 --store "$S" --job sort && CHECKPOINTS=1 cycles sort 1 0.8 --store "$S" &&
	finished sort 120; then
	same_tree "sort with TMPDIR on the mount: 3 checkpoints, 2 kills, output and temporary directory as uninterrupted" \
		"$T/sort.ref" "$S"
	no_leftovers sort "$S"
else
	fail "sort: the job did not complete its cycles"
fi
rm -rf "$S" "$T/sort.ref"

# ---- awk: a long floating-point computation writing a remote file ---------------------
AWKPROG='BEGIN { for (i = 0; i < 30000000; i++) { s += sin(i) * cos(i / 3); if (i % 5000 == 0) printf "%d %.12f\n", i, s > OUT } }'
mkdir -p "$T/awk.ref"
awk -v OUT="$T/awk.ref/awk.out" "$AWKPROG"
S=$T/awk.store
if launch awk --store "$S" -- awk -v OUT=/ckpt/awk.out "$AWKPROG" &&
	CHECKPOINTS=2 cycles awk 1 0.7 --store "$S" && finished awk 60; then
	same_tree "awk: 2 checkpoints, SIGKILL, restart: its remote output as uninterrupted" "$T/awk.ref" "$S"
else
	fail "awk: the job did not complete its cycle"
fi

# ---- bc -l: five checkpoint/kill/restart cycles in a row, with `ckpt checkpoint` ------
echo 'scale=50; for (i = 1; i <= 9000; i++) { x = e(l(i) / 3) + a(i) * s(i); print i, " ", x, "\n" }' >"$T/bc.in"
mkdir -p "$T/bc.ref"
cp "$T/bc.in" "$T/bc.ref/bc.in"
bc -lq "$T/bc.ref/bc.in" >"$T/bc.ref/bc.out"
S=$T/bc.store
mkdir -p "$S"
cp "$T/bc.in" "$S/bc.in"
bc_cycles() {
	local k out
	for ((k = 1; k <= 5; k++)); do
		sleep 0.8
		if ! out=$(timeout 120 "$CKPT" checkpoint --job bc 2>&1); then
			echo "    cycle $k: ckpt checkpoint --job bc: $out"
			return 1
		fi
		sleep 0.3
		killjob bc || return 1
		restart bc --store "$S" || return 1 # the only job in the store: no --job
	done
}
if launch bc --store "$S" -- sh -c 'exec bc -lq /ckpt/bc.in >/ckpt/bc.out' && bc_cycles && finished bc 120; then
	same_tree "bc -l: five checkpoint/SIGKILL/restart cycles in a row: output as uninterrupted" "$T/bc.ref" "$S"
	n=$(grep -c 'checkpoint: job bc generation' "$T/bc.err")
	[ "$n" = 5 ] && pass "bc: five checkpoints, one per restarted process" || fail "bc: $n checkpoint lines"
else
	fail "bc: the job did not complete five cycles"
fi

# ---- --interval; a job still running cannot be restarted ------------------------------
S=$T/iv.store
mkdir -p "$S" "$T/iv.ref"
(cd "$T/iv.ref" && $PY "$T/py.py" iv.txt 1200 >"$T/iv.ref.out")
# no --job: ckpt-run names the job and says so
(in_clean "$RUN" --store "$S" --interval 0.5 -- $PY "$T/py.py" /ckpt/iv.txt 1200) \
	</dev/null >"$T/iv.out" 2>"$T/iv.err0" &
WPID=$!
WPID_RC=
WRAPPERS+=("$WPID")
for ((i = 0; i < 100; i++)); do
	IV=$(sed -n 's/^ckpt-run: job //p' "$T/iv.err0")
	[ -n "$IV" ] && break
	sleep 0.05
done
if [[ $IV =~ ^python3-[0-9]+$ ]]; then
	pass "ckpt-run says the name it gave the job: $IV"
	ln -s "$T/iv.out" "$T/$IV.out" # where restart appends
	ln -s "$T/iv.err0" "$T/$IV.err"
else
	fail "ckpt-run --interval without --job: no 'ckpt-run: job NAME' line: $(head -3 "$T/iv.err0")"
fi
gens=
for ((i = 0; i < 200; i++)); do
	st=$(cat "$R/$IV.status" 2>/dev/null)
	if [[ $st == result=ok* ]]; then
		g=$(field gen "$st")
		[[ " $gens " == *" $g "* ]] || gens="$gens $g"
	fi
	[ "$(wc -w <<<"$gens")" -ge 3 ] && break
	sleep 0.1
done
if [ "$(wc -w <<<"$gens")" -ge 3 ]; then
	pass "ckpt-run --interval 0.5: generations$gens one after another"
else
	fail "ckpt-run --interval 0.5: generations seen: '$gens'; $(tail -3 "$T/iv.err0")"
fi
PID=$(cat "$R/$IV.pid" 2>/dev/null)
tree_list "$S" >"$T/iv.before"
one_line_error "ckpt-restart of a job still running is refused" "$IV is still running \(pid $PID\)" 1 \
	"$RESTART" --store "$S" --job "$IV"
one_line_error "ckpt-run of a job already running is refused" "$IV is already running \(pid $PID\)" 1 \
	"$RUN" --store "$S" --job "$IV" -- touch "$T/ran"
if kill -0 "$PID" 2>/dev/null && [ -S "$R/$IV.sock" ] && [ ! -e "$T/ran" ] &&
	[ "$(pgrep -cf -- "--root $S ")" = 1 ]; then
	pass "the running job is untouched: its program and its one server run on"
else
	fail "the running job: pid $PID alive? socket? $(ls "$R"); servers: $(pgrep -af -- "--root $S ")"
fi
last=$(field gen "$(cat "$R/$IV.status")")
if killjob "$IV" && restart "$IV" --store "$S" --interval 0.5; then
	sleep 1.5
	st=$(cat "$R/$IV.status" 2>/dev/null)
	if [[ $st == result=ok* ]] && [ "$(field gen "$st")" -gt "$last" ] && [ "$(field pid "$st")" = "$PID" ]; then
		pass "ckpt-restart --interval: the restarted program checkpoints again (generation $(field gen "$st") > $last)"
	else
		fail "ckpt-restart --interval: status '$st' (last before the kill: $last, pid $PID)"
	fi
	if finished "$IV" 60; then
		same_tree "--interval job killed and restarted: output as uninterrupted" "$T/iv.ref" "$S"
		same_text "--interval job: stdout as uninterrupted" "$T/iv.ref.out" "$T/iv.out"
		no_leftovers "$IV" "$S"
	fi
else
	fail "--interval job: kill and restart failed"
fi

# ---- a corrupt or truncated joint checkpoint file --------------------------------------
S=$T/bad.store
mkdir -p "$S" "$T/bad.ref"
(cd "$T/bad.ref" && $PY "$T/py.py" results.txt 900 >/dev/null)
if launch bad --store "$S" -- $PY "$T/py.py" /ckpt/results.txt 900 &&
	sleep 0.7 && checkpoint bad && sleep 0.7 && checkpoint bad && sleep 0.3 && killjob bad; then
	g=$(field gen "$STATUS")
	F=$S/.ckpt-state/bad/gen-$g.ckpt
	cp -p "$F" "$T/bad.good"
	cp -a "$S" "$T/bad.before"
	size=$(stat -c %s "$F")
	# one byte in the middle of the image changed
	off=$((size / 2))
	b=$(od -An -tu1 -j "$off" -N1 "$F" | tr -d ' ')
	printf "\\$(printf %03o $(((b + 1) % 256)))" | dd of="$F" bs=1 seek="$off" conv=notrunc status=none
	one_line_error "a corrupt joint file: ckpt-restart refuses it" "corrupt|EBADMSG|checksum" 1 \
		"$RESTART" --store "$S" --job bad
	if [ -e "$S/.ckpt-state/bad/gen-$((g - 1)).ckpt" ]; then
		hint="--generation $((g - 1))"
	else
		hint="no older generation"
	fi
	grep -q -- "$hint" "$T/err.err" && pass "corrupt joint file: the message says '$hint'" ||
		fail "corrupt joint file: no '$hint' in '$(cat "$T/err.err")'"
	cp -p "$T/bad.good" "$F"
	truncate -s $((size - 100)) "$F"
	one_line_error "a truncated joint file: ckpt-restart refuses it" "corrupt|truncated|EBADMSG|size" 1 \
		"$RESTART" --store "$S" --job bad
	cp -p "$T/bad.good" "$F"
	same_tree "refused restarts changed nothing in the store" "$T/bad.before" "$S"
	if [ -S "$R/bad.sock" ] || [ -e "$R/bad.pid" ] || [ -e "$R/bad.img" ] || pgrep -f -- "--root $S " >/dev/null; then
		fail "refused restarts left behind: $(ls "$R" | grep '^bad\.') $(pgrep -af -- "--root $S ")"
	else
		pass "refused restarts left no server, socket, pid file or image"
	fi
	# the previous generation is the way out when the newest one is damaged
	printf 'garbage' | dd of="$F" bs=1 seek=5000 conv=notrunc status=none
	if [ ! -e "$S/.ckpt-state/bad/gen-$((g - 1)).ckpt" ]; then
		fail "corrupt newest generation: the store keeps no generation $((g - 1)) to fall back to (ls: $(ls "$S/.ckpt-state/bad" | tr '\n' ' '))"
		cp -p "$T/bad.good" "$F"
		restart bad --store "$S" --job bad && finished bad 60 &&
			same_tree "the job whose restarts were refused still restarts from generation $g, output as uninterrupted" \
				"$T/bad.ref" "$S"
	elif restart bad --store "$S" --job bad --generation $((g - 1)) && finished bad 60; then
		same_tree "corrupt generation $g: --generation $((g - 1)) restarts, output as uninterrupted" "$T/bad.ref" "$S"
	else
		fail "corrupt generation $g: --generation $((g - 1)) did not restart the job"
	fi
else
	fail "corrupt joint file: could not make two checkpoints: $STATUS"
fi

# ---- the server killed during a checkpoint (--mount to an external server) ---------------
cat >"$T/kx.py" <<'EOF'
import os, sys, time
out, wd, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
blob = os.urandom(mb << 20)  # memory that does not compress: a checkpoint takes a while
for k in (1, 2, 3):
    with open(out, "a") as f:
        for i in range(200):
            f.write("phase %d line %d\n" % (k, i))
    print("READY%d" % k, flush=True)
    while not os.path.exists(os.path.join(wd, "go%d" % k)):
        time.sleep(0.02)
print("done", len(blob))
EOF
mkdir -p "$T/kx.wd"
touch "$T/kx.wd/go1" "$T/kx.wd/go2" "$T/kx.wd/go3"
$PY "$T/kx.py" "$T/kx.ref" "$T/kx.wd" 1 >/dev/null
rm -f "$T/kx.wd"/go*
need_server X "$T/xroot" --state-dir "$T/xstate"
# wait_out PATTERN: the job's stdout has a line PATTERN (20 s at most).
wait_out() {
	local i
	for ((i = 0; i < 400; i++)); do
		grep -q "$1" "$T/kx.out" && return 0
		sleep 0.05
	done
	return 1
}
kx_run() {
	launch kx --mount "/data=unix:$SOCK_X" -- $PY "$T/kx.py" /data/kx.txt "$T/kx.wd" 150 || return 1
	wait_out READY1 || { echo "    no READY1"; return 1; }
	checkpoint kx || { echo "    first checkpoint: $STATUS"; return 1; }
	touch "$T/kx.wd/go1"
	wait_out READY2 || { echo "    no READY2"; return 1; }
	before=$(stamp "$R/kx.status")
	kill -USR1 "$PID"
	wait_file "$T/xstate/kx/gen-2.ckpt.tmp" 20 || { echo "    generation 2 never started on the server"; return 1; }
	kill -KILL "$PID_X"
	wait "$PID_X" 2>/dev/null
	for ((i = 0; i < 600; i++)); do
		[ "$(stamp "$R/kx.status")" != "$before" ] && break
		sleep 0.05
	done
	STATUS=$(cat "$R/kx.status")
}
if kx_run; then
	if [[ $STATUS == result=failed* ]] && [ "$(field gen "$STATUS")" = 2 ] && kill -0 "$PID" 2>/dev/null &&
		grep -q 'checkpoint failed' "$T/kx.err"; then
		pass "server killed during a checkpoint: reported failed (status and stderr), the program runs on"
	else
		fail "server killed during a checkpoint: status '$STATUS'; $(tail -2 "$T/kx.err")"
	fi
	start_server X "$T/xroot" --state-dir "$T/xstate"
	touch "$T/kx.wd/go2"
	if wait_out READY3 && kill -0 "$PID" 2>/dev/null; then
		pass "server back: the program reconnects and goes on writing"
	else
		fail "server back: the program did not go on: $(tail -3 "$T/kx.err")"
	fi
	if [ -e "$T/xstate/kx/gen-1.ckpt" ] && [ ! -e "$T/xstate/kx/gen-2.ckpt" ] &&
		[ -z "$(ls "$T/xstate/kx" | grep '\.tmp$')" ]; then
		pass "server back: generation 1 is kept, nothing of generation 2"
	else
		fail "server back: its store holds $(ls "$T/xstate/kx" | tr '\n' ' ')"
	fi
	killjob kx
	touch "$T/kx.wd/go3"
	if restart kx --server "unix:$SOCK_X" --job kx && finished kx 60; then
		same_text "the previous generation restores: the remote file as uninterrupted" "$T/kx.ref" "$T/xroot/kx.txt"
		if [ ! -e "$R/kx.pid" ] && [ ! -e "$R/kx.img" ] && alive "$PID_X"; then
			pass "--server: nothing started or stopped, pid file and image gone"
		else
			fail "--server: left: $(ls "$R" | grep '^kx\.'); server alive? $(alive "$PID_X" && echo yes || echo no)"
		fi
	else
		fail "restart of generation 1 from the external server failed"
	fi
else
	fail "server killed during a checkpoint: the scenario did not run"
fi

# ---- the command lines and their errors ---------------------------------------------------
S=$T/err.store
mkdir -p "$S/.ckpt-state/jobA/" "$S/.ckpt-state/jobB"
touch "$S/.ckpt-state/jobA/gen-1.ckpt" "$S/.ckpt-state/jobB/gen-3.ckpt"
cp -a "$S" "$T/err.before"
one_line_error "ckpt-restart: several jobs and no --job" "several jobs.*jobA jobB.*--job" 1 "$RESTART" --store "$S"
one_line_error "ckpt-restart: no such job" "job nojob has no checkpoint in .*jobA jobB" 1 "$RESTART" --store "$S" --job nojob
mkdir -p "$T/empty.store"
one_line_error "ckpt-restart: a store without checkpoints" "no job has checkpoints" 1 "$RESTART" --store "$T/empty.store"
one_line_error "ckpt-restart: no store" "no store" 1 "$RESTART" --store "$T/nostore"
one_line_error "ckpt-restart: unreachable server" "nosuch.sock" 1 "$RESTART" --server "unix:$T/nosuch.sock" --job jobA
one_line_error "ckpt-restart: a bad --generation" "bad --generation 'x1'" 2 "$RESTART" --store "$S" --job jobA --generation x1
one_line_error "ckpt-restart: --store with --server" "not with --server" 2 "$RESTART" --server "unix:$T/x" --store "$S"
one_line_error "ckpt-restart: a bad --job" "bad --job '../x'" 2 "$RESTART" --store "$S" --job ../x
one_line_error "ckpt-restart: a bad --server" "bad --server 'nowhere'" 2 "$RESTART" --server nowhere
one_line_error "ckpt-restart: an unknown option" "unknown argument '--bogus'" 2 "$RESTART" --bogus
same_tree "ckpt-restart errors changed nothing" "$T/err.before" "$S"
# a server already on the job's socket (its ckpt-run was killed, say)
mkdir -p "$T/busy.store/.ckpt-state/busy"
touch "$T/busy.store/.ckpt-state/busy/gen-1.ckpt"
"$SERVER" --root "$T/busy.store" --listen "unix:$R/busy.sock" --ready-file "$T/busy.ready" </dev/null 2>"$T/busy.log" &
BUSY=$!
SERVER_PIDS+=("$BUSY")
wait_file "$T/busy.ready" 10
one_line_error "ckpt-restart: the job's socket is taken by a live server" \
	"ckpt-server for job busy did not start: .*busy.sock: another server is listening there" 1 \
	"$RESTART" --store "$T/busy.store"
kill -TERM "$BUSY"
one_line_error "ckpt-run: a bad --job" "bad --job 'a/b'" 2 "$RUN" --store "$S" --job a/b -- touch "$T/ran"
one_line_error "ckpt-run: a bad --interval" "bad --interval '0'" 2 "$RUN" --store "$S" --interval 0 -- touch "$T/ran"
one_line_error "ckpt-run: --interval with checkpoints off" "CKPT_SIGNAL=off" 2 \
	env CKPT_SIGNAL=off "$RUN" --store "$S" --interval 1 -- touch "$T/ran"
one_line_error "ckpt-run: --state-dir with --mount" "--state-dir is for the embedded server" 2 \
	"$RUN" --mount "/d=unix:$T/x" --state-dir "$T/st" -- touch "$T/ran"
one_line_error "ckpt-run: a job with checkpoints from an earlier run" "jobA has checkpoints .*ckpt-restart" 1 \
	"$RUN" --store "$S" --job jobA -- touch "$T/ran"
long=$T/$(printf 'd%.0s' $(seq 1 100))
one_line_error "ckpt-run: a socket path over 107 bytes" "over the 107 a unix socket allows" 1 \
	env CKPT_RUN_DIR="$long" "$RUN" --store "$S" --job "$(printf 'j%.0s' $(seq 1 20))" -- touch "$T/ran"
mkdir -p "$T/open.run" && chmod 777 "$T/open.run"
one_line_error "ckpt-run: a run directory others can write to" "writable by others" 1 \
	env CKPT_RUN_DIR="$T/open.run" "$RUN" --store "$S" -- touch "$T/ran"
[ ! -e "$T/ran" ] && pass "refused command lines ran nothing" || fail "a refused command line ran the program"
same_tree "ckpt-run errors changed nothing in the store" "$T/err.before" "$S"
out=$("$RESTART" --help 2>&1)
if [ $? = 0 ] && [[ $out == usage:\ ckpt-restart* ]] && [[ $out == *--generation* ]]; then
	pass "ckpt-restart --help: usage, exit 0"
else
	fail "ckpt-restart --help: '$(head -2 <<<"$out")'"
fi
# on a terminal, ckpt-run says the job name it made up
S=$T/tty.store
out=$(script -qec "$RUN --store $S -- true" /dev/null </dev/null 2>&1 | tr -d '\r')
if [[ $out =~ ckpt-run:\ job\ true-[0-9]+ ]]; then
	pass "on a terminal, ckpt-run names the job it made up: '$out'"
else
	fail "ckpt-run on a terminal: '$out'"
fi
# --interval never sends the signal to a program that does not catch it
# (here one run without the shim, which the signal would kill)
(in_clean timeout 30 "$RUN" --store "$S" --interval 0.2 -- env -u LD_PRELOAD sleep 1.2) \
	</dev/null >"$T/nc.out" 2>"$T/nc.err"
rc=$?
if [ "$rc" = 0 ] && grep -q 'does not catch signal USR1 (CKPT_SIGNAL): no checkpoint sent' "$T/nc.err" &&
	[ "$(grep -c 'does not catch' "$T/nc.err")" = 1 ]; then
	pass "--interval: a program that does not catch the signal is not sent it (one warning)"
else
	fail "--interval and a program without the shim: exit $rc, stderr '$(head -3 "$T/nc.err")'"
fi
mode=$(stat -c %a "$R")
[ "$mode" = 700 ] && pass "the run directory is private (700)" || fail "the run directory has mode $mode"

# ---- --keep-image; a job with a non-zero exit keeps its checkpoints ----------------------
S=$T/keep.store
mkdir -p "$S"
if launch keep --store "$S" -- $PY "$T/py.py" /ckpt/r.txt 600 &&
	sleep 0.5 && checkpoint keep && killjob keep && restart keep --store "$S" --keep-image && finished keep 60; then
	if [ -f "$R/keep.img" ] && [ "$(stat -c %a "$R/keep.img")" = 600 ] && "$RESTORE" --verify "$R/keep.img" >/dev/null 2>&1; then
		pass "--keep-image: the image stays in the run directory (mode 600, checksums good)"
	else
		fail "--keep-image: $(ls -l "$R/keep.img" 2>&1)"
	fi
else
	fail "--keep-image: the job did not run through"
fi
S=$T/fail.store
if launch failing --store "$S" -- $PY -c 'import sys, time; time.sleep(1); sys.exit(3)' &&
	sleep 0.3 && checkpoint failing; then
	wait_gone "$WPID" 30
	if [ "$RC" = 3 ] && [ -e "$S/.ckpt-state/failing/gen-1.ckpt" ]; then
		pass "a job that exits 3: status 3, its checkpoints kept for ckpt-restart"
	else
		fail "a job that exits 3: status $RC; $(ls "$S/.ckpt-state/failing" 2>&1)"
	fi
else
	fail "a job that exits 3: no checkpoint: $STATUS"
fi

finish

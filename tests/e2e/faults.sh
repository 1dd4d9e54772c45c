#!/bin/bash
# faults.sh - the fault matrix of two-server jobs (issue 4): a server killed
# before it answers CKPT_PREPARE, after it answered and before CKPT_COMMIT,
# and during a rollback; a full disk at one server; a corrupt or truncated
# joint file at one server; one server cut off by the network during a
# checkpoint and during ordinary I/O; the program killed during a checkpoint;
# a server restarted while the program does I/O.
#
# The workload (fp.py) writes, in phases, to files on two servers (/a and
# /b): appends, an in-place overwrite, a file made and one removed per phase,
# optionally a big file rewritten in place (a big undo journal). After each
# phase it says READYk and waits for the file go<k>, so the suite knows when
# the files are still. Before each checkpoint the suite copies both servers'
# trees; a checkpoint that succeeds makes that copy "generation G". Every
# cell ends with a restart: `ckpt rollback` (both servers' trees must then
# equal ONE generation's copies exactly) and `ckpt-restore`, or
# `ckpt-restart`; the restored program runs to its end and both trees must
# then be what an uninterrupted run leaves.
#
# FAULTS_ONLY="1a 4 ..." runs only those cells; FAULTS_DEBUG=1 describes a
# restore that hangs (threads, sockets, gdb backtrace).
source "$(dirname "$0")/lib.sh"

CKPT=$BIN/ckpt
RESTORE=$BIN/ckpt-restore
RESTART=$BIN/ckpt-restart
RUN=$T/run
mkdir -p "$RUN" "$T/wd"
export CKPT_RUN_DIR=$RUN
NS=ckf$$
VH=ckfh$$
VN=ckfn$$
MOUNTS_MADE=()
NS_MADE=

# Everything this suite set up goes, even on failure: servers first (they
# hold files on the tmpfs), then the tmpfs mounts and the namespace.
fault_cleanup() {
	local p m
	for p in "${BG_PIDS[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	for p in "${SERVER_PIDS[@]}"; do alive "$p" && kill -CONT "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null; done
	for p in "${SERVER_PIDS[@]}"; do wait_gone "$p" 10 || true; done
	for m in "${MOUNTS_MADE[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	if [ -n "$NS_MADE" ]; then
		ip link del "$VH" 2>/dev/null
		ip netns del "$NS" 2>/dev/null
	fi
	cleanup_all
}
trap fault_cleanup EXIT

cat >"$T/fp.py" <<'EOF'
import os, sys, time
a, b, wd = sys.argv[1], sys.argv[2], sys.argv[3]
phases = int(os.environ.get("FP_PHASES", "4"))
blob_mb = int(os.environ.get("FP_BLOB_MB", "0"))
big_mb = int(os.environ.get("FP_BIG_MB", "0"))
slow = int(os.environ.get("FP_SLOW", "0"))
blob = b""

def phase(k):
    global blob
    if k == 2 and blob_mb:
        blob = os.urandom(blob_mb << 20)  # memory that does not compress
    n = 100
    with open(os.path.join(a, "log.txt"), "a") as fa, open(os.path.join(b, "log.txt"), "a") as fb:
        for i in range(n):
            fa.write("phase %d line %d a\n" % (k, i))
            fb.write("phase %d line %d b %s\n" % (k, i, "x" * (i % 50)))
            if k == slow:
                fa.flush()
                fb.flush()
                time.sleep(0.03)
    p = os.path.join(a, "data.bin")
    if k == 1:
        with open(p, "wb") as f:
            f.write(bytes(range(256)) * 1024)
    else:
        with open(p, "r+b") as f:
            f.seek((k * 37 % 60) * 4096 + 100)
            f.write(b"%d" % k * 5000)
    with open(os.path.join(b, "made%d.txt" % k), "w") as f:
        f.write("made in phase %d\n" % k)
    if k > 1:
        os.unlink(os.path.join(b, "made%d.txt" % (k - 1)))
    if big_mb and k <= 2:
        with open(os.path.join(b, "big.bin"), "wb" if k == 1 else "r+b") as f:
            for m in range(big_mb):
                f.write(bytes([k, m & 255]) * (1 << 19))

for k in range(1, phases + 1):
    t0 = time.time()
    try:
        phase(k)
    except OSError as e:
        print("IOERR phase %d errno %d after %.2f s" % (k, e.errno, time.time() - t0), flush=True)
    print("READY%d" % k, flush=True)
    while not os.path.exists(os.path.join(wd, "go%d" % k)):
        time.sleep(0.02)
print("done", len(blob))
EOF

# reference NAME [VAR=VALUE]...: an uninterrupted run with local directories
# $T/NAME.ref/{a,b}.
reference() {
	local name=$1
	shift
	mkdir -p "$T/$name.ref/a" "$T/$name.ref/b" "$T/$name.refwd"
	touch "$T/$name.refwd"/go{1,2,3,4,5,6}
	env "$@" "$PY" "$T/fp.py" "$T/$name.ref/a" "$T/$name.ref/b" "$T/$name.refwd" >"$T/$name.ref.out"
}

# launch JOB MOUNTS [VAR=VALUE]...: the workload under the shim in the
# background (stdout $T/JOB.out); sets PID.
launch() {
	local job=$1 m=$2
	shift 2
	rm -rf "$T/$job.wd" "$RUN/$job.status"
	mkdir -p "$T/$job.wd"
	(cd "$T/wd" && in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$m" CKPT_JOB="$job" "$@" \
		"$PY" "$T/fp.py" /a /b "$T/$job.wd") </dev/null >"$T/$job.out" 2>"$T/$job.err" &
	PID=$!
	BG_PIDS+=("$PID")
}

# ready JOB K: the workload said READYk (30 s at most).
ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qx "READY$2" "$T/$1.out" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "    job $1: no READY$2; stderr: $(tail -3 "$T/$1.err")"
	return 1
}
go() { touch "$T/$1.wd/go$2"; }

# signal_ckpt JOB: the checkpoint signal, the status file removed first.
signal_ckpt() {
	rm -f "$RUN/$1.status"
	kill -USR1 "$PID"
}
# status JOB SECONDS: waits for the status file; STATUS := its line.
status() {
	local i
	STATUS="(no status after $2 s)"
	for ((i = 0; i < $2 * 20; i++)); do
		if [ -s "$RUN/$1.status" ]; then
			STATUS=$(cat "$RUN/$1.status")
			return 0
		fi
		sleep 0.05
	done
	return 1
}
field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# snap JOB TAG: copies of both servers' trees ($T/JOB.TAG.A, .B).
snap() {
	rm -rf "$T/$1.$2.A" "$T/$1.$2.B"
	cp -a "$ROOTA" "$T/$1.$2.A"
	cp -a "$ROOTB" "$T/$1.$2.B"
}
# keep_snap JOB TAG GEN: the copy TAG is generation GEN.
keep_snap() {
	rm -rf "$T/$1.g$3.A" "$T/$1.g$3.B"
	mv "$T/$1.$2.A" "$T/$1.g$3.A"
	mv "$T/$1.$2.B" "$T/$1.g$3.B"
}

# checkpoint JOB: snapshot, signal, wait; true if result=ok (the snapshot
# is then generation G).
checkpoint() {
	snap "$1" pre
	signal_ckpt "$1"
	status "$1" 60 || return 1
	[[ $STATUS == result=ok* ]] || return 1
	keep_snap "$1" pre "$(field gen "$STATUS")"
}

# killprog: SIGKILL to the workload; LEFT := its child processes (the
# shim's helpers) still alive 0.2 s later, which are then killed too.
killprog() {
	local kids k
	kids=$(pgrep -P "$PID" 2>/dev/null)
	kill -KILL "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	LEFT=
	[ -n "$kids" ] || return 0
	sleep 0.2
	for k in $kids; do
		# a zombie waiting for whoever adopted it is gone as far as we care
		if kill -0 "$k" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$k/status" 2>/dev/null; then
			LEFT+="$k($(sed -n 's/^State:[[:space:]]*//p' "/proc/$k/status" 2>/dev/null)) "
		fi
		kill -KILL "$k" 2>/dev/null
	done
}

# start_ab JOB: servers A and B (state dirs outside their roots) for JOB,
# unless the cell started them itself; sets ROOTA, ROOTB, SA, SB (addresses).
start_ab() {
	ROOTA=$T/$1.rootA ROOTB=$T/$1.rootB
	need_server A "$ROOTA" --state-dir "$T/$1.stateA" "${@:2}"
	need_server B "$ROOTB" --state-dir "$T/$1.stateB"
	SA=unix:$SOCK_A SB=unix:$SOCK_B
}
stop_ab() {
	stop_server A >/dev/null
	stop_server B >/dev/null
}

# same_gen CELL JOB GEN: both servers' trees are the copies of generation GEN.
same_gen() {
	same_tree "$1: server A's files are generation $3's exactly" "$T/$2.g$3.A" "$ROOTA"
	same_tree "$1: server B's files are generation $3's exactly" "$T/$2.g$3.B" "$ROOTB"
}

# rollback CELL JOB SERVER...: ckpt rollback of JOB on those servers into
# $T/JOB.img; RB := its stderr. True if it succeeded.
rollback() {
	local cell=$1 job=$2 a=() s
	shift 2
	for s in "$@"; do a+=(--server "$s"); done
	rm -f "$T/$job.img"
	timeout -k 5 60 "$CKPT" rollback --job "$job" "${a[@]}" --output "$T/$job.img" \
		>"$T/$job.rb.out" 2>"$T/$job.rb.err"
	local rc=$?
	RB=$(cat "$T/$job.rb.err")
	[ "$rc" = 0 ] && return 0
	echo "    $cell: ckpt rollback exited $rc: $RB"
	return 1
}

# restore_finish CELL JOB: ckpt-restore of $T/JOB.img with every go file
# there; the program must finish (exit 0, "done") and both trees must be
# the uninterrupted run's.
restore_finish() {
	local cell=$1 job=$2 ref=$3 p
	touch "$T/$job.wd"/go{1,2,3,4,5,6}
	(cd "$T/wd" && in_clean "$RESTORE" "$T/$job.img") </dev/null >"$T/$job.rout" 2>"$T/$job.rerr" &
	p=$!
	BG_PIDS+=("$p")
	for ((i = 0; i < 300; i++)); do alive "$p" || break; sleep 0.05; done
	if alive "$p" && [ -n "${FAULTS_DEBUG:-}" ]; then
		echo "    hung restore $p: $(ls /proc/$p/task | wc -l) thread(s), $(cat /proc/$p/comm) wchan $(cat /proc/$p/wchan) $(cat /proc/$p/stat | cut -d' ' -f3)"
		ss -tanp | grep -E '10\.200|'"$p" | sed 's/^/    /'
		command -v gdb >/dev/null && timeout 20 gdb -p "$p" -batch -ex "info threads" -ex bt 2>&1 | grep -E "^#|Thread" | head -20 | sed "s/^/    /"
	fi
	wait_gone "$p" 1
	if [ "$RC" = 0 ] && grep -q '^done' "$T/$job.rout"; then
		pass "$cell: the restored program runs to its end"
	else
		fail "$cell: ckpt-restore exited $RC: $(tail -3 "$T/$job.rerr")"
		echo "    its stdout: $(tail -2 "$T/$job.rout" | tr '\n' ' ')"
		tail -n 4 "$T/A.log" "$T/B.log" | sed 's/^/    /'
	fi
	same_tree "$cell: after the restart, server A's files are the uninterrupted run's" "$T/$ref.ref/a" "$ROOTA"
	same_tree "$cell: after the restart, server B's files are the uninterrupted run's" "$T/$ref.ref/b" "$ROOTB"
}

# gens STATE JOB: the joint files of JOB in STATE, on one line.
gens() {
	local f out=
	for f in "$1/$2"/gen-*; do [ -e "$f" ] && out+="${f##*/} "; done
	printf %s "$out"
}

# committed STATE JOB: the generation in the job's committed file.
committed() { printf '%d' "0x$(od -An -tx1 -j8 -N8 "$1/$2/committed" 2>/dev/null | tr -d ' \n')"; }

t_start=$(now)
reference plain
reference big FP_BIG_MB=128

###############################################################################
# 1a. a server SIGKILLed before it answers CKPT_PREPARE: stopped (SIGSTOP)
# as soon as the image (128 MiB of random memory) starts to arrive, then
# killed while the shim waits for it. Then: ckpt-restart refused naming the
# dead server; --without (ckpt rollback, ckpt-restart) goes on with the
# other one only; the server back; both back to generation 1.
c1a() {
	cell="1a server killed before answering PREPARE"
	start_ab k1
	launch k1 "/a=$SA,/b=$SB" FP_BLOB_MB=128 CKPT_RECONNECT_TIMEOUT=1 CKPT_IO_TIMEOUT=3
	if ready k1 1 && checkpoint k1 && go k1 1 && ready k1 2; then
		snap k1 pre
		t0=$(now)
		signal_ckpt k1
		# B is stopped as soon as the image starts to come in (its
		# gen-2.ckpt.tmp exists), and killed well within CKPT_IO_TIMEOUT
		# (3 s), so the failure is the kill's, not a timeout's
		for ((i = 0; i < 2000; i++)); do
			[ -e "$T/k1.stateB/k1/gen-2.ckpt.tmp" ] && break
			sleep 0.005
		done
		kill -STOP "$PID_B"
		sleep 0.3
		kill -KILL "$PID_B"
		kill -CONT "$PID_B" 2>/dev/null
		wait "$PID_B" 2>/dev/null
		status k1 30
		dt=$(elapsed "$t0")
		echo "    (status after $dt s: $STATUS)"
		if [[ $STATUS == result=failed* ]] && [ "$(field gen "$STATUS")" = 2 ] && [[ $STATUS == *"$SOCK_B"* ]] &&
			le "$dt" 2.5 && [[ $STATUS == *image* ]] && ! grep -q 'job k1: generation 2 written' "$T/B.log" &&
			[ "$(gens "$T/k1.stateA" k1)" = "gen-1.ckpt " ] && kill -0 "$PID" 2>/dev/null; then
			pass "$cell: the checkpoint fails naming B; A aborted generation 2; the program runs on"
		else
			fail "$cell: status '$STATUS'; store A: $(gens "$T/k1.stateA" k1); program alive: $(kill -0 "$PID" 2>/dev/null && echo yes || echo no)"
		fi
		killprog
		# restart with B still down: refused, naming B, nothing changed on A
		cp -a "$ROOTA" "$T/k1.beforeA"
		(in_clean timeout -k 5 60 "$RESTART" --server "$SA" --server "$SB" --job k1) </dev/null >"$T/k1.rs.out" 2>"$T/k1.rs.err"
		rc=$?
		if [ "$rc" = 1 ] && [ "$(wc -l <"$T/k1.rs.err")" = 1 ] && grep -q "$SOCK_B" "$T/k1.rs.err"; then
			pass "$cell: ckpt-restart with B down is refused in one line naming B: $(cat "$T/k1.rs.err")"
		else
			fail "$cell: ckpt-restart with B down: exit $rc, '$(head -3 "$T/k1.rs.err")'"
		fi
		same_tree "$cell: the refused restart changed nothing on A" "$T/k1.beforeA" "$ROOTA"
		# the operator gives B up: ckpt rollback --without B takes A alone
		# back to the newest generation it holds, saying that B's files
		# are not rolled back
		if timeout -k 5 60 "$CKPT" rollback --job k1 --server "$SA" --without "$SB" --output "$T/k1.img" \
			>/dev/null 2>"$T/k1.wo.err" && grep -q "generation 1" "$T/k1.wo.err" &&
			grep -q "$SOCK_B.*not rolled back" "$T/k1.wo.err"; then
			pass "$cell: ckpt rollback --without B rolls A back and says B's files are not rolled back"
		else
			fail "$cell: ckpt rollback --without B: $(head -3 "$T/k1.wo.err")"
		fi
		same_tree "$cell: --without B: server A's files are generation 1's" "$T/k1.g1.A" "$ROOTA"
		# ckpt-restart --without B: the program runs on A alone (its
		# calls on /b fail), to its end
		touch "$T/k1.wd"/go{1,2,3,4}
		(in_clean timeout -k 5 20 "$RESTART" --server "$SA" --without "$SB" --job k1) </dev/null \
			>"$T/k1.wo2.out" 2>"$T/k1.wo2.err"
		rc=$?
		if [ "$rc" = 0 ] && grep -q '^done' "$T/k1.wo2.out" && grep -q "$SOCK_B.*not rolled back" "$T/k1.wo2.err"; then
			pass "$cell: ckpt-restart --without B restarts the program on A alone and says B is not rolled back"
		else
			fail "$cell: ckpt-restart --without B: exit $rc: $(grep -v '^ckptshim' "$T/k1.wo2.err" | head -3)"
		fi
		# B back: both to generation 1, then the program to its end
		start_server B "$ROOTB" --state-dir "$T/k1.stateB"
		# (its leftover gen-2.ckpt.tmp goes when the job is first used)
		lst=$("$CKPT" list --server "$SB" 2>&1 | awk '$1 == "k1" { print $2 }' | tr '\n' ' ')
		if [ "$lst" = "1 " ] && ! compgen -G "$T/k1.stateB/k1/gen-2*" >/dev/null; then
			pass "$cell: B restarted lists generation 1 only and keeps nothing of generation 2"
		else
			fail "$cell: B restarted lists generations '$lst'; its store: $(gens "$T/k1.stateB" k1)"
		fi
		if rollback "$cell" k1 "$SA" "$SB"; then
			same_gen "$cell" k1 1
			restore_finish "$cell" k1 plain
		else
			fail "$cell: the rollback of both servers failed"
		fi
	else
		fail "$cell: the scenario did not run: $STATUS"
	fi
	killprog
	stop_ab
}

###############################################################################
# 1b. a server SIGKILLed after it answered CKPT_DONE, before CKPT_COMMIT:
# A's tree and store on a tmpfs (its DONE is quick), B has 128 MiB of dirty
# data to sync (its DONE is slow); A is killed as soon as its log says the
# generation is written. A's store must then hold generation 2 uncommitted
# (the cell was hit), and the restart uses the newest generation both hold.
c1b() {
	cell="1b server killed after answering, before COMMIT"
	mkdir -p "$T/k2.fastA"
	if mount -t tmpfs -o size=64m tmpfs "$T/k2.fastA"; then
		MOUNTS_MADE+=("$T/k2.fastA")
		ROOTA=$T/k2.fastA/root ROOTB=$T/k2.rootB
		need_server A "$ROOTA" --state-dir "$T/k2.fastA/state"
		need_server B "$ROOTB" --state-dir "$T/k2.stateB"
		SA=unix:$SOCK_A SB=unix:$SOCK_B
		launch k2 "/a=$SA,/b=$SB" FP_BIG_MB=128
		if ready k2 1 && checkpoint k2 && go k2 1 && ready k2 2; then
			snap k2 pre
			n0=$(grep -c 'job k2: generation 2 written' "$T/A.log")
			signal_ckpt k2
			for ((i = 0; i < 2000; i++)); do
				[ "$(grep -c 'job k2: generation 2 written' "$T/A.log")" != "$n0" ] && break
				sleep 0.01
			done
			kill -KILL "$PID_A"
			wait "$PID_A" 2>/dev/null
			status k2 40
			if [ -e "$T/k2.fastA/state/k2/gen-2.ckpt" ] && [ "$(committed "$T/k2.fastA/state" k2)" = 1 ]; then
				pass "$cell: A was killed having written generation 2, before its commit (hit)"
			else
				fail "$cell: the cell was not hit: A holds $(gens "$T/k2.fastA/state" k2), committed $(committed "$T/k2.fastA/state" k2); status '$STATUS'"
			fi
			if [[ $STATUS == result=ok* ]]; then
				keep_snap k2 pre 2
				want=2
			else
				want=1
			fi
			echo "    (status after the kill: $STATUS)"
			killprog
			start_server A "$ROOTA" --state-dir "$T/k2.fastA/state"
			if rollback "$cell" k2 "$SA" "$SB"; then
				if grep -q "generation $want" <<<"$RB"; then
					pass "$cell: the restart picks generation $want ($RB)"
				else
					fail "$cell: expected generation $want: $RB"
				fi
				same_gen "$cell" k2 "$want"
				restore_finish "$cell" k2 big
			else
				fail "$cell: the rollback failed"
			fi
		else
			fail "$cell: the scenario did not run: $STATUS"
		fi
		killprog
		stop_ab
	else
		fail "$cell: cannot mount a tmpfs"
	fi
}

###############################################################################
# 1c. a server SIGKILLed during a rollback with a big undo journal (128 MiB
# rewritten in place); started again, it finishes the rollback; the restart
# then brings both to generation 1.
c1c() {
	cell="1c server killed during a rollback"
	start_ab k3
	launch k3 "/a=$SA,/b=$SB" FP_BIG_MB=128
	if ready k3 1 && checkpoint k3 && go k3 1 && ready k3 2 && go k3 2 && ready k3 3; then
		killprog
		"$CKPT" rollback --job k3 --server "$SA" --server "$SB" --output "$T/k3.img" >/dev/null 2>"$T/k3.rb1.err" &
		rbp=$!
		BG_PIDS+=("$rbp")
		for ((i = 0; i < 1000; i++)); do
			[ -e "$T/k3.stateB/k3/rollback" ] && break
			alive "$rbp" || break
			sleep 0.005
		done
		if [ -e "$T/k3.stateB/k3/rollback" ]; then
			kill -KILL "$PID_B"
			wait "$PID_B" 2>/dev/null
			wait_gone "$rbp" 30
			if [ "$RC" != 0 ] && grep -q "$SOCK_B" "$T/k3.rb1.err"; then
				pass "$cell: B killed with its rollback marker present; ckpt rollback fails naming B"
			else
				fail "$cell: ckpt rollback exited $RC: $(cat "$T/k3.rb1.err")"
			fi
			start_server B "$ROOTB" --state-dir "$T/k3.stateB"
			if [ ! -e "$T/k3.stateB/k3/rollback" ]; then
				pass "$cell: B restarted finished the interrupted rollback (marker gone)"
			else
				fail "$cell: B restarted left the rollback marker; log: $(tail -3 "$T/B.log")"
			fi
			if rollback "$cell" k3 "$SA" "$SB"; then
				same_gen "$cell" k3 1
				restore_finish "$cell" k3 big
			else
				fail "$cell: the rollback after B's restart failed"
			fi
		else
			wait_gone "$rbp" 30
			fail "$cell: never saw B's rollback marker (rollback exit $RC: $(cat "$T/k3.rb1.err"))"
		fi
	else
		fail "$cell: the scenario did not run: $STATUS"
	fi
	killprog
	stop_ab
}

###############################################################################
# 2. a full disk at B: its root and state dir on one 40 MiB tmpfs, which
# holds generation 1 but not generation 2 (64 MiB of random memory more).
# (The state dir must be on the root's file system: files unlinked after a
# checkpoint are kept aside there.)
c2() {
	cell="2 full disk at one server"
	mkdir -p "$T/fd.fs"
	if mount -t tmpfs -o size=40m tmpfs "$T/fd.fs"; then
		MOUNTS_MADE+=("$T/fd.fs")
		ROOTA=$T/fd.rootA ROOTB=$T/fd.fs/root
		need_server A "$ROOTA" --state-dir "$T/fd.stateA"
		need_server B "$ROOTB" --state-dir "$T/fd.fs/state"
		SA=unix:$SOCK_A SB=unix:$SOCK_B
		launch fd "/a=$SA,/b=$SB" FP_BLOB_MB=64
		if ready fd 1 && checkpoint fd && go fd 1 && ready fd 2; then
			snap fd pre
			signal_ckpt fd
			status fd 60
			if [[ $STATUS == result=failed* ]] && [[ $STATUS == *"$SOCK_B"* ]] &&
				[[ $STATUS == *"space"* ]] && [ "$(field gen "$STATUS")" = 2 ]; then
				pass "$cell: the checkpoint fails naming B and ENOSPC: $(field error "$STATUS")"
			else
				fail "$cell: status '$STATUS'"
			fi
			if [ "$(gens "$T/fd.stateA" fd)" = "gen-1.ckpt " ] && [ "$(gens "$T/fd.fs/state" fd)" = "gen-1.ckpt " ]; then
				pass "$cell: generation 2 aborted at A and discarded at B; generation 1 stays on both"
			else
				fail "$cell: stores: A $(gens "$T/fd.stateA" fd) B $(gens "$T/fd.fs/state" fd)"
			fi
			go fd 2
			if ready fd 3 && ! grep -q IOERR "$T/fd.out"; then
				pass "$cell: the program runs on"
			else
				fail "$cell: the program after the failed checkpoint: $(tail -2 "$T/fd.out")"; tail -n 5 "$T/fd.err" "$T/B.log" | sed "s/^/    /"
			fi
			killprog
			if rollback "$cell" fd "$SA" "$SB"; then
				same_gen "$cell" fd 1
				restore_finish "$cell" fd plain
			else
				fail "$cell: the rollback failed"
			fi
		else
			fail "$cell: the scenario did not run: $STATUS"
		fi
		killprog
		stop_ab
	else
		fail "$cell: cannot mount a tmpfs"
	fi
}

###############################################################################
# 3. a joint checkpoint file corrupted, or truncated, at one server (B, the
# second one asked): ckpt-restart refuses with one clear line; then
# --generation 1 restarts on both.
c3() {
	cell="3 corrupt joint file at one server"
	start_ab cj
	launch cj "/a=$SA,/b=$SB"
	if ready cj 1 && checkpoint cj && go cj 1 && ready cj 2 && checkpoint cj && go cj 2 && ready cj 3; then
		killprog
		F=$T/cj.stateB/cj/gen-2.ckpt
		cp -p "$F" "$T/cj.good"
		size=$(stat -c %s "$F")
		snap cj before
		off=$((size / 2))
		b=$(od -An -tu1 -j "$off" -N1 "$F" | tr -d ' ')
		printf "\\$(printf %03o $(((b + 1) % 256)))" | dd of="$F" bs=1 seek="$off" conv=notrunc status=none
		for how in corrupt truncated; do
			if [ "$how" = truncated ]; then
				cp -p "$T/cj.good" "$F"
				truncate -s $((size - 100)) "$F"
			fi
			(in_clean timeout -k 5 60 "$RESTART" --server "$SA" --server "$SB" --job cj) </dev/null \
				>"$T/cj.rs.out" 2>"$T/cj.rs.err"
			rc=$?
			if [ "$rc" = 1 ] && [ "$(wc -l <"$T/cj.rs.err")" = 1 ] && grep -q "$SOCK_B" "$T/cj.rs.err" &&
				grep -q -- "--generation 1" "$T/cj.rs.err"; then
				pass "$cell: $how: ckpt-restart refuses in one line naming B and --generation 1"
			else
				fail "$cell: $how: exit $rc, '$(head -3 "$T/cj.rs.err")'"
			fi
			same_tree "$cell: $how: the refused restart changed nothing on A" "$T/cj.before.A" "$ROOTA"
			same_tree "$cell: $how: the refused restart changed nothing on B" "$T/cj.before.B" "$ROOTB"
		done
		# --generation 1: both back to generation 1, checked before the program goes on
		timeout -k 5 60 "$CKPT" rollback --job cj --server "$SA" --server "$SB" --generation 1 \
			--output "$T/cj.img" >/dev/null 2>"$T/cj.rb.err"
		if [ $? = 0 ]; then
			same_gen "$cell" cj 1
		else
			fail "$cell: ckpt rollback --generation 1: $(cat "$T/cj.rb.err")"
		fi
		# and ckpt-restart --generation 1 (repeating the rollback is harmless)
		touch "$T/cj.wd"/go{1,2,3,4}
		(in_clean timeout -k 5 90 "$RESTART" --server "$SA" --server "$SB" --job cj --generation 1) </dev/null \
			>"$T/cj.rs2.out" 2>"$T/cj.rs2.err"
		rc=$?
		if [ "$rc" = 0 ] && grep -q '^done' "$T/cj.rs2.out"; then
			pass "$cell: ckpt-restart --generation 1 restarts the program, which runs to its end"
		else
			fail "$cell: ckpt-restart --generation 1: exit $rc: $(tail -3 "$T/cj.rs2.err")"
		fi
		same_tree "$cell: after the restart, server A's files are the uninterrupted run's" "$T/plain.ref/a" "$ROOTA"
		same_tree "$cell: after the restart, server B's files are the uninterrupted run's" "$T/plain.ref/b" "$ROOTB"
	else
		fail "$cell: the scenario did not run: $STATUS"
	fi
	killprog
	stop_ab
}

###############################################################################
# 4. B in a network namespace, reached by tcp:10.200.0.2; the link cut
# (ip link set down) during a checkpoint, then during ordinary I/O.
c4() {
	cell="4 server cut off by the network"
	ns_up() {
		ip netns add "$NS" || return 1
		NS_MADE=1
		ip link add "$VH" type veth peer name "$VN" &&
			ip link set "$VN" netns "$NS" &&
			ip addr add 10.200.0.1/24 dev "$VH" &&
			ip link set "$VH" up &&
			ip -n "$NS" addr add 10.200.0.2/24 dev "$VN" &&
			ip -n "$NS" link set "$VN" up &&
			ip -n "$NS" link set lo up
	}
	if ns_up; then
		ROOTA=$T/net.rootA ROOTB=$T/net.rootB
		need_server A "$ROOTA" --state-dir "$T/net.stateA"
		saved=("${SERVER_CMD[@]}")
		SERVER_CMD=(ip netns exec "$NS" "${SERVER_CMD[@]}")
		# a listener other hosts can reach needs a key: the job, the tool
		# and the restart prove it to B (A, unix and ours, has none)
		rm -f "$T/net.key"
		"$BIN/ckpt" keygen "$T/net.key"
		export CKPT_KEY_FILE=$T/net.key
		need_server B "$ROOTB" --state-dir "$T/net.stateB" --listen tcp:10.200.0.2:0 --key "$T/net.key"
		SERVER_CMD=("${saved[@]}")
		SA=unix:$SOCK_A
		SB=$(grep -m1 '^tcp:10\.200\.0\.2:' "$T/B.ready")
		# ckpt rollback in the namespace cannot use B's unix socket name as
		# the program's; it is given B's tcp address as the program had it
		launch net "/a=$SA,/b=$SB" CKPT_IO_TIMEOUT=2
		if [ -n "$SB" ] && ready net 1 && checkpoint net && go net 1 && ready net 2; then
			snap net pre
			ip link set "$VH" down
			t0=$(now)
			signal_ckpt net
			status net 30
			dt=$(elapsed "$t0")
			if [[ $STATUS == result=failed* ]] && [[ $STATUS == *10.200.0.2* ]] && le "$dt" 6; then
				pass "$cell: during a checkpoint: it fails naming B within $dt s (CKPT_IO_TIMEOUT=2)"
			else
				fail "$cell: during a checkpoint: after $dt s, status '$STATUS'"
			fi
			if [ "$(gens "$T/net.stateA" net)" = "gen-1.ckpt " ]; then
				pass "$cell: A aborted generation 2; generation 1 stays"
			else
				fail "$cell: A's store: $(gens "$T/net.stateA" net)"
			fi
			ip link set "$VH" up
			go net 2
			if ready net 3 && ! grep -q IOERR "$T/net.out" && checkpoint net; then
				pass "$cell: link back: the program reconnects, writes on and checkpoints (generation $(field gen "$STATUS"))"
				good=$(field gen "$STATUS")
			else
				fail "$cell: link back: $(tail -2 "$T/net.out"); status '$STATUS'"
				good=1
			fi
			# ordinary I/O with the link cut: EIO within the bound
			ip link set "$VH" down
			go net 3
			if ready net 4 && grep -q '^IOERR phase 4' "$T/net.out"; then
				line=$(grep '^IOERR phase 4' "$T/net.out")
				e=$(awk '{print $5}' <<<"$line")
				s=$(awk '{print $7}' <<<"$line")
				if [ "$e" = 5 ] && le "$s" 6; then
					pass "$cell: during I/O: EIO after $s s (CKPT_IO_TIMEOUT=2)"
				else
					fail "$cell: during I/O: '$line' (want errno 5 within 6 s)"
				fi
			else
				fail "$cell: during I/O: no error seen: $(tail -2 "$T/net.out")"
			fi
			ip link set "$VH" up
			killprog
			# the restart from the last good generation on both
			if rollback "$cell" net "$SA" "$SB"; then
				grep -q "generation $good" <<<"$RB" && pass "$cell: the restart picks generation $good" ||
					fail "$cell: expected generation $good: $RB"
				same_gen "$cell" net "$good"
				restore_finish "$cell" net plain
			else
				fail "$cell: the rollback failed"
			fi
		else
			fail "$cell: the scenario did not run: B at '$SB', $STATUS"
		fi
		killprog
		stop_ab
		unset CKPT_KEY_FILE
	else
		fail "$cell: cannot set up the network namespace"
	fi
}

###############################################################################
# 5. the program SIGKILLed during a checkpoint (256 MiB of random memory
# streaming): generation 1 stays the last good one, nothing of 2 is kept.
c5() {
	cell="5 program killed during a checkpoint"
	start_ab pk
	launch pk "/a=$SA,/b=$SB" FP_BLOB_MB=256
	if ready pk 1 && checkpoint pk && go pk 1 && ready pk 2; then
		signal_ckpt pk
		hit=
		for ((i = 0; i < 400; i++)); do
			sz=$(stat -c %s "$T/pk.stateB/pk/gen-2.ckpt.tmp" 2>/dev/null || echo 0)
			[ "$sz" -gt $((16 << 20)) ] && { hit=$sz; break; }
			sleep 0.01
		done
		killprog
		if [ -z "$LEFT" ]; then
			pass "$cell: nothing of the program outlives it"
		else
			fail "$cell: process(es) $LEFT (the shim's helper, sharing its memory and sockets) outlived the program's SIGKILL; killed now"
		fi
		if [ -n "$hit" ] && [ ! -s "$RUN/pk.status" ]; then
			pass "$cell: killed mid-stream ($((hit >> 20)) MiB of the image at B, no outcome yet)"
		else
			fail "$cell: not killed mid-stream (B had '$hit' bytes; status '$(cat "$RUN/pk.status" 2>/dev/null)')"
		fi
		for ((i = 0; i < 100; i++)); do # 5 s at most
			[ "$(gens "$T/pk.stateA" pk)$(gens "$T/pk.stateB" pk)" = "gen-1.ckpt gen-1.ckpt " ] && break
			sleep 0.05
		done
		if [ "$(gens "$T/pk.stateA" pk)" = "gen-1.ckpt " ] && [ "$(gens "$T/pk.stateB" pk)" = "gen-1.ckpt " ]; then
			pass "$cell: both servers discarded the half-sent image when its session ended; generation 1 stays"
		else
			fail "$cell: stores: A $(gens "$T/pk.stateA" pk) B $(gens "$T/pk.stateB" pk)"
		fi
		if rollback "$cell" pk "$SA" "$SB"; then
			same_gen "$cell" pk 1
			restore_finish "$cell" pk plain
		else
			fail "$cell: the rollback failed"
		fi
	else
		fail "$cell: the scenario did not run: $STATUS"
	fi
	killprog
	stop_ab
}

###############################################################################
# 6. a server restarted while the program writes (a line every 30 ms on
# both servers): with CKPT_RECONNECT_TIMEOUT the program carries on, no
# EIO, its output complete; then a checkpoint, a kill, a restart.
c6() {
	for how in TERM KILL; do
		cell="6 server restarted (SIG$how) during I/O"
		job=rs$how
		start_ab "$job"
		launch "$job" "/a=$SA,/b=$SB" FP_SLOW=2 CKPT_RECONNECT_TIMEOUT=10
		if ready "$job" 1 && checkpoint "$job" && go "$job" 1; then
			sleep 1
			kill -"$how" "$PID_B"
			wait "$PID_B" 2>/dev/null
			sleep 0.5
			start_server B "$ROOTB" --state-dir "$T/$job.stateB"
			if ready "$job" 2 && ! grep -q IOERR "$T/$job.out" && kill -0 "$PID" 2>/dev/null &&
				[ "$(grep -c "HELLO.*job '$job', client 'libckptshim" "$T/B.log")" -ge 2 ]; then
				pass "$cell: the program reconnects and carries on without an error"
			else
				fail "$cell: the program saw: $(grep IOERR "$T/$job.out"; tail -2 "$T/$job.err")"
			fi
			# its output so far is complete: the uninterrupted run's first two phases
			head -n 200 "$T/plain.ref/a/log.txt" >"$T/$job.exp.a"
			head -n 200 "$T/plain.ref/b/log.txt" >"$T/$job.exp.b"
			same_text "$cell: server A's log after phase 2 is complete, nothing twice" "$T/$job.exp.a" "$ROOTA/log.txt"
			same_text "$cell: server B's log after phase 2 is complete, nothing twice" "$T/$job.exp.b" "$ROOTB/log.txt"
			if checkpoint "$job" && go "$job" 2 && ready "$job" 3; then
				killprog
				if rollback "$cell" "$job" "$SA" "$SB"; then
					same_gen "$cell" "$job" 2
					restore_finish "$cell" "$job" plain
				else
					fail "$cell: the rollback failed"
				fi
			else
				fail "$cell: no checkpoint after the server's restart: $STATUS"
			fi
		else
			fail "$cell: the scenario did not run: $STATUS"
		fi
		killprog
		stop_ab
	done
}

for c in c1a c1b c1c c2 c3 c4 c5 c6; do
	[ -z "${FAULTS_ONLY:-}" ] || [[ " $FAULTS_ONLY " == *" ${c#c} "* ]] || continue
	"$c"
done
echo "    (faults suite: $(elapsed "$t_start") s)"
exit $((FAILS > 0))

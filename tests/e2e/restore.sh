#!/bin/bash
# restore.sh - checkpoint to a local image (CKPT_IMAGE_FILE) and restart with ckpt-restore.
#
# Each tests/progs/ckpt_*.c program builds some state, prints READY, and
# waits; the suite sends the checkpoint signal, waits for the image, kills the
# program with SIGKILL, restarts the image, and expects PASS and the right
# exit status from the restored process. Also: a refused checkpoint (a second
# thread), the image tools (--info, --verify, corrupt and truncated images),
# a restored process checkpointed again, and real programs (python3, bc)
# whose output after checkpoint/kill/restart cycles equals an uninterrupted run.
source "$(dirname "$0")/lib.sh"

RESTORE=$BIN/ckpt-restore
WD=$T/wd
mkdir -p "$WD"

# start NAME [ENV=VAL...] PROG ARGS...: PROG in the background under the shim,
# image $T/NAME.img, stdout $T/NAME.out1, stderr $T/NAME.err1; sets PID.
start() {
	local name=$1
	shift
	rm -f "$T/$name.img" "$T/$name.out1" "$T/$name.err1"
	(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/$name.img" "$@") \
		</dev/null >"$T/$name.out1" 2>"$T/$name.err1" &
	PID=$!
	BG_PIDS+=("$PID")
}

# wait_for FILE PATTERN SECONDS: true once FILE has a line matching PATTERN.
wait_for() {
	local i
	for i in $(seq 1 $(($3 * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# checkpoint NAME: signal PID, wait for the image; false (and why) if none came.
checkpoint() {
	local i
	kill -USR1 "$PID"
	for i in $(seq 1 600); do
		[ -e "$T/$1.img" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "    no image; stderr: $(tail -3 "$T/$1.err1")"
	return 1
}

# restart NAME [ENV=VAL...]: ckpt-restore the image; RC, $T/NAME.out2, .err2.
restart() {
	local name=$1
	shift
	(cd "$WD" && in_clean env "$@" timeout -k 5 "$TIMEOUT" "$RESTORE" "$T/$name.img") \
		</dev/null >"$T/$name.out2" 2>"$T/$name.err2"
	RC=$?
}

# zdtm NAME EXPECTED_RC [ENV=VAL...] PROG ARGS...: the whole cycle, one PASS/FAIL line.
zdtm() {
	local name=$1 want=$2
	shift 2
	start "$name" "$@"
	if ! wait_for "$T/$name.out1" '^READY' 10; then
		fail "$name: the program never got ready: $(head -3 "$T/$name.out1" "$T/$name.err1")"
		kill -KILL "$PID" 2>/dev/null
		return 1
	fi
	if ! checkpoint "$name"; then
		fail "$name: checkpoint"
		kill -KILL "$PID" 2>/dev/null
		return 1
	fi
	kill -KILL "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	restart "$name" ${RESTART_ENV:-}
	if [ "$RC" = "$want" ] && grep -q '^PASS' "$T/$name.out2"; then
		pass "$name: restored, state verified (exit $RC)"
		return 0
	fi
	fail "$name: exit $RC (want $want)"
	sed 's/^/    out: /' "$T/$name.out2" | head -10
	sed 's/^/    err: /' "$T/$name.err2" | head -10
	return 1
}

P=$PROGS
zdtm heap 0 "$P/ckpt_heap"
# without PR_SET_MM_MAP the heap is an ordinary mapping: malloc carries on with mmap
(cd "$WD" && in_clean timeout -k 5 "$TIMEOUT" "$RESTORE" --no-mm "$T/heap.img") </dev/null >"$T/heap.nomm" 2>&1
if [ $? = 0 ] && grep -q '^PASS' "$T/heap.nomm"; then
	pass "heap without PR_SET_MM_MAP: malloc works after the restore"
else
	fail "heap --no-mm: $(cat "$T/heap.nomm")"
fi
# the loader is position independent: any hole the shim got will do
if zdtm hole 0 CKPT_HOLE=1ffe00000000 "$P/ckpt_heap" &&
	"$RESTORE" --info "$T/hole.img" | grep -q '^hole  *0x1ffe00000000 '; then
	pass "hole: an image whose restore hole is at 0x1ffe00000000 (CKPT_HOLE)"
fi
zdtm stack 0 "$P/ckpt_stack"
zdtm globals 0 "$P/ckpt_globals"
if zdtm bigmap 0 "$P/ckpt_bigmap"; then
	size=$(stat -c %s "$T/bigmap.img")
	if [ "$size" -lt $((4 << 20)) ]; then
		pass "bigmap: a 512 MiB mapping with 514 pages touched gives a $((size >> 10)) KiB image"
	else
		fail "bigmap: image of $size bytes for a sparse 512 MiB mapping"
	fi
fi
zdtm filemap 0 "$P/ckpt_filemap" "$T/filemap.dat"
zdtm files 0 "$P/ckpt_files"
if zdtm signals 0 "$P/ckpt_signals"; then
	n=$(grep -c 'CKPT_SIGNAL' "$T/signals.err1")
	if [ "$n" = 1 ]; then
		pass "signals: one warning names CKPT_SIGNAL when the program installs its own handler"
	else
		fail "signals: $n warnings naming CKPT_SIGNAL: $(cat "$T/signals.err1")"
	fi
fi
zdtm altstack 0 "$P/ckpt_altstack"
zdtm cwd 0 "$P/ckpt_cwd" "$T/cwd-dir"
zdtm umask 0 "$P/ckpt_umask"
zdtm rlimits 0 "$P/ckpt_rlimits"
RESTART_ENV=CKPT_TEST_RESTART=1 zdtm env 0 CKPT_TEST_ORIG=original CKPT_TEST_GONE=x "$P/ckpt_env"
zdtm tls 0 "$P/ckpt_tls"
zdtm abort 134 "$P/ckpt_abort"
start clock "$P/ckpt_clock"
if wait_for "$T/clock.out1" '^READY' 10 && checkpoint clock; then
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	sleep 1.5 # time passes between the checkpoint and the restart
	restart clock
	if [ "$RC" = 0 ] && grep -q '^PASS' "$T/clock.out2"; then
		pass "clock: clock_gettime/gettimeofday through the vDSO after a restore"
	else
		fail "clock: exit $RC: $(cat "$T/clock.out2" "$T/clock.err2")"
	fi
else
	fail "clock: no checkpoint"
fi

# ---- remote files ------------------------------------------------------------------------------
need_server srv "$T/root"
MNT=/data=unix:$SOCK_srv
mkdir -p "$T/root/dir"
zdtm remote 0 CKPT_MOUNTS="$MNT" "$P/ckpt_remote" state /data/dir
# a file read directly (READ_FD) before and after: the descriptor from the
# old process is never used, even with its number taken by another file
zdtm direct 0 CKPT_MOUNTS="$MNT" "$P/ckpt_remote" direct /data/direct.bin
# The signal lands while the shim waits for a stopped server: the checkpoint
# waits until the shim leaves its code, then drains the writes and goes on.
start busy CKPT_MOUNTS="$MNT" CKPT_WRITE_BEHIND=0 "$P/ckpt_remote" stream /data/stream.txt 12000
if wait_for "$T/busy.out1" '^READY' 10; then
	sleep 0.2
	kill -STOP "$PID_srv"
	sleep 0.5 # the client fills the socket and blocks inside the shim
	kill -USR1 "$PID"
	sleep 0.5
	if [ -e "$T/busy.img" ]; then
		fail "busy: the checkpoint ran while the shim was waiting for the server"
		kill -CONT "$PID_srv"
	else
		kill -CONT "$PID_srv"
		if wait_for "$T/busy.err1" 'checkpoint written' 20; then
			kill -KILL "$PID"
			wait "$PID" 2>/dev/null
			restart busy
			if [ "$RC" = 0 ] && grep -q '^PASS' "$T/busy.out2"; then
				pass "busy shim: the checkpoint waited for the shim to leave its code; the restored process finished the remote file"
			else
				fail "busy: restart exit $RC: $(cat "$T/busy.out2" "$T/busy.err2" | head -5)"
			fi
		else
			fail "busy: no checkpoint after the server continued: $(cat "$T/busy.err1")"
		fi
	fi
else
	fail "busy: never ready: $(cat "$T/busy.err1")"
fi

# ---- a checkpoint refused: the program continues --------------------------------------------
start thread "$P/ckpt_thread" "$T/thread.go"
if wait_for "$T/thread.out1" '^READY' 10; then
	kill -USR1 "$PID"
	wait_for "$T/thread.err1" 'checkpoint refused' 10
	touch "$T/thread.go"
	wait_gone "$PID" 20
	lines=$(wc -l <"$T/thread.err1")
	if [ "$RC" = 0 ] && grep -q '^PASS' "$T/thread.out1" && [ "$lines" = 1 ] &&
		grep -q '^ckptshim: checkpoint refused: the process has 2 threads.*; the program continues$' "$T/thread.err1" &&
		[ ! -e "$T/thread.img" ]; then
		pass "a second thread: the checkpoint is refused with one line, the program continues"
	else
		fail "thread: exit $RC, stderr '$(cat "$T/thread.err1")', out '$(cat "$T/thread.out1")'"
	fi
else
	fail "thread: never ready"
fi
start shm "$P/ckpt_shm" "$T/shm.go"
if wait_for "$T/shm.out1" '^READY' 10; then
	kill -USR1 "$PID"
	wait_for "$T/shm.err1" 'checkpoint refused' 10
	touch "$T/shm.go"
	wait_gone "$PID" 20
	if [ "$RC" = 0 ] && grep -q '^PASS' "$T/shm.out1" && [ ! -e "$T/shm.img" ] &&
		grep -q '^ckptshim: checkpoint refused: memory .* is System V shared memory' "$T/shm.err1"; then
		pass "System V shared memory: the checkpoint is refused naming it, the program continues"
	else
		fail "shm: exit $RC, stderr '$(cat "$T/shm.err1")'"
	fi
else
	fail "shm: never ready"
fi
# an image that cannot be written: the checkpoint fails with one line, the
# program continues (SIGXFSZ from a small RLIMIT_FSIZE does not kill it)
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/nodir/x.img" \
	sh -c 'kill -USR1 $$; echo alive') </dev/null >"$T/nodir.out" 2>"$T/nodir.err"
if grep -q '^ckptshim: checkpoint failed: cannot create .*/nodir/x.img.tmp: No such file or directory; the program continues$' "$T/nodir.err" &&
	grep -q alive "$T/nodir.out"; then
	pass "an image directory that does not exist: one line, the program continues"
else
	fail "nodir: $(cat "$T/nodir.err" "$T/nodir.out")"
fi
(cd "$WD" && ulimit -f 64 && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/fsize.img" \
	"$P/ckpt_mem" 16) </dev/null >"$T/fsize.out" 2>"$T/fsize.err" &
PID=$!
BG_PIDS+=("$PID")
if wait_for "$T/fsize.out" '^READY' 10; then
	kill -USR1 "$PID"
	wait_for "$T/fsize.err" 'checkpoint failed' 10
	sleep 0.2
	if grep -q 'checkpoint failed: cannot write the image.*: File too large; the program continues' "$T/fsize.err" &&
		kill -0 "$PID" 2>/dev/null && [ ! -e "$T/fsize.img" ] && [ ! -e "$T/fsize.img.tmp" ]; then
		pass "an image over RLIMIT_FSIZE: the checkpoint fails, the program lives on, no file is left"
	else
		fail "fsize: $(cat "$T/fsize.err"); alive: $(kill -0 "$PID" 2>&1 && echo yes)"
	fi
	kill -KILL "$PID" 2>/dev/null
else
	fail "fsize: never ready"
fi
# a pipe (here a FIFO) and a child process are refused too, naming them
mkfifo "$T/fifo"
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/pipe.img" \
	bash -c 'exec 7<>"$1"; kill -USR1 $$; echo alive' _ "$T/fifo") </dev/null >"$T/pipe.out" 2>"$T/pipe.err"
if grep -q '^ckptshim: checkpoint refused: fd 7 is a pipe' "$T/pipe.err" && grep -q alive "$T/pipe.out" &&
	[ ! -e "$T/pipe.img" ] && [ "$(wc -l <"$T/pipe.err")" = 1 ]; then
	pass "a pipe: the checkpoint is refused naming fd 7, the program continues"
else
	fail "pipe: $(cat "$T/pipe.err" "$T/pipe.out")"
fi
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/child.img" \
	bash -c 'sleep 3 & kill -USR1 $$; kill $!; echo alive') </dev/null >"$T/child.out" 2>"$T/child.err"
if grep -q '^ckptshim: checkpoint refused: child process [0-9]* is alive' "$T/child.err" &&
	grep -q alive "$T/child.out" && [ ! -e "$T/child.img" ]; then
	pass "a child process: the checkpoint is refused naming it, the program continues"
else
	fail "child: $(cat "$T/child.err" "$T/child.out")"
fi
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/sh.img" \
	sh -c 'exec 5<>/dev/null; kill -USR1 $$; echo alive') </dev/null >"$T/sh.out" 2>"$T/sh.err"
if grep -q alive "$T/sh.out" && [ -e "$T/sh.img" ]; then
	pass "sh checkpoints itself (kill -USR1 \$\$) and carries on"
else
	fail "a plain checkpoint of sh: $(cat "$T/sh.err")"
fi

# ---- the image tools ----------------------------------------------------------------------------
img=$T/heap.img
if "$RESTORE" --info "$img" >"$T/info" 2>&1 && grep -q '\[heap\]' "$T/info" && grep -q '^hole ' "$T/info" &&
	grep -q 'kernel' "$T/info"; then
	pass "ckpt-restore --info describes the image"
else
	fail "--info: $(head -5 "$T/info")"
fi
if "$RESTORE" --verify "$img" >/dev/null 2>&1; then pass "--verify: a good image"; else fail "--verify of a good image"; fi
restart heap
if [ "$RC" = 0 ] && grep -q '^PASS' "$T/heap.out2"; then
	pass "an image restores twice"
else
	fail "second restore of the same image: $RC"
fi
cp "$img" "$T/bad.img"
size=$(stat -c %s "$T/bad.img")
printf '\x55\xaa' | dd of="$T/bad.img" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
out=$("$RESTORE" "$T/bad.img" 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q 'corrupt' <<<"$out"; then
	pass "a corrupt image is refused before anything changes: $out"
else
	fail "corrupt image: exit $rc: $out"
fi
head -c $((size - 1000)) "$img" >"$T/short.img"
out=$("$RESTORE" "$T/short.img" 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q 'truncated\|did not finish' <<<"$out"; then
	pass "a truncated image is refused: $out"
else
	fail "truncated image: exit $rc: $out"
fi
out=$("$RESTORE" "$T/nonexistent.img" 2>&1)
rc=$?
if [ "$rc" = 1 ]; then pass "a missing image: $out"; else fail "missing image: exit $rc"; fi
# An image from another architecture, or from a kernel whose vDSO differs, is
# refused before anything is unmapped. The INFO arch string is rewritten in
# place ("x86_64" -> "s390x!"), and the recorded vDSO checksum is changed, with
# --no-verify so that the refusal comes from the check itself, not from the
# image's checksums.
"$PY" - "$img" "$T/arch.img" "$T/kernel.img" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"\x00\x06x86_64")
open(sys.argv[2], "wb").write(b[:i + 2] + b"s390x!" + b[i + 8:])
j = b.index(b"\x00\x06[vdso]") + 8 + 16
open(sys.argv[3], "wb").write(b[:j] + bytes(x ^ 0xff for x in b[j:j + 8]) + b[j + 8:])
EOF
out=$("$RESTORE" --no-verify "$T/arch.img" 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q 'checkpointed on s390x!; this is x86_64' <<<"$out"; then
	pass "an image from another architecture is refused: $out"
else
	fail "other architecture: exit $rc: $out"
fi
out=$("$RESTORE" --no-verify "$T/kernel.img" 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q 'vDSO of this kernel differs.*restore on that kernel' <<<"$out"; then
	pass "an image from a kernel with another vDSO is refused: $out"
else
	fail "other kernel: exit $rc: $out"
fi

# ---- measurements: 256 MiB, half random, half text -------------------------------------------------
start mem256 "$P/ckpt_mem" 256
if wait_for "$T/mem256.out1" '^READY' 30 && checkpoint mem256; then
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	t0=$(now)
	restart mem256
	t1=$(now)
	if [ "$RC" = 0 ] && grep -q '^PASS' "$T/mem256.out2"; then
		pass "256 MiB: $(sed 's/^ckptshim: //' "$T/mem256.err1"); restart and verification $(elapsed "$t0" "$t1") s"
	else
		fail "mem256: exit $RC: $(cat "$T/mem256.out2" "$T/mem256.err2")"
	fi
else
	fail "mem256: no checkpoint"
fi

# ---- real programs: checkpoint, kill, restart, again; output as uninterrupted ----------------------
# cycle NAME N DELAY: N times: wait DELAY, checkpoint PID, kill it, restart in the background (PID).
cycle() {
	local name=$1 n=$2 delay=$3 k
	for k in $(seq 1 "$n"); do
		sleep "$delay"
		if ! checkpoint "$name"; then
			fail "$name: checkpoint $k"
			return 1
		fi
		kill -KILL "$PID"
		wait "$PID" 2>/dev/null
		# TOUCH: a local file grown behind the program's back, so the
		# restart must report its size change (the program writes over it).
		[ -n "${TOUCH:-}" ] && printf x >>"$TOUCH"
		mv "$T/$name.img" "$T/$name.$k.img"
		(cd "$WD" && in_clean "$RESTORE" "$T/$name.$k.img") </dev/null >>"$T/$name.out2" 2>>"$T/$name.err2" &
		PID=$!
		BG_PIDS+=("$PID")
		# until the loader has started (it blocks every signal at once)
		for _ in $(seq 1 250); do
			[ "$(cat /proc/$PID/comm 2>/dev/null)" = ckpt-restore ] || break
			sleep 0.02
		done
	done
}

PYPROG='
import hashlib, time
h = hashlib.sha256(b"seed")
with open("py.out", "w") as f:
    for i in range(1, 1201):
        for _ in range(300):
            h = hashlib.sha256(h.digest())
        f.write("%d %s\n" % (i, h.hexdigest()))
        if i % 50 == 0:
            f.flush()
        time.sleep(0.002)
print("done", i)
'
(cd "$WD" && $PY -c "$PYPROG" >"$T/py.ref.stdout" && mv py.out "$T/py.ref")
rm -f "$WD/py.out"
start py "$PY" -c "$PYPROG"
: >"$T/py.out2"
: >"$T/py.err2"
if TOUCH="$WD/py.out" cycle py 3 0.8; then
	wait_gone "$PID" 60
	if [ "$RC" = 0 ] && cmp -s "$WD/py.out" "$T/py.ref" && grep -q 'done 1200' "$T/py.out2" &&
		grep -q 'py.out) changed size since the checkpoint' "$T/py.err2"; then
		pass "python3: three checkpoint/kill/restart cycles, output file as uninterrupted (a size change behind its back reported)"
	else
		fail "python3: exit $RC; $(cmp "$WD/py.out" "$T/py.ref" 2>&1); $(tail -3 "$T/py.err2")"
	fi
fi

# stdout_run NAME DELAY CMD...: CMD (in $WD) writes to its stdout; checkpoint
# it after DELAY seconds, kill it, cut its output at the offset fd 1 had at
# the checkpoint (from the image), restart with the output appended: the
# result must equal $T/NAME.ref, an uninterrupted run.
stdout_run() {
	local name=$1 delay=$2 off
	shift 2
	rm -f "$T/$name.img"
	(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/$name.img" "$@") \
		</dev/null >"$T/$name.out" 2>"$T/$name.err1" &
	PID=$!
	BG_PIDS+=("$PID")
	sleep "$delay"
	if ! checkpoint "$name"; then
		fail "$name: no checkpoint"
		return 1
	fi
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	off=$("$RESTORE" --info "$T/$name.img" |
		awk '$1 == "fd" && $2 == 1 { for (i = 1; i <= NF; i++) if ($i == "offset") print $(i + 1) }')
	truncate -s "${off:-0}" "$T/$name.out"
	(cd "$WD" && in_clean timeout -k 5 "$TIMEOUT" "$RESTORE" "$T/$name.img") </dev/null >>"$T/$name.out" 2>"$T/$name.err2"
	RC=$?
	if [ "$RC" = 0 ] && cmp -s "$T/$name.out" "$T/$name.ref" && [ "${off:-0}" -gt 0 ]; then
		pass "$name: restarted at byte $off of its output, which then equals an uninterrupted run"
	else
		fail "$name: exit $RC, offset '$off': $(cmp "$T/$name.out" "$T/$name.ref" 2>&1) $(cat "$T/$name.err2")"
	fi
}

echo 'scale=60; for (i = 1; i <= 2500; i++) { x = e(l(i) / 3) + a(i) * s(i); print i, " ", x, "\n" }' >"$WD/bc.in"
(cd "$WD" && bc -lq bc.in) >"$T/bc.ref"
stdout_run bc 0.5 bc -lq bc.in
# gzip: a local input file read at its offset, a directory fd, output on stdout
head -c 60000000 /dev/urandom | base64 >"$WD/big.txt"
gzip -1 -c "$WD/big.txt" >"$T/gzip.ref"
stdout_run gzip 0.4 gzip -1 -c big.txt
AWKPROG='BEGIN { for (i = 0; i < 4000000; i++) { s += sin(i) * cos(i / 3); if (i % 2000 == 0) printf "%d %.12f\n", i, s } }'
awk "$AWKPROG" >"$T/awk.ref"
stdout_run awk 0.4 awk "$AWKPROG"

finish

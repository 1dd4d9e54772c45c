#!/bin/bash
# ckptarch.sh - one job, two servers: A (under make check-hetero a foreign
# server: s390x or aarch64 under qemu, CKPT_TEST_SERVER_CMD) and B (always a
# native x86_64 one). A python3 job writes both servers' files (and a sparse
# file past 5 GiB on A), is checkpointed, goes on writing, is killed with
# SIGKILL and restarted with ckpt-restart from both servers: its files must end
# as an uninterrupted run leaves them. Then the joint checkpoint files the two
# servers wrote are described by `ckpt inspect` built for this machine and for
# the other architecture (HETERO_TOOL_CMD): the same text, whoever wrote the
# file and whoever reads it.
source "$(dirname "$0")/lib.sh"

ARCH=${HETERO_ARCH:-$(uname -m)}
NATIVE=$(uname -m)
export CKPT_RUN_DIR=$T/run
RD=$CKPT_RUN_DIR
TOOL=$BIN/ckpt
TOOL_OTHER=()
[ -n "${HETERO_TOOL_CMD:-}" ] && read -r -a TOOL_OTHER <<<"$HETERO_TOOL_CMD"
mkdir -p "$T/wd" "$T/ref"
cd "$T/wd" || exit 1

cat >"$T/job.py" <<'EOF'
# job.py A B WD: three phases of writes to the files A/out.txt, B/out.txt and
# A/sparse.bin; after phases 1 and 2 it says READYk and waits for WD/gok.
import hashlib, os, sys, time
a, b, wd = sys.argv[1:4]
fa = open(os.path.join(a, "out.txt"), "a")
fb = open(os.path.join(b, "out.txt"), "a")
sp = os.open(os.path.join(a, "sparse.bin"), os.O_CREAT | os.O_RDWR, 0o644)
n = 0
for k in (1, 2, 3):
    for i in range(300):
        fa.write("A phase %d line %d %d\n" % (k, n, n * n))
        fb.write("B phase %d line %d %x\n" % (k, n, n * 7919))
        n += 1
    os.pwrite(sp, b"phase %d at 5 GiB + %d\n" % (k, k * 4096), (5 << 30) + k * 4096)
    fa.flush()
    fb.flush()
    os.fsync(fa.fileno())  # past the write-behind buffer: on the servers
    os.fsync(fb.fileno())
    if k < 3:
        print("READY%d" % k, flush=True)
        while not os.path.exists(os.path.join(wd, "go%d" % k)):
            time.sleep(0.02)
fa.close()
fb.close()
h = hashlib.md5(os.pread(sp, 3 * 4096 + 100, 5 << 30)).hexdigest()
print("done", n, h, os.fstat(sp).st_size)
EOF

# The reference: the same job, uninterrupted, on local directories.
mkdir -p "$T/ref/a" "$T/ref/b"
touch "$T/ref/go1" "$T/ref/go2"
if ! "$PY" "$T/job.py" "$T/ref/a" "$T/ref/b" "$T/ref" >"$T/ref.out"; then
	fail "the reference run failed"
	exit 1
fi

need_server A "$T/rootA" --state-dir "$T/stateA"
CKPT_TEST_NATIVE_SERVERS=B need_server B "$T/rootB" --state-dir "$T/stateB"
MOUNTS=(--mount "/a=unix:$SOCK_A" --mount "/b=unix:$SOCK_B")
JOB=mix

# wait_for SECONDS CMD...: true once CMD is.
wait_for() {
	local i n=$(($1 * 20))
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
prog_pid() { PID=$(cat "$RD/$JOB.pid" 2>/dev/null) && [ -n "$PID" ] && [ "$(cat "/proc/$PID/comm" 2>/dev/null)" != ckpt-restore ]; }
said() { grep -q "$1" "$T/job.out"; }
status_changed() { [ "$(cat "$RD/$JOB.status" 2>/dev/null)" != "$1" ]; }

# ---- run, checkpoint, write on, SIGKILL ---------------------------------------------
(in_clean "$BIN/ckpt-run" --job "$JOB" "${MOUNTS[@]}" -- "$PY" "$T/job.py" /a /b "$T/wd") \
	</dev/null >"$T/job.out" 2>"$T/job.err" &
WPID=$!
BG_PIDS+=("$WPID")
if ! wait_for 60 said READY1 || ! prog_pid; then
	fail "the job did not start: $(tail -3 "$T/job.err")"
	exit 1
fi
before=$(cat "$RD/$JOB.status" 2>/dev/null)
kill -USR1 "$PID"
wait_for 120 status_changed "$before"
st=$(cat "$RD/$JOB.status" 2>/dev/null)
if [[ $st == result=ok* ]] && [[ $st == *" servers=2"* ]]; then
	pass "checkpoint of a job on servers A ($ARCH) and B ($NATIVE): $st"
else
	fail "checkpoint: status '$st'; $(tail -3 "$T/job.err")"
	exit 1
fi
gen=$(sed -n 's/.* gen=\([0-9]*\).*/\1/p' <<<"$st")
touch go1
wait_for 60 said READY2 || fail "the job did not reach phase 2 after the checkpoint"
kill -KILL "$PID"
wait_gone "$WPID" 30
[ "$RC" = 137 ] && pass "SIGKILL after more writes: ckpt-run exited 137" || fail "ckpt-run exited $RC after SIGKILL"
rm -f go1 && touch go1 go2
if grep -q 'phase 2' "$T/rootA/out.txt" && grep -q 'phase 2' "$T/rootB/out.txt"; then
	pass "the servers' files got writes after the checkpoint (to be rolled back)"
else
	fail "the files on the servers did not get phase 2 before the kill"
fi

# ---- the joint files, described on both architectures -----------------------------
# inspect NAME FILE: the native tool's description; with HETERO_TOOL_CMD also
# the other architecture's, which must be the same text.
inspect() {
	local name=$1 f=$2 rc
	"$TOOL" inspect "$f" >"$T/$name.native" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && grep -q . "$T/$name.native"; then
		pass "$name: ckpt inspect on $NATIVE ($(wc -l <"$T/$name.native") lines)"
	else
		fail "$name: ckpt inspect on $NATIVE exited $rc: $(tail -2 "$T/$name.native")"
	fi
	[ ${#TOOL_OTHER[@]} -gt 0 ] || return 0
	"${TOOL_OTHER[@]}" inspect "$f" >"$T/$name.other" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && cmp -s "$T/$name.native" "$T/$name.other"; then
		pass "$name: ckpt inspect on $ARCH says the same"
	else
		fail "$name: ckpt inspect on $ARCH exited $rc; the descriptions differ:"
		diff "$T/$name.native" "$T/$name.other" | head -20 | sed 's/^/    /'
	fi
}
inspect "joint file written by server A ($ARCH)" "$T/stateA/$JOB/gen-$gen.ckpt"
inspect "joint file written by server B ($NATIVE)" "$T/stateB/$JOB/gen-$gen.ckpt"

# ---- restart from both servers ---------------------------------------------------------
(in_clean "$BIN/ckpt-restart" --job "$JOB" --server "unix:$SOCK_A" --server "unix:$SOCK_B") \
	</dev/null >>"$T/job.out" 2>>"$T/job.err" &
WPID=$!
BG_PIDS+=("$WPID")
wait_gone "$WPID" 120
if [ "$RC" = 0 ]; then
	pass "ckpt-restart from servers A ($ARCH) and B ($NATIVE): the job finished"
else
	fail "ckpt-restart exited $RC: $(tail -3 "$T/job.err")"
fi
grep -v '^READY' "$T/ref.out" >"$T/ref.final"
grep -v '^READY' "$T/job.out" >"$T/job.final"
same_text "restarted: the job's last line (sizes, checksum past 5 GiB) as uninterrupted" "$T/ref.final" "$T/job.final"
same_text "restarted: the file on server A ($ARCH) as uninterrupted" "$T/ref/a/out.txt" "$T/rootA/out.txt"
same_text "restarted: the file on server B ($NATIVE) as uninterrupted" "$T/ref/b/out.txt" "$T/rootB/out.txt"
sparse() { "$PY" -c 'import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.fstat(fd).st_size, hashlib.md5(os.pread(fd, 1 << 20, 5 << 30)).hexdigest())' "$1"; }
if [ "$(sparse "$T/ref/a/sparse.bin")" = "$(sparse "$T/rootA/sparse.bin")" ]; then
	pass "restarted: the sparse file past 5 GiB on server A ($ARCH) as uninterrupted"
else
	fail "restarted: sparse file: $(sparse "$T/rootA/sparse.bin") on the server, $(sparse "$T/ref/a/sparse.bin") uninterrupted"
fi
finish

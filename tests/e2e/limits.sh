#!/bin/bash
# limits.sh - the server's limits, each broken by an abusive peer while a
# well-behaved client keeps working on the same server.
#
# Server A (small limits: --max-frame 1m, --max-open 8, --max-sessions 6,
# --max-ckpt-bytes 256k, --frame-timeout 1) and server B (--idle-timeout 1.5)
# each serve a shim'd python3 that writes numbered blocks to a remote file
# for the whole suite and reads them back at the end. Meanwhile raw peers
# (limits_raw.py) send a frame over --max-frame, half a frame, half a header,
# no HELLO, a streamed PWRITE that stalls, too many connections and a
# checkpoint image announced over the limit; a shim'd program opens files
# past --max-open; a ckpt-run job is checkpointed with an image over
# --max-ckpt-bytes; a session stays quiet past --idle-timeout. Each must be
# refused or disconnected with its reason in the server's log, and the
# well-behaved clients' files must come out byte for byte as expected.
source "$(dirname "$0")/lib.sh"

RAW="$PY $(dirname "$0")/limits_raw.py"
export CKPT_RUN_DIR=$T/run
R=$CKPT_RUN_DIR
CKPT_LIMIT=$((256 * 1024))

need_server A "$T/a" --state-dir "$T/astate" --max-frame 1m --max-open 8 --max-sessions 6 \
	--max-ckpt-bytes 256k --frame-timeout 1
need_server B "$T/b" --idle-timeout 1.5
MA=/data=unix:$SOCK_A
MB=/data=unix:$SOCK_B

# logged NAME SERVER REGEX: the server's log has a line matching REGEX.
logged() {
	if grep -q -E "$3" "$T/$2.log"; then
		pass "$1: logged"
	else
		fail "$1: no log line matching '$3' in $2's log"
		tail -5 "$T/$2.log" | sed 's/^/    /'
	fi
}

# ---- the well-behaved clients ------------------------------------------------------------
cat >"$T/good.py" <<'EOF'
import os, sys, time
out, stop = sys.argv[1], sys.argv[2]
def block(n):
    return b"".join(b"block %06d line %02d %s\n" % (n, i, b"x" * (n % 50)) for i in range(20))
n = 0
with open(out, "wb") as f:
    while n < 50 or not os.path.exists(stop):
        f.write(block(n))
        f.flush()
        if n % 10 == 9:
            os.fsync(f.fileno())
        n += 1
        time.sleep(0.01)
with open(out, "rb") as f:
    back = f.read()
print(n, "same" if back == b"".join(block(k) for k in range(n)) else "differs")
EOF
# expected N FILE: what good.py leaves after N blocks.
expected() {
	$PY - "$1" >"$2" <<'EOF'
import sys
n = int(sys.argv[1])
sys.stdout.buffer.write(b"".join(b"block %06d line %02d %s\n" % (k, i, b"x" * (k % 50)) for k in range(n) for i in range(20)))
EOF
}
(in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$MA" timeout 120 $PY "$T/good.py" /data/good.txt "$T/stop") \
	>"$T/goodA.out" 2>"$T/goodA.err" &
GOOD_A=$!
BG_PIDS+=("$GOOD_A")
(in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$MB" timeout 120 $PY "$T/good.py" /data/good.txt "$T/stop") \
	>"$T/goodB.out" 2>"$T/goodB.err" &
GOOD_B=$!
BG_PIDS+=("$GOOD_B")
sleep 0.3

# ---- frame size --------------------------------------------------------------------------
$RAW bigframe "$SOCK_A"
logged "frame over --max-frame" A 'frame of 2097152 bytes over the limit 1048576 \(--max-frame\), disconnected'

# ---- frame timeout: half a frame, half a header, no HELLO, a stalled PWRITE ---------------
t0=$(now)
$RAW half "$SOCK_A" 5
if le "$(elapsed "$t0")" 3; then pass "half a frame: cut within about --frame-timeout ($(elapsed "$t0") s)"; else fail "half a frame: cut after $(elapsed "$t0") s"; fi
logged "half a frame" A 'frame of 100 bytes not complete within 1 s \(--frame-timeout\), disconnected'
$RAW halfhdr "$SOCK_A" 5
logged "half a header" A 'frame header not complete within 1 s \(7 of 16 bytes received; --frame-timeout\), disconnected'
$RAW nohello "$SOCK_A" 5
logged "no HELLO" A 'no complete HELLO within 1 s of connecting \(0 bytes received; --frame-timeout\), disconnected'
# Each PWRITE takes 0.6 s and three in a row take longer than the timeout:
# it is measured per frame. The data goes socket -> pipe -> file (splice).
$RAW slowpwrite "$SOCK_A" 1
logged "stalled streamed PWRITE" A 'frame of 524328 bytes not complete within 1 s \(--frame-timeout\), disconnected'

# ---- open files per session --------------------------------------------------------------
cat >"$T/opens.py" <<'EOF'
import errno, os
fds, errs = [], []
for i in range(14):
    try:
        fds.append(os.open("/data/open%d" % i, os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError as e:
        errs.append(errno.errorcode[e.errno])
print(len(fds), " ".join(sorted(set(errs))))
EOF
got=$(in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$MA" timeout 60 $PY "$T/opens.py" 2>"$T/opens.err")
if [ "$got" = "8 EMFILE" ]; then pass "--max-open 8: the 9th to 14th opens fail with EMFILE"; else fail "--max-open 8: got '$got' $(head -2 "$T/opens.err")"; fi
n=$(grep -c 'refused with EMFILE' "$T/A.log")
if [ "$n" = 1 ]; then pass "--max-open: logged once for six refusals"; else fail "--max-open: $n log lines"; fi

# ---- sessions in all ---------------------------------------------------------------------
# The good client holds one of the 6.
got=$($RAW sessions "$SOCK_A" 10)
if [[ $got == *"served 5 refused 5"* ]] && [[ $got != *FAIL* ]]; then
	pass "--max-sessions 6: 5 more let in, 5 refused"
else
	fail "--max-sessions 6: $got"
fi
logged "--max-sessions" A 'refusing a connection from .*: 6 sessions active \(--max-sessions\)'
sleep 0.3 # the refused peer's sessions end
got=$(shimt "$MA" cat /data/open0 2>&1 && echo ok)
if [ "$got" = ok ]; then pass "a new session once others ended"; else fail "a new session once others ended: $got"; fi

# ---- checkpoint bytes per job ------------------------------------------------------------
$RAW bigtotal "$SOCK_A" "$CKPT_LIMIT"
logged "image announced over --max-ckpt-bytes" A 'job rawbig: the image of generation 1 announces 262145 bytes, over the limit 262144 \(--max-ckpt-bytes\); refused with EFBIG'
if [ -e "$T/astate/rawbig/gen-1.ckpt.tmp" ] || [ -e "$T/astate/rawbig/gen-1.ckpt" ]; then
	fail "image announced over the limit: something of it kept"
else
	pass "image announced over the limit: nothing of it kept"
fi
cat >"$T/job.py" <<'EOF'
import os, sys, time
wd = sys.argv[1]
blob = os.urandom(4 << 20)  # an image that cannot shrink under the limit
with open("/data/job.txt", "w") as f:
    f.write("before\n")
print("READY", flush=True)
while not os.path.exists(os.path.join(wd, "go")):
    time.sleep(0.02)
with open("/data/job.txt", "a") as f:
    f.write("after %d\n" % len(blob))
print("done", flush=True)
EOF
mkdir -p "$T/jwd"
(in_clean "$BIN/ckpt-run" --job big --mount "$MA" -- $PY "$T/job.py" "$T/jwd") </dev/null \
	>"$T/job.out" 2>"$T/job.err" &
JW=$!
BG_PIDS+=("$JW")
for ((i = 0; i < 400; i++)); do grep -q READY "$T/job.out" 2>/dev/null && break; sleep 0.05; done
JPID=$(cat "$R/big.pid" 2>/dev/null)
for ((i = 0; i < 100; i++)); do [ -s "$R/big.status" ] || [ -n "$JPID" ] && break; sleep 0.05; done
ckout=$(timeout 60 "$BIN/ckpt" checkpoint --job big 2>&1)
ckrc=$?
st=$(cat "$R/big.status" 2>/dev/null)
if [ "$ckrc" = 1 ] && [[ $st == result=failed* ]] && [[ $ckout$st == *"File too large"* || $ckout$st == *max-ckpt-bytes* ]]; then
	pass "a checkpoint over --max-ckpt-bytes fails: ckpt checkpoint exits 1 ($ckout)"
else
	fail "a checkpoint over --max-ckpt-bytes: exit $ckrc '$ckout', status '$st'"
fi
logged "checkpoint over --max-ckpt-bytes" A 'job big: the image of generation [0-9]+ reaches [0-9]+ bytes, over the limit 262144 \(--max-ckpt-bytes\); refused with EFBIG, image discarded'
touch "$T/jwd/go"
wait_gone "$JW" 30
if [ "$RC" = 0 ] && grep -q done "$T/job.out" && [ "$(cat "$T/a/job.txt")" = "$(printf 'before\nafter %d' $((4 << 20)))" ]; then
	pass "the job runs on after the refused checkpoint and finishes"
else
	fail "the job after the refused checkpoint: exit $RC; $(tail -2 "$T/job.err")"
fi
if ls "$T/astate/big/" 2>/dev/null | grep -q '^gen-'; then
	fail "refused checkpoint: a generation file was kept: $(ls "$T/astate/big")"
else
	pass "refused checkpoint: no generation file kept"
fi

# ---- idle timeout (server B) -------------------------------------------------------------
t0=$(now)
$RAW idle "$SOCK_B" 6
if le "$(elapsed "$t0")" 4; then pass "idle session: cut after about --idle-timeout ($(elapsed "$t0") s)"; else fail "idle session: cut after $(elapsed "$t0") s"; fi
logged "--idle-timeout" B 'no request for 1.5 s \(--idle-timeout\), disconnected with 0 open files'

# ---- the well-behaved clients ------------------------------------------------------------
touch "$T/stop"
for s in A B; do
	eval "p=\$GOOD_$s"
	wait_gone "$p" 60
	read -r n verdict <"$T/good$s.out"
	if [ "$RC" = 0 ] && [ "$verdict" = same ] && [ "${n:-0}" -ge 50 ]; then
		expected "$n" "$T/good$s.want"
		[ "$s" = A ] && root=$T/a || root=$T/b
		same "server $s: the client in parallel wrote $n blocks, byte for byte" "$T/good$s.want" "$root/good.txt"
	else
		fail "server $s: the client in parallel: exit $RC, '$n $verdict'; $(tail -3 "$T/good$s.err")"
	fi
	if grep -q 'ckptshim:' "$T/good$s.err"; then
		fail "server $s: the client in parallel printed: $(grep 'ckptshim:' "$T/good$s.err" | head -2)"
	fi
done
for s in A B; do
	if stop_server "$s"; then pass "server $s stops cleanly"; else fail "server $s did not stop cleanly"; fi
done
finish

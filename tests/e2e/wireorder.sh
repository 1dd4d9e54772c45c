#!/bin/bash
# wireorder.sh - every field of the wire checked end to end with values that
# a host-order, 32-bit or wrong-sign encoding would change: stat blocks, big
# offsets, times, ids, errnos (wireorder_fs.py under the shim, compared with
# the server's own files), generations above 2^32 and the HELLO exchange
# (wireorder_raw.py, a client written from PROTOCOL.md), and a checkpoint
# store moved between a server of this architecture and a native one (a
# rollback there). Run by make check
# against the native server and by make check-hetero against s390x and
# aarch64 servers under qemu (CKPT_TEST_SERVER_CMD, HETERO_ARCH).
source "$(dirname "$0")/lib.sh"

ARCH=${HETERO_ARCH:-$(uname -m)}
need_server a "$T/root" --state-dir "$T/state" --listen tcp:127.0.0.1:0
M=/data=unix:$SOCK_a
MT=/data=$(grep -m1 '^tcp:' "$T/a.ready") # the second run goes over TCP
mkdir -p "$T/root/w" "$T/wd"

# run_py NAME CMD...: a python check printing PASS/FAIL lines.
run_py() {
	local name=$1 rc
	shift
	(cd "$T/wd" && "$@") >"$T/$name.out" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL) ' "$T/$name.out" | sed -E "s/^(PASS|FAIL) /\1 $name: /"
	FAILS=$((FAILS + $(grep -c '^FAIL ' "$T/$name.out")))
	if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$T/$name.out"; then
		fail "$name: exited $rc"
		tail -15 "$T/$name.out" | sed 's/^/    /'
	fi
}

run_py fs shimt "$M" "$PY" "$TOP/tests/e2e/wireorder_fs.py" /data/w "$T/root/w"
rm -rf "$T/root/w" && mkdir -p "$T/root/w"
CKPT_WRITE_BEHIND=0 CKPT_READ_AHEAD=0 run_py fs-unbuffered-tcp \
	shimt "$MT" "$PY" "$TOP/tests/e2e/wireorder_fs.py" /data/w "$T/root/w"
RAW=$TOP/tests/e2e/wireorder_raw.py
mkdir -p "$T/root/u"
run_py raw timeout "$TIMEOUT" "$PY" "$RAW" both "$SOCK_a" "$ARCH" "$T/root"

# A store moves between machines: generations and undo data written by this
# server are rolled back by a native (x86_64) server on the same root and
# state directory, and the other way round.
NATIVE=$(uname -m)
mkdir -p "$T/r2/u" "$T/r3/u"
need_server w "$T/r2" --state-dir "$T/s2"
run_py "$ARCH-to-$NATIVE" timeout "$TIMEOUT" "$PY" "$RAW" write "$SOCK_w" "$ARCH" "$T/r2"
stop_server w || fail "server w did not stop cleanly"
CKPT_TEST_NATIVE_SERVERS=n need_server n "$T/r2" --state-dir "$T/s2"
run_py "$ARCH-to-$NATIVE" timeout "$TIMEOUT" "$PY" "$RAW" read "$SOCK_n" "$NATIVE" "$T/r2"
CKPT_TEST_NATIVE_SERVERS=m need_server m "$T/r3" --state-dir "$T/s3"
run_py "$NATIVE-to-$ARCH" timeout "$TIMEOUT" "$PY" "$RAW" write "$SOCK_m" "$NATIVE" "$T/r3"
stop_server m || fail "server m did not stop cleanly"
need_server f "$T/r3" --state-dir "$T/s3"
run_py "$NATIVE-to-$ARCH" timeout "$TIMEOUT" "$PY" "$RAW" read "$SOCK_f" "$ARCH" "$T/r3"

# The server logged the pair at HELLO: the shim's sessions and the raw client's.
hello=$(grep -c "HELLO: .* x86_64 little-endian page [0-9]*, server $ARCH " "$T/a.log")
if [ "$hello" -ge 2 ]; then
	pass "the server logged the architecture pair at HELLO ($hello sessions, server $ARCH)"
else
	fail "no HELLO line naming client x86_64 and server $ARCH in the server's log"
	grep -m3 'HELLO' "$T/a.log" | sed 's/^/    /'
fi
if [ "$ARCH" != "$(uname -m)" ]; then
	if grep -q "server $ARCH .*(heterogeneous pair)" "$T/a.log"; then
		pass "the server logged the session as a heterogeneous pair"
	else
		fail "the server did not log '(heterogeneous pair)'"
	fi
fi
finish

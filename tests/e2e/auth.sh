#!/bin/bash
# auth.sh - keys and peers: who a ckpt-server started with --key lets in.
#
# Key files (ckpt keygen: 0600, never overwritten; the server refuses a key
# file others may read, a job key, a foreign owner); the shim and the ckpt
# tool with the right key, a job key, no key and a wrong key; a client
# written from PROTOCOL.md with Python's hmac (tests/e2e/auth_raw.py) for
# wrong proofs, replayed handshakes, requests before AUTH and a job key used
# for another job; fake servers that cannot prove the key; a job that sees
# and restores only its own checkpoints; unix peers of another uid; a
# listener other hosts can reach without a key; and a whole job
# checkpointed, killed and restarted through a keyed server over TCP.
. "$(dirname "$0")/lib.sh"

CKPT=$BIN/ckpt
RAW="$PY $TOP/tests/e2e/auth_raw.py"
K=$T/keys
mkdir -p "$K"
export CKPT_RUN_DIR=$T/run

# one_line NAME PATTERN CMD...: CMD fails and its stderr matches PATTERN.
one_line() {
	local name=$1 pat=$2 rc
	shift 2
	"$@" >"$T/ol.out" 2>"$T/ol.err"
	rc=$?
	if [ "$rc" != 0 ] && grep -Eq "$pat" "$T/ol.err"; then
		pass "$name"
	else
		fail "$name: exit $rc, stderr: $(head -3 "$T/ol.err")"
	fi
}

# logged NAME SERVER PATTERN: the server's log has a line matching PATTERN.
logged() {
	if grep -Eq "$3" "$T/$2.log"; then pass "$1"; else fail "$1: no '$3' in the log of $2"; tail -5 "$T/$2.log"; fi
}

# ---- key files -----------------------------------------------------------------------
expect "ckpt keygen: a server key" "$CKPT" keygen "$K/server.key"
expect "ckpt keygen: job keys" "$CKPT" keygen --job jobA --from "$K/server.key" "$K/a.key"
"$CKPT" keygen --job jobB --from "$K/server.key" "$K/b.key"
"$CKPT" keygen "$K/other.key"
if [ "$(stat -c %a "$K/server.key") $(stat -c %a "$K/a.key")" = "600 600" ] &&
	grep -Eq '^ckpt-key-1 server [0-9a-f]{64}$' "$K/server.key" &&
	grep -Eq '^ckpt-key-1 job jobA [0-9a-f]{64}$' "$K/a.key"; then
	pass "key files: mode 0600, one line each"
else
	fail "key files: $(stat -c '%n %a' "$K"/*.key | tr '\n' ' ')"
fi
(umask 000 && "$CKPT" keygen "$K/umask.key") && [ "$(stat -c %a "$K/umask.key")" = 600 ] &&
	pass "ckpt keygen under umask 000: still mode 0600" || fail "ckpt keygen under umask 000: $(stat -c %a "$K/umask.key")"
cp "$K/server.key" "$K/keep.key"
one_line "ckpt keygen never overwrites a key" "exists; not overwriting" "$CKPT" keygen "$K/keep.key"
cmp -s "$K/server.key" "$K/keep.key" && pass "the existing key is unchanged" || fail "the existing key changed"
one_line "ckpt keygen --job needs --from" "go together" "$CKPT" keygen --job x "$K/x.key"
one_line "ckpt keygen --job with a bad job name" "not a job name" "$CKPT" keygen --job ../x --from "$K/server.key" "$K/x.key"
one_line "ckpt keygen --from a job key" "already a job key" "$CKPT" keygen --job x --from "$K/a.key" "$K/x.key"

install -m 644 "$K/server.key" "$K/loose.key"
one_line "ckpt-server --key: a key others may read is refused" "mode 0644 .*chmod 600" \
	"$SERVER" --root "$T/r0" --listen "unix:$T/r0.sock" --key "$K/loose.key"
one_line "ckpt-server --key: a job key is refused" "key of job 'jobA'.*server key" \
	"$SERVER" --root "$T/r0" --listen "unix:$T/r0.sock" --key "$K/a.key"
printf 'ckpt-key-1 server 1234\n' >"$K/short.key" && chmod 600 "$K/short.key"
one_line "ckpt-server --key: a malformed key is refused" "64 hexadecimal digits" \
	"$SERVER" --root "$T/r0" --listen "unix:$T/r0.sock" --key "$K/short.key"
one_line "ckpt-server --key: a missing file" "nokey.key: No such file" \
	"$SERVER" --root "$T/r0" --listen "unix:$T/r0.sock" --key "$K/nokey.key"
if [ "$(id -u)" = 0 ]; then
	install -m 600 -o 65534 "$K/server.key" "$K/foreign.key"
	one_line "ckpt-server --key: a key owned by another user is refused" "owned by uid 65534" \
		"$SERVER" --root "$T/r0" --listen "unix:$T/r0.sock" --key "$K/foreign.key"
fi

# ---- the keyed server ------------------------------------------------------------------
mkdir -p "$T/root/d"
head -c 300000 /dev/urandom >"$T/root/d/data.bin"
need_server A "$T/root" --state-dir "$T/state" --key "$K/server.key" --listen tcp:127.0.0.1:0
TCP=$(sed -n '/^tcp:/p' "$T/A.ready")
UNIX=unix:$SOCK_A

CKPT_KEY_FILE=$K/server.key shimt "/r=$TCP" cat /r/d/data.bin >"$T/got.bin" 2>"$T/got.err"
same "the server key over tcp: cat reads the file byte for byte" "$T/root/d/data.bin" "$T/got.bin"
CKPT_JOB=jobA CKPT_KEY_FILE=$K/a.key shimt "/r=$UNIX" cp /r/d/data.bin /r/d/copy.bin
same "a job key over unix: cp through the server" "$T/root/d/data.bin" "$T/root/d/copy.bin"
logged "the server logs the job key it authenticated" A "authenticated with a job key of job 'jobA'"

shimt "/r=$TCP" cat /r/d/data.bin >"$T/nokey.out" 2>"$T/nokey.err"
rc=$?
if [ "$rc" != 0 ] && [ ! -s "$T/nokey.out" ] && grep -q "Permission denied" "$T/nokey.err" &&
	[ "$(grep -c 'ckptshim: server .*refused: this server requires a key' "$T/nokey.err")" = 1 ]; then
	pass "no key: cat fails with EACCES and one line saying a key is needed"
else
	fail "no key: exit $rc, stderr: $(head -3 "$T/nokey.err")"
fi
logged "no key: refused and logged with the peer's address" A "\(tcp 127\.0\.0\.1:[0-9]+\): authentication refused: the client offered no key"

CKPT_KEY_FILE=$K/other.key shimt "/r=$TCP" cat /r/d/data.bin >"$T/wrong.out" 2>"$T/wrong.err"
rc=$?
if [ "$rc" != 0 ] && [ ! -s "$T/wrong.out" ] && grep -q "could not prove it holds the key" "$T/wrong.err"; then
	pass "a wrong key: cat fails, the shim says the server could not prove the key"
else
	fail "a wrong key: exit $rc, stderr: $(head -3 "$T/wrong.err")"
fi
logged "a wrong key: refused and logged with the peer's address" A "\(tcp 127\.0\.0\.1:[0-9]+\): authentication refused: the client left without proving"
sh -c 'echo local ok >"$1"/local.txt; cat "$1"/local.txt' _ "$T" >"$T/local.out"
CKPT_KEY_FILE=$K/other.key shimt "/r=$TCP" sh -c 'cat /r/d/data.bin >/dev/null 2>&1; cat "$1"/local.txt' _ "$T" >"$T/local2.out" 2>/dev/null
same "a wrong key: local files of the program still work" "$T/local.out" "$T/local2.out"

for c in nokey; do $RAW $c "$TCP"; done | tee "$T/raw.out"
for c in wrongproof replay early good; do $RAW $c "$UNIX" "$K/server.key"; done | tee -a "$T/raw.out"
$RAW claim "$TCP" "$K/a.key" jobB | tee -a "$T/raw.out"
$RAW good "$TCP" "$K/a.key" | tee -a "$T/raw.out"
FAILS=$((FAILS + $(grep -c '^FAIL' "$T/raw.out")))
logged "a wrong proof is logged" A "authentication refused: wrong key \(the client used the server key\)"
logged "a request before AUTH is logged" A "authentication refused: STAT #3 before AUTH"
logged "a job key used for another job is logged" A "authentication refused: wrong key \(the client used a job key for job 'jobB'\)"
if ! ls "$T/state" | grep -qx somejob; then
	pass "unauthenticated and refused sessions leave nothing in the store"
else
	fail "the store holds a job of a refused session: $(ls "$T/state")"
fi

# ---- clients with a key facing servers that cannot prove it -----------------------------------
($RAW fakeserver "$T/fake1.sock" badproof >"$T/fake1.out") &
FP=$!
sleep 0.3
CKPT_KEY_FILE=$K/server.key shimt "/f=unix:$T/fake1.sock" cat /f/x >/dev/null 2>"$T/fake1.err"
wait "$FP"
cat "$T/fake1.out"
FAILS=$((FAILS + $(grep -c '^FAIL' "$T/fake1.out")))
grep -q "could not prove it holds the key" "$T/fake1.err" &&
	pass "a server with a wrong proof: the shim refuses it and says so" || fail "fake server: $(head -2 "$T/fake1.err")"

need_server N "$T/nroot" --listen tcp:127.0.0.1:0
NTCP=$(sed -n '/^tcp:/p' "$T/N.ready")
echo plain >"$T/nroot/plain.txt"
CKPT_KEY_FILE=$K/server.key shimt "/n=$NTCP" cat /n/plain.txt >"$T/n.out" 2>"$T/n.err"
rc=$?
[ "$rc" != 0 ] && grep -q "does not authenticate itself" "$T/n.err" &&
	pass "a key and a server without one over tcp: refused" || fail "keyless server over tcp: exit $rc, $(head -2 "$T/n.err")"
CKPT_KEY_FILE=$K/server.key shimt "/n=unix:$SOCK_N" cat /n/plain.txt >"$T/n2.out" 2>"$T/n2.err"
[ "$(cat "$T/n2.out")" = plain ] &&
	pass "a key and a keyless server of our own uid on a unix socket: used" || fail "keyless unix server: $(head -2 "$T/n2.err")"

chmod 644 "$K/a.key"
CKPT_KEY_FILE=$K/a.key shimt "/r=$TCP" true 2>"$T/loose.err"
rc=$?
[ "$rc" = 127 ] && grep -q "CKPT_KEY_FILE.*mode 0600" "$T/loose.err" &&
	pass "CKPT_KEY_FILE others may read: the program is not run" || fail "loose CKPT_KEY_FILE: exit $rc, $(head -2 "$T/loose.err")"
chmod 600 "$K/a.key"
CKPT_JOB=jobB CKPT_KEY_FILE=$K/a.key shimt "/r=$TCP" true 2>"$T/mism.err"
rc=$?
[ "$rc" = 127 ] && grep -q "key of job 'jobA', but CKPT_JOB=jobB" "$T/mism.err" &&
	pass "a job key with another CKPT_JOB: the program is not run" || fail "job mismatch: exit $rc, $(head -2 "$T/mism.err")"

# ---- a job sees and restores only its own checkpoints ---------------------------------------
# Two jobs, each with its job key, take a checkpoint on the keyed server.
run_job() { # NAME KEY: a program that waits; checkpointed once, then stopped
	local name=$1 key=$2 pid i st
	(CKPT_JOB=$name CKPT_KEY_FILE=$key in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="/r=$TCP" \
		"$PY" -c 'import time,sys
f=open("/r/'"$name"'.txt","w"); f.write("x"); f.flush()
time.sleep(60)') </dev/null >/dev/null 2>"$T/$name.err" &
	pid=$!
	BG_PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do [ -e "$T/root/$name.txt" ] && break; sleep 0.05; done
	sleep 0.2
	kill -USR1 "$pid"
	for ((i = 0; i < 200; i++)); do
		st=$(cat "$CKPT_RUN_DIR/$name.status" 2>/dev/null)
		[[ $st == result=* ]] && break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[[ $st == result=ok* ]]
}
if run_job jobA "$K/a.key" && run_job jobB "$K/b.key"; then
	pass "jobs A and B, each with its job key, take a checkpoint"
else
	fail "checkpoints of jobs A and B: $(cat "$CKPT_RUN_DIR"/job*.status 2>/dev/null | tr '\n' ' ') $(tail -2 "$T/jobA.err" "$T/jobB.err")"
fi
CKPT_KEY_FILE=$K/a.key "$CKPT" list --server "$TCP" >"$T/la.out" 2>&1
CKPT_KEY_FILE=$K/server.key "$CKPT" list --server "$TCP" >"$T/ls.out" 2>&1
if grep -q '^jobA' "$T/la.out" && ! grep -q jobB "$T/la.out"; then
	pass "ckpt list with job A's key: job A only"
else
	fail "ckpt list with job A's key: $(cat "$T/la.out")"
fi
if grep -q '^jobA' "$T/ls.out" && grep -q '^jobB' "$T/ls.out"; then
	pass "ckpt list with the server key: both jobs"
else
	fail "ckpt list with the server key: $(cat "$T/ls.out")"
fi
one_line "ckpt list --job jobB with job A's key is refused" "key of job 'jobA'; it cannot act for job 'jobB'" \
	env CKPT_KEY_FILE="$K/a.key" "$CKPT" list --server "$TCP" --job jobB
one_line "ckpt rollback of job B with job A's key is refused" "key of job 'jobA'; it cannot act for job 'jobB'" \
	env CKPT_KEY_FILE="$K/a.key" "$CKPT" rollback --server "$TCP" --job jobB --output "$T/b.img"
[ ! -e "$T/b.img" ] && pass "no image of job B was fetched" || fail "an image of job B was written"
one_line "ckpt list without a key is refused" "requires a key" "$CKPT" list --server "$TCP"
one_line "ckpt-restart of job B with job A's key is refused" "cannot act for job 'jobB'" \
	env CKPT_KEY_FILE="$K/a.key" "$BIN/ckpt-restart" --server "$TCP" --job jobB
[ -e "$T/root/jobB.txt" ] && pass "job B's file is untouched by the refused restart" || fail "job B's file is gone"

# ---- unix peer credentials -------------------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/pub" && chmod 755 "$T" "$T/pub"
	need_server U "$T/uroot" --listen "unix:$T/pub/u.sock"
	chmod 666 "$T/pub/u.sock"
	setpriv --reuid 65534 --regid 65534 --clear-groups $RAW nokey "unix:$T/pub/u.sock" >"$T/uid.out" 2>&1
	grep -q "PASS no key: HELLO refused with EACCES" "$T/uid.out" &&
		pass "a unix peer of another uid is refused (EACCES)" || fail "unix peer uid 65534: $(cat "$T/uid.out")"
	logged "the refused unix peer is logged with its uid" U "\(unix pid [0-9]+ uid 65534\): authentication refused: unix peer uid 65534 is not allowed"
	need_server V "$T/uroot" --listen "unix:$T/pub/v.sock" --allow-uid 65534
	chmod 666 "$T/pub/v.sock"
	setpriv --reuid 65534 --regid 65534 --clear-groups $RAW nokey "unix:$T/pub/v.sock" >"$T/uid2.out" 2>&1
	grep -q "FAIL no key: HELLO refused" "$T/uid2.out" &&
		pass "--allow-uid 65534: that uid is served" || fail "--allow-uid: $(cat "$T/uid2.out")"
	chmod 700 "$T"
else
	skip "unix peer credentials: needs root and setpriv"
fi

# ---- listeners other hosts can reach ----------------------------------------------------------
NS=ckauth$$
if [ "$(id -u)" = 0 ] && ip netns add "$NS" 2>/dev/null; then
	ip -n "$NS" link set lo up
	ip -n "$NS" addr add 10.200.0.77/24 dev lo
	one_line "a tcp listener on 10.200.0.77 without --key is refused" "needs --key FILE.*--no-auth" \
		ip netns exec "$NS" "$SERVER" --root "$T/nroot" --listen tcp:10.200.0.77:0
	ip netns exec "$NS" "$SERVER" --root "$T/nroot" --listen tcp:10.200.0.77:0 --key "$K/server.key" \
		--ready-file "$T/ns.ready" >"$T/ns.log" 2>&1 &
	NSP=$!
	for ((i = 0; i < 100; i++)); do [ -s "$T/ns.ready" ] && break; sleep 0.05; done
	NSADDR=$(cat "$T/ns.ready" 2>/dev/null)
	ip netns exec "$NS" env CKPT_KEY_FILE="$K/server.key" LD_PRELOAD="$SHIM" CKPT_MOUNTS="/n=$NSADDR" \
		timeout 20 cat /n/plain.txt >"$T/ns.out" 2>"$T/ns.err"
	[ "$(cat "$T/ns.out")" = plain ] && pass "with --key it listens on 10.200.0.77 and serves a keyed client" ||
		fail "netns keyed server: $(head -2 "$T/ns.err") $(tail -2 "$T/ns.log")"
	kill -TERM "$NSP"; wait "$NSP"
	ip netns exec "$NS" "$SERVER" --root "$T/nroot" --listen tcp:10.200.0.77:0 --no-auth \
		--ready-file "$T/ns2.ready" >"$T/ns2.log" 2>&1 &
	NSP=$!
	for ((i = 0; i < 100; i++)); do [ -s "$T/ns2.ready" ] && break; sleep 0.05; done
	[ -s "$T/ns2.ready" ] && pass "--no-auth: it listens on 10.200.0.77 without a key" || fail "--no-auth: $(tail -2 "$T/ns2.log")"
	kill -TERM "$NSP"; wait "$NSP"
	ip netns del "$NS"
else
	skip "non-loopback listeners: needs root and ip netns"
fi

# ---- a whole job through a keyed server over tcp ------------------------------------------------
"$PY" -c 'import sys
for i in range(300): sys.stdout.write("line %d of the job\n" % i)' >"$T/job.ref"
WJ=$T/jobwd
mkdir -p "$WJ"
cat >"$WJ/job.py" <<'EOF'
import os, time
f = open("/r/jobA.out", "w")
for i in range(300):
    f.write("line %d of the job\n" % i)
    f.flush()
    if i == 100:
        open(os.environ["GO"] + ".ready", "w").close()
        while not os.path.exists(os.environ["GO"]):
            time.sleep(0.01)
    time.sleep(0.005)
f.close()
EOF
(cd "$WJ" && CKPT_KEY_FILE=$K/a.key GO=$WJ/go in_clean "$BIN/ckpt-run" --job jobA --mount "/r=$TCP" -- "$PY" job.py) \
	</dev/null >"$T/kj.out" 2>"$T/kj.err" &
KW=$!
BG_PIDS+=("$KW")
for ((i = 0; i < 200; i++)); do [ -e "$WJ/go.ready" ] && break; sleep 0.05; done
KP=$(cat "$CKPT_RUN_DIR/jobA.pid" 2>/dev/null)
if [ -n "$KP" ] && CKPT_KEY_FILE=$K/a.key "$CKPT" checkpoint --job jobA >"$T/kc.out" 2>&1; then
	pass "ckpt-run with job A's key: checkpoint on the keyed server over tcp"
	touch "$WJ/go"
	sleep 0.3
	kill -KILL "$KP"
	wait "$KW"
	rm -f "$WJ/go"
	(cd "$WJ" && CKPT_KEY_FILE=$K/a.key GO=$WJ/go in_clean "$BIN/ckpt-restart" --server "$TCP" --job jobA) \
		</dev/null >>"$T/kj.out" 2>>"$T/kj.err" &
	KW=$!
	BG_PIDS+=("$KW")
	sleep 0.5
	touch "$WJ/go"
	if wait "$KW"; then
		same_text "killed and restarted with the key: the remote file as an uninterrupted run" "$T/job.ref" "$T/root/jobA.out"
	else
		fail "ckpt-restart with job A's key failed: $(tail -3 "$T/kj.err")"
	fi
else
	fail "checkpoint of the keyed job: $(cat "$T/kc.out") $(tail -3 "$T/kj.err")"
fi

stop_server A || fail "server A did not stop cleanly"
exit $((FAILS > 0))

#!/bin/bash
# tool.sh - the ckpt tool: list, inspect, checkpoint and rollback against real servers, images and processes.
#
# Two servers keep checkpoints (--state-dir). A test program under the shim
# is checkpointed with `ckpt checkpoint` onto both, listed, inspected (its
# backtrace names the function it sleeps in), killed, fetched back with
# `ckpt rollback` and restored. Generations with exact contents are also
# pushed by a small protocol client (python3, below), so that the servers
# hold different generations: the newest common one, --generation, a corrupt
# joint file (EBADMSG), a busy job (EBUSY) and an unreachable server are
# checked with their exact messages. Bare images (CKPT_IMAGE_FILE), corrupt
# and truncated files, and the failures of `ckpt checkpoint` complete it.
source "$(dirname "$0")/lib.sh"

CKPT=$BIN/ckpt
RESTORE=$BIN/ckpt-restore
RUN=$T/run
WD=$T/wd
mkdir -p "$RUN" "$WD"

# run NAME CMD...: CMD's stdout in $T/NAME.out, stderr in $T/NAME.err, status in RC.
run() {
	local name=$1
	shift
	timeout -k 5 "$TIMEOUT" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
	RC=$?
}

# fails NAME PATTERN CMD...: CMD must exit 1 (WANT_RC=2 for usage errors)
# with exactly one line on stderr, matching the extended regex PATTERN, and
# nothing on stdout.
fails() {
	local name=$1 pat=$2
	shift 2
	run "$name" "$@"
	if [ "$RC" = "${WANT_RC:-1}" ] && [ "$(wc -l <"$T/$name.err")" = 1 ] && grep -Eq -- "$pat" "$T/$name.err" &&
		[ ! -s "$T/$name.out" ]; then
		pass "$name: $(cat "$T/$name.err")"
	else
		fail "$name: exit $RC, stderr '$(head -3 "$T/$name.err")', stdout '$(head -3 "$T/$name.out")' (wanted /$pat/)"
	fi
}

# same_out NAME EXPECTED_FILE: $T/NAME.out must equal the file.
same_out() {
	if cmp -s "$T/$1.out" "$2"; then
		pass "$1: output as expected"
	else
		fail "$1: output differs (exit $RC)"
		diff -u "$2" "$T/$1.out" | head -20 | sed 's/^/    /'
		head -3 "$T/$1.err" | sed 's/^/    err: /'
	fi
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	local i
	for i in $(seq 1 $(($3 * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ---- a protocol client to push generations and hold files open ------------------------------------
cat >"$T/cli.py" <<'EOF'
# cli.py ADDR JOB push GEN IMAGE [commit] | ADDR JOB hold PATH RELEASE_FILE
# A minimal client of PROTOCOL.md: HELLO, CKPT_PREPARE/DONE/COMMIT, OPEN/CLOSE.
import os, socket, struct, sys, time

M = (1 << 64) - 1
P1, P2, P3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
P4, P5 = 9650029242287828579, 2870177450012600261

def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M

def rnd(acc, v):
    return (rotl((acc + v * P2) & M, 31) * P1) & M

def xxh64(b):
    n, i = len(b), 0
    if n >= 32:
        v = [(P1 + P2) & M, P2, 0, (-P1) & M]
        while i + 32 <= n:
            w = struct.unpack_from('<4Q', b, i)
            v = [rnd(v[k], w[k]) for k in range(4)]
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for k in range(4):
            h = ((h ^ rnd(0, v[k])) * P1 + P4) & M
    else:
        h = P5
    h = (h + n) & M
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from('<Q', b, i)[0]), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ ((struct.unpack_from('<I', b, i)[0] * P1) & M), 23) * P2 + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ ((b[i] * P5) & M), 11) * P1) & M
        i += 1
    h = ((h ^ (h >> 33)) * P2) & M
    h = ((h ^ (h >> 29)) * P3) & M
    return h ^ (h >> 32)

def s(x):
    x = x.encode()
    return struct.pack('>H', len(x)) + x

class Conn:
    def __init__(self, addr, job):
        self.sk = socket.socket(socket.AF_UNIX)
        self.sk.connect(addr[5:])
        self.id = 0
        hello = struct.pack('>HBIIQI', 1, 1, 4096, os.getpid(), 0, 4259840) + s('x86_64') + s(job) + s('cli.py')
        self.call(1, hello)

    def recv(self, n):
        b = b''
        while len(b) < n:
            k = self.sk.recv(n - len(b))
            if not k:
                sys.exit('cli.py: the server closed the session')
            b += k
        return b

    def call(self, typ, payload, check=True):
        self.id += 1
        self.sk.sendall(struct.pack('>IHHQ', 16 + len(payload), typ, 0, self.id) + payload)
        length, rtyp, flags, rid = struct.unpack('>IHHQ', self.recv(16))
        body = self.recv(length - 16)
        if flags & 2 and check:
            sys.exit('cli.py: error reply %d: %s' % (struct.unpack('>H', body[:2])[0], body[4:].decode()))
        return body

c = Conn(sys.argv[1], sys.argv[2])
if sys.argv[3] == 'push':
    gen, img = int(sys.argv[4]), open(sys.argv[5], 'rb').read()
    for off in range(0, len(img), 1 << 20):
        chunk = img[off:off + (1 << 20)]
        c.call(32, struct.pack('>QQQI', gen, off, len(img), len(chunk)) + chunk)
    c.call(33, struct.pack('>QQQ', gen, len(img), xxh64(img)))
    if len(sys.argv) > 6 and sys.argv[6] == 'commit':
        c.call(34, struct.pack('>Q', gen))
elif sys.argv[3] == 'hold':
    h = struct.unpack('>Q', c.call(2, s(sys.argv[4]) + struct.pack('>II', 0x12, 0o644))[:8])[0]
    print('open', flush=True)
    while not os.path.exists(sys.argv[5]):
        time.sleep(0.05)
    c.call(3, struct.pack('>Q', h))
EOF
cli() { "$PY" "$T/cli.py" "$@"; }

# ---- the basics ------------------------------------------------------------------------------------
run version "$CKPT" --version
echo "ckpt $(cat "$TOP/VERSION")" >"$T/version.want"
same_out version "$T/version.want"
run help "$CKPT" --help
if [ "$RC" = 0 ] && grep -q '^  list ' "$T/help.out" && grep -q '^  rollback ' "$T/help.out"; then
	pass "ckpt --help"
else
	fail "ckpt --help: exit $RC"
fi
for c in list inspect checkpoint rollback; do
	run "help-$c" "$CKPT" "$c" --help
	if [ "$RC" = 0 ] && grep -q "^usage: ckpt $c " "$T/help-$c.out"; then
		pass "ckpt $c --help"
	else
		fail "ckpt $c --help: exit $RC: $(head -2 "$T/help-$c.out")"
	fi
done
run badcmd "$CKPT" frobnicate
if [ "$RC" = 2 ] && [ "$(cat "$T/badcmd.err")" = "ckpt: unknown command 'frobnicate' (list, inspect, checkpoint, rollback, keygen); try 'ckpt --help'" ]; then
	pass "an unknown command: exit 2, one line"
else
	fail "unknown command: exit $RC: $(cat "$T/badcmd.err")"
fi
run noargs "$CKPT" list
if [ "$RC" = 2 ] && [ "$(wc -l <"$T/noargs.err")" = 1 ] && grep -q "^ckpt list: say where" "$T/noargs.err"; then
	pass "ckpt list without a source: exit 2, one line"
else
	fail "ckpt list without a source: exit $RC: $(cat "$T/noargs.err")"
fi
run badaddr "$CKPT" list --server http://x
if [ "$RC" = 2 ] && grep -q "expected tcp:HOST:PORT or unix:PATH" "$T/badaddr.err"; then
	pass "a malformed server address: $(cat "$T/badaddr.err")"
else
	fail "bad address: exit $RC: $(cat "$T/badaddr.err")"
fi

# ---- a bare image: inspect, and ckpt-restore still reads it ------------------------------------------
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$T/stack.img" "$PROGS/ckpt_stack") \
	</dev/null >"$T/stack.out1" 2>"$T/stack.err1" &
PID=$!
BG_PIDS+=("$PID")
if wait_for "$T/stack.out1" '^READY' 10; then
	kill -USR1 "$PID"
	wait_for "$T/stack.err1" 'checkpoint written' 20
	mv "$T/stack.img" "$T/stack1.img" 2>/dev/null
	kill -USR1 "$PID"
	for _ in $(seq 1 400); do [ -e "$T/stack.img" ] && break; sleep 0.05; done
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
else
	fail "ckpt_stack never got ready: $(cat "$T/stack.err1")"
fi
if [ -s "$T/stack1.img" ] && [ -s "$T/stack.img" ]; then
	mv "$T/stack.img" "$T/stack2.img"
	run inspect-img "$CKPT" inspect "$T/stack1.img"
	out=$T/inspect-img.out
	if [ "$RC" = 0 ] &&
		grep -q "^program      $PROGS/ckpt_stack, pid [0-9]*, tid [0-9]*\$" "$out" &&
		grep -q '^backtrace    64 frames (the first ones: the stack is deeper)$' "$out" &&
		grep -Eq "^  #[0-9]+ 0x[0-9a-f]+ dive\+0x[0-9a-f]+ \($PROGS/ckpt_stack\)\$" "$out" &&
		grep -Eq '^  #0 0x[0-9a-f]+ [a-z_]*nanosleep\+0x[0-9a-f]+ \(/.*libc\.so\.6\)$' "$out" &&
		grep -Eq "^  fd 1 +file +w +flags 0x[0-9a-f]+ offset [0-9]+ +$T/stack.out1\$" "$out" &&
		grep -q '^registers    rip 0x' "$out" && grep -q '^task         cwd '"$WD"', umask ' "$out" &&
		grep -q '^  SIGUSR1      handler 0x' "$out" &&
		grep -Eq '^memory       [0-9]+ regions, .* pages saved' "$out" && grep -q ' \[stack\]$' "$out"; then
		pass "inspect of an image: program, fds, regions, and the backtrace names dive() in ckpt_stack: $(grep -m1 ' dive+' "$out")"
	else
		fail "inspect of an image: exit $RC: $(head -3 "$T/inspect-img.err")"
		sed 's/^/    /' "$out" | grep -E '^    (program|backtrace|  #0|  #2|  fd)' | head -8
	fi
	if "$RESTORE" --info "$T/stack1.img" >"$T/info.out" 2>&1 && grep -q '\[stack\]' "$T/info.out"; then
		pass "ckpt-restore --info reads an image with a BACKTRACE section"
	else
		fail "ckpt-restore --info: $(head -3 "$T/info.out")"
	fi
	(cd "$WD" && in_clean timeout -k 5 "$TIMEOUT" "$RESTORE" "$T/stack2.img") </dev/null >"$T/stack.out2" 2>"$T/stack.err2"
	if [ $? = 0 ] && grep -q '^PASS' "$T/stack.out2"; then
		pass "an image checkpointed twice (the backtrace left no fd behind) restores: PASS"
	else
		fail "restore of the second image: $(cat "$T/stack.out2" "$T/stack.err2" | head -5)"
	fi

	# corrupt, truncated and foreign files: one line, exit 1
	cp "$T/stack1.img" "$T/bad.img"
	size=$(stat -c %s "$T/bad.img")
	printf '\x55\xaa' | dd of="$T/bad.img" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
	fails inspect-corrupt "^ckpt: $T/bad.img: the image is corrupt: XXH64 checksum mismatch \([0-9a-f]{16}, the footer says [0-9a-f]{16}\)\$" \
		"$CKPT" inspect "$T/bad.img"
	head -c $((size - 1000)) "$T/stack1.img" >"$T/short.img"
	fails inspect-truncated "^ckpt: $T/short.img: the image is corrupt: no footer: truncated, or the checkpoint did not finish\$" \
		"$CKPT" inspect "$T/short.img"
	head -c 30 "$T/stack1.img" >"$T/tiny.img"
	fails inspect-tiny "^ckpt: $T/tiny.img: the image is corrupt: 30 bytes are too few for an image\$" \
		"$CKPT" inspect "$T/tiny.img"
fi
: >"$T/empty"
fails inspect-empty "^ckpt: $T/empty: 0 bytes are neither a joint checkpoint file nor a process image\$" "$CKPT" inspect "$T/empty"
head -c 5000 /dev/urandom >"$T/noise"
fails inspect-noise "^ckpt: $T/noise is neither a joint checkpoint file nor a process image \(unknown magic\)\$" "$CKPT" inspect "$T/noise"
fails inspect-dir "^ckpt: $T is not a regular file\$" "$CKPT" inspect "$T"
fails inspect-missing "^ckpt: cannot open $T/nonexistent: No such file or directory\$" "$CKPT" inspect "$T/nonexistent"

# ---- two servers; a program checkpointed onto both ------------------------------------------------------
# One committed generation kept, so that the listings below are exact.
need_server A "$T/rootA" --state-dir "$T/stateA" --keep-generations 1
need_server B "$T/rootB" --state-dir "$T/rootB/.ckpt-state" --keep-generations 1 # the default place: --store ROOT
A=unix:$SOCK_A
B=unix:$SOCK_B
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="/a=$A,/b=$B" CKPT_JOB=stk CKPT_RUN_DIR="$RUN" \
	"$PROGS/ckpt_stack") </dev/null >"$T/stk.out1" 2>"$T/stk.err1" &
PID=$!
BG_PIDS+=("$PID")
if wait_for "$T/stk.out1" '^READY' 10; then
	echo "$PID" >"$RUN/stk.pid"
	run ckpt-job "$CKPT" checkpoint --job stk --run-dir "$RUN"
	if [ "$RC" = 0 ] && grep -Eq '^job stk: generation 1, image [0-9]+\.[0-9] MiB, [0-9]+\.[0-9]{2} s, [0-9]+\.[0-9] MB/s$' "$T/ckpt-job.out"; then
		pass "checkpoint --job: $(cat "$T/ckpt-job.out")"
	else
		fail "checkpoint --job: exit $RC: $(cat "$T/ckpt-job.out" "$T/ckpt-job.err" "$T/stk.err1" | head -5)"
	fi
	# by pid: the job, the run directory and the signal from its environment
	run ckpt-pid env -u CKPT_RUN_DIR "$CKPT" checkpoint "$PID"
	if [ "$RC" = 0 ] && grep -Eq '^job stk: generation 2, image ' "$T/ckpt-pid.out"; then
		pass "checkpoint PID (job and run directory from its environment): $(cat "$T/ckpt-pid.out")"
	else
		fail "checkpoint PID: exit $RC: $(cat "$T/ckpt-pid.out" "$T/ckpt-pid.err" | head -5)"
	fi
	image=$(sed -n 's/.* image=\([0-9]*\) .*/\1/p' "$RUN/stk.status")
	printf '%-24s %10s  %-9s  %s\n' JOB GENERATION STATE IMAGE_BYTES stk 2 committed "$image" >"$T/list-stk.want"
	run list-stk "$CKPT" list --server "$B" --job stk
	same_out list-stk "$T/list-stk.want"
	run inspect-stk "$CKPT" inspect --job stk --state-dir "$T/stateA"
	if [ "$RC" = 0 ] && grep -q "^file         $T/stateA/stk/gen-2.ckpt\$" "$T/inspect-stk.out" &&
		grep -q '^job          stk, generation 2$' "$T/inspect-stk.out" &&
		grep -q '^client       x86_64, little-endian, page size 4096$' "$T/inspect-stk.out" &&
		grep -q "^image        $image bytes, format 1" "$T/inspect-stk.out" &&
		grep -Eq " dive\+0x[0-9a-f]+ \($PROGS/ckpt_stack\)\$" "$T/inspect-stk.out"; then
		pass "inspect --job --state-dir: the joint file of generation 2 and the backtrace in its image"
	else
		fail "inspect of the joint file: exit $RC: $(head -3 "$T/inspect-stk.err")"
	fi
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	run rollback-stk "$CKPT" rollback --job stk --server "$A" --server "$B" --run-dir "$RUN"
	if [ "$RC" = 0 ] && [ "$(cat "$T/rollback-stk.out")" = "$RUN/stk.img" ] &&
		[ "$(cat "$T/rollback-stk.err")" = "job stk: rolled back to generation 2 on 2 server(s); image $image bytes" ] &&
		[ "$(stat -c '%s %a' "$RUN/stk.img")" = "$image 600" ] && [ ! -e "$RUN/stk.img.tmp" ]; then
		pass "rollback onto two servers: $(cat "$T/rollback-stk.err")"
	else
		fail "rollback: exit $RC: $(cat "$T/rollback-stk.out" "$T/rollback-stk.err")"
	fi
	(cd "$WD" && in_clean timeout -k 5 "$TIMEOUT" "$RESTORE" "$RUN/stk.img") </dev/null >"$T/stk.out2" 2>"$T/stk.err2"
	if [ $? = 0 ] && grep -q '^PASS' "$T/stk.out2"; then
		pass "the fetched image restores: the program finishes (PASS)"
	else
		fail "restore of the fetched image: $(cat "$T/stk.out2" "$T/stk.err2" | head -5)"
	fi
else
	fail "ckpt_stack under two servers never got ready: $(cat "$T/stk.err1")"
fi

# ---- generations pushed by hand: A holds 1 2 3, B holds 1 2 (job syn) -------------------------------------
imgs=("" "$T/stack1.img" "$T/stack2.img" "$T/stack1.img")
ok=1
for g in 1 2 3; do cli "$A" syn push "$g" "${imgs[$g]}" || ok=0; done
for g in 1 2; do cli "$B" syn push "$g" "${imgs[$g]}" || ok=0; done
[ "$ok" = 1 ] || fail "pushing generations with cli.py"
s1=$(stat -c %s "$T/stack1.img")
s2=$(stat -c %s "$T/stack2.img")
{
	printf '%-24s %10s  %-9s  %s\n' JOB GENERATION STATE IMAGE_BYTES
	printf '%-24s %10s  %-9s  %s\n' stk 2 committed "${image:-?}" syn 1 prepared "$s1" syn 2 prepared "$s2" syn 3 prepared "$s1"
} >"$T/list-a.want"
run list-a "$CKPT" list --server "$A"
same_out list-a "$T/list-a.want"
run list-store "$CKPT" list --store "$T/rootB" --job syn
if [ "$RC" = 0 ] && [ "$(grep -c ' prepared .* ok$' "$T/list-store.out")" = 2 ]; then
	pass "list --store: two generations whose joint files check out"
else
	fail "list --store: exit $RC: $(cat "$T/list-store.out" "$T/list-store.err")"
fi
fails list-nojob "^ckpt: job nosuch has no checkpoints in $T/stateA\$" "$CKPT" list --state-dir "$T/stateA" --job nosuch
fails rb-unreachable "^ckpt: cannot connect to unix:$T/nowhere.sock: No such file or directory \(is ckpt-server running there\?\); nothing was rolled back \(start that server again, or give it up with --without unix:$T/nowhere.sock: its files are then not rolled back\)\$" \
	"$CKPT" rollback --job syn --server "$A" --server "unix:$T/nowhere.sock" --output "$T/x.img"
fails rb-gen3 "^ckpt: generation 3 of job syn is not held by server $B \(it holds 1, 2\)\$" \
	"$CKPT" rollback --job syn --server "$A" --server "$B" --generation 3 --output "$T/x.img"
fails rb-nojob "^ckpt: server $A holds no generation of job nosuch\$" \
	"$CKPT" rollback --job nosuch --server "$A" --output "$T/x.img"
WANT_RC=2 fails rb-usage "^ckpt rollback: --timeout wants a number of seconds, not 'soon'; try 'ckpt rollback --help'\$" \
	"$CKPT" rollback --job syn --server "$A" --timeout soon
# a corrupt joint file: the server's message, and the older generation every server holds
cp "$T/stateA/syn/gen-2.ckpt" "$T/gen-2.save"
printf '\x55' | dd of="$T/stateA/syn/gen-2.ckpt" bs=1 seek=6000 conv=notrunc 2>/dev/null
run list-bad "$CKPT" list --state-dir "$T/stateA" --job syn
if grep -Eq '^syn +2  prepared .* BAD: the joint file is corrupt: section checksum mismatch \(content corrupt\) \(the client-image section, type 1\)$' "$T/list-bad.out"; then
	pass "list --state-dir flags the corrupt joint file"
else
	fail "list of a corrupt store: $(cat "$T/list-bad.out" "$T/list-bad.err")"
fi
fails inspect-badjoint "^ckpt: $T/stateA/syn/gen-2.ckpt: the joint file is corrupt: section checksum mismatch" \
	"$CKPT" inspect --job syn --state-dir "$T/stateA" --generation 2
fails rb-ebadmsg "^ckpt: server $A: gen-2.ckpt is corrupt: section checksum mismatch \(content corrupt\) \(client image section\); try an older generation; every server also holds generation 1: try --generation 1; nothing was rolled back\$" \
	"$CKPT" rollback --job syn --server "$A" --server "$B" --output "$T/x.img"
cp "$T/gen-2.save" "$T/stateA/syn/gen-2.ckpt"
head -c 5000 "$T/gen-2.save" >"$T/short.ckpt"
fails inspect-shortjoint "^ckpt: $T/short.ckpt: the joint file is corrupt: it has 5000 bytes, its header says [0-9]+ \(truncated or grown\)\$" \
	"$CKPT" inspect "$T/short.ckpt"
# a busy job: a session of it has a file open on A
rm -f "$T/release"
cli "$A" syn hold held.txt "$T/release" >"$T/hold.out" 2>&1 &
HOLD=$!
BG_PIDS+=("$HOLD")
wait_for "$T/hold.out" '^open' 10
t0=$(now)
fails rb-busy "^ckpt: server $A: another session of job syn has 1 file open; a rollback needs them closed; still busy after 1 s" \
	"$CKPT" rollback --job syn --server "$A" --server "$B" --busy-wait 1 --output "$T/x.img"
took=$(elapsed "$t0")
le 0.9 "$took" && le "$took" 5 || fail "rb-busy: gave up after $took s, not about 1 s"
(sleep 1; touch "$T/release") &
BG_PIDS+=($!)
run rb-newest "$CKPT" rollback --job syn --server "$A" --server "$B" --busy-wait 20 --output "$T/syn.img"
if [ "$RC" = 0 ] && [ "$(cat "$T/rb-newest.err")" = "job syn: rolled back to generation 2 on 2 server(s); image $s2 bytes" ] &&
	cmp -s "$T/syn.img" "$T/stack2.img" && [ "$(cat "$T/rb-newest.out")" = "$T/syn.img" ]; then
	pass "rollback waits out a busy job, then picks the newest generation both hold (2), image as pushed"
else
	fail "rollback to the newest common generation: exit $RC: $(cat "$T/rb-newest.err")"
fi
wait_gone "$HOLD" 10
run rb-gen1 "$CKPT" rollback --job syn --server "$A" --server "$B" --generation 1 --output "$T/syn1.img"
if [ "$RC" = 0 ] && cmp -s "$T/syn1.img" "$T/stack1.img" &&
	[ "$(cat "$T/rb-gen1.err")" = "job syn: rolled back to generation 1 on 2 server(s); image $s1 bytes" ]; then
	pass "rollback --generation 1: $(cat "$T/rb-gen1.err")"
else
	fail "rollback --generation 1: exit $RC: $(cat "$T/rb-gen1.err")"
fi
run list-after "$CKPT" list --server "$A" --job syn
printf '%-24s %10s  %-9s  %s\n' JOB GENERATION STATE IMAGE_BYTES syn 1 prepared "$s1" >"$T/list-after.want"
same_out list-after "$T/list-after.want"

# a server that stops answering: the session times out
kill -STOP "$PID_B"
t0=$(now)
fails list-timeout "^ckpt: server $B did not answer within 1 s \(HELLO\)\$" "$CKPT" list --server "$B" --timeout 1
took=$(elapsed "$t0")
kill -CONT "$PID_B"
le "$took" 4 || fail "list-timeout: took $took s"

# ---- checkpoint: failures ------------------------------------------------------------------------------
true &
gone=$!
wait "$gone"
fails ckpt-nopid "^ckpt: no process $gone\$" "$CKPT" checkpoint "$gone"
fails ckpt-nojob "^ckpt: job nosuch is not running here: $RUN/nosuch.pid does not exist" \
	"$CKPT" checkpoint --job nosuch --run-dir "$RUN"
echo 999999999 >"$RUN/ghost.pid"
fails ckpt-ghost "^ckpt: job ghost: its process 999999999 \(from $RUN/ghost.pid\) is not running\$" \
	"$CKPT" checkpoint --job ghost --run-dir "$RUN"
sleep 30 &
SLEEPER=$!
BG_PIDS+=("$SLEEPER")
fails ckpt-noshim "^ckpt: process $SLEEPER does not run under the shim" "$CKPT" checkpoint "$SLEEPER" --job x
sleep 0.2
alive "$SLEEPER" && pass "a process without the shim is not signalled (still alive)" ||
	fail "the process without the shim was killed"
kill "$SLEEPER"
wait "$SLEEPER" 2>/dev/null
# a refused checkpoint: two threads
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_MOUNTS="/a=$A" CKPT_JOB=thr CKPT_RUN_DIR="$RUN" \
	"$PROGS/ckpt_thread" "$T/thr.go") </dev/null >"$T/thr.out1" 2>"$T/thr.err1" &
PID=$!
BG_PIDS+=("$PID")
if wait_for "$T/thr.out1" '^READY' 10; then
	fails ckpt-refused "^ckpt: job thr: checkpoint failed: the process has 2 threads" "$CKPT" checkpoint "$PID"
	# stopped: no outcome in time; killed while stopped: gone
	kill -STOP "$PID"
	fails ckpt-timeout "^ckpt: job thr: no outcome from process $PID within 1 s \($RUN/thr.status did not appear\)\$" \
		"$CKPT" checkpoint "$PID" --timeout 1
	("$CKPT" checkpoint "$PID" >"$T/ckpt-died.out" 2>"$T/ckpt-died.err"; echo $? >"$T/ckpt-died.rc") &
	sleep 0.5
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	for _ in $(seq 1 100); do [ -s "$T/ckpt-died.rc" ] && break; sleep 0.05; done
	if [ "$(cat "$T/ckpt-died.rc" 2>/dev/null)" = 1 ] &&
		[ "$(cat "$T/ckpt-died.err")" = "ckpt: job thr: process $PID ended before the checkpoint finished" ]; then
		pass "a process killed before its checkpoint finished: $(cat "$T/ckpt-died.err")"
	else
		fail "a process that died: rc $(cat "$T/ckpt-died.rc" 2>/dev/null): $(cat "$T/ckpt-died.err")"
	fi
else
	fail "ckpt_thread never got ready: $(cat "$T/thr.err1")"
fi
# checkpoints off, and a signal the process does not checkpoint on
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_SIGNAL=off CKPT_JOB=off1 "$PROGS/ckpt_thread" "$T/off.go") \
	</dev/null >"$T/off.out1" 2>&1 &
PID=$!
BG_PIDS+=("$PID")
if wait_for "$T/off.out1" '^READY' 10; then
	fails ckpt-off "^ckpt: process $PID has checkpoints off \(CKPT_SIGNAL=off\)\$" "$CKPT" checkpoint "$PID"
	touch "$T/off.go"
fi
(cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_SIGNAL=USR2 CKPT_JOB=sig2 "$PROGS/ckpt_thread" "$T/sig.go") \
	</dev/null >"$T/sig.out1" 2>&1 &
PID=$!
BG_PIDS+=("$PID")
if wait_for "$T/sig.out1" '^READY' 10; then
	fails ckpt-wrongsig "^ckpt: process $PID checkpoints on CKPT_SIGNAL=USR2; --signal USR1 would not ask it for one\$" \
		"$CKPT" checkpoint "$PID" --signal USR1
	touch "$T/sig.go"
fi
WANT_RC=2 fails ckpt-usage "^ckpt checkpoint: name the process: a PID or --job NAME; try 'ckpt checkpoint --help'\$" \
	"$CKPT" checkpoint

finish

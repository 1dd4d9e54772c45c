#!/bin/bash
# direct.sh - direct reads (READ_FD, PROTOCOL.md 4.3). A program on the
# server's host, connected by a unix socket and running as the server's user,
# reads the remote files it has open from read-only descriptors the server
# hands out, after its first fetch of each; every other client (tcp, another
# uid, CKPT_LOCAL_READS=0, a server with --no-read-fds) reads through the
# session. Either way the bytes must equal the file's, byte for byte, and a
# direct reader sees every write at once, its own and other clients'.
# Counts of requests come from the log of servers at debug level.
source "$(dirname "$0")/lib.sh"
unset CKPT_LOCAL_READS # the default, whatever the caller set

need_server d "$T/root" --log-level debug
M=/data=unix:$SOCK_d
head -c $((16 << 20)) /dev/urandom >"$T/root/big"
sum_big=$(md5sum <"$T/root/big")

# oks NAME TYPE: how many TYPE requests server NAME has answered without error.
oks() { grep -c -E " $2 #[0-9]+ -> ok" "$T/$1.log"; }
# reqs NAME TYPE: how many TYPE requests server NAME has logged.
reqs() { grep -c -E " $2 #[0-9]+ -> " "$T/$1.log"; }
# py MOUNTS SCRIPT [VAR=VALUE...]: python3 -c SCRIPT under the shim.
py() {
	local m=$1 script=$2
	shift 2
	env "$@" timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$m" "$PY" -c "$script"
}
# expect NAME WANT GOT: PASS if equal.
expect() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$3', want '$2'"; fi; }

# ---- a whole file in 1 MiB blocks: one READ_FD, the rest read directly ----------------------
r0=$(oks d READ_FD); p0=$(reqs d PREAD)
got=$(py "$M" "import hashlib, sys
f = open('/data/big', 'rb', buffering=0); h = hashlib.md5()
while True:
    b = f.read(1 << 20)
    if not b: break
    h.update(b)
print(h.hexdigest() + '  -')")
expect "1 MiB reads of a 16 MiB file: same bytes" "$sum_big" "$got"
r=$(( $(oks d READ_FD) - r0 )); p=$(( $(reqs d PREAD) - p0 ))
if [ "$r" = 1 ] && [ "$p" -le 2 ]; then pass "1 MiB reads: one READ_FD and $p PREADs (at most 2) for 16 MiB"
else fail "1 MiB reads: $r READ_FDs and $p PREADs, want 1 and at most 2"; fi

# ---- real programs --------------------------------------------------------------------------
r0=$(oks d READ_FD)
expect "md5sum of a remote file (direct reads)" "$sum_big" \
	"$(shimt "$M" md5sum </dev/null /data/big | sed 's| .*||')  -"
expect "cat | md5sum (direct reads)" "$sum_big" "$(shimt "$M" cat /data/big | md5sum)"
r=$(( $(oks d READ_FD) - r0 ))
[ "$r" -ge 2 ] && pass "md5sum and cat asked READ_FD ($r)" || fail "md5sum and cat: $r READ_FDs"

# ---- small files read in one go ask for nothing -----------------------------------------------
mkdir -p "$T/root/small"
for i in $(seq 1 20); do head -c $((i * 1000)) /dev/urandom >"$T/root/small/s$i"; done
r0=$(reqs d READ_FD)
expect "cat of 20 small files (1 to 20 KB): same bytes" "$(cat "$T"/root/small/s* | md5sum)" \
	"$(shimt "$M" sh -c 'cat /data/small/s*' | md5sum)"
expect "20 small files read in one go: no READ_FD" 0 $(( $(reqs d READ_FD) - r0 ))

# ---- random 4 KiB reads, compared with the local file -----------------------------------------
rnd="import random, hashlib
random.seed(7); h = hashlib.md5(); f = open(PATH, 'rb', buffering=0)
for i in range(500):
    f.seek(random.randrange(0, 16 << 20)); h.update(f.read(4096))
print(h.hexdigest())"
want=$("$PY" -c "${rnd/PATH/\'$T/root/big\'}")
p0=$(reqs d PREAD)
expect "500 random 4 KiB reads: same bytes" "$want" "$(py "$M" "${rnd/PATH/\'/data/big\'}")"
p=$(( $(reqs d PREAD) - p0 ))
[ "$p" -le 2 ] && pass "500 random 4 KiB reads took $p PREADs (at most 2)" || fail "random reads: $p PREADs"

# ---- another client's write is seen at once ----------------------------------------------------
head -c $((8 << 20)) /dev/urandom >"$T/root/co"
coproc READER { py "$M" "import sys
f = open('/data/co', 'rb', buffering=0)
f.read(1 << 20); f.read(1 << 20)
print('ready', flush=True)
sys.stdin.readline()
f.seek(4 << 20); print(f.read(16).decode('latin-1'), flush=True)"; }
read -r -t 30 line <&"${READER[0]}"
if [ "$line" = ready ]; then
	printf 'NEWDATA-NEWDATA!' | shimt "$M" dd of=/data/co bs=16 seek=$(((4 << 20) / 16)) conv=notrunc 2>/dev/null
	echo go >&"${READER[1]}"
	read -r -t 30 line <&"${READER[0]}"
	expect "a write by another client is seen by a direct reader at once" "NEWDATA-NEWDATA!" "$line"
else
	fail "coherence: the reader never got ready ($line)"
fi
wait "$READER_PID" 2>/dev/null

# ---- a direct reader notices a server that went away --------------------------------------------
# restarted on the same socket: the reader carries on (reconnected, same bytes);
# not restarted: its next read fails with EIO once CKPT_RECONNECT_TIMEOUT ran out.
need_server g "$T/root" --log-level debug
gone="import sys, hashlib
f = open('/data/big', 'rb', buffering=0); h = hashlib.md5()
h.update(f.read(1 << 20)); h.update(f.read(1 << 20))
print('ready', flush=True)
sys.stdin.readline()
try:
    while True:
        b = f.read(1 << 20)
        if not b: break
        h.update(b)
    print(h.hexdigest() + '  -', flush=True)
except OSError as e:
    print('error', e.strerror, flush=True)"
for what in restarted gone; do
	coproc GONE { py "/data=unix:$SOCK_g" "$gone" CKPT_RECONNECT_TIMEOUT=3 2>"$T/gone-$what.err"; }
	read -r -t 30 line <&"${GONE[0]}"
	if [ "$line" != ready ]; then fail "server $what: the reader never got ready ($line)"; continue; fi
	[ "$(oks g READ_FD)" -ge 1 ] || fail "server $what: the reader did not read directly"
	kill -KILL "$PID_g"
	wait_gone "$PID_g" 10
	[ "$what" = restarted ] && need_server g "$T/root" --log-level debug
	echo go >&"${GONE[1]}"
	read -r -t 30 line <&"${GONE[0]}"
	wait "$GONE_PID" 2>/dev/null
	if [ "$what" = restarted ]; then
		if [ "$line" = "$sum_big" ] && grep -q "reconnected to unix:$SOCK_g" "$T/gone-$what.err"; then
			pass "server killed and restarted under a direct reader: reconnected, same bytes"
		else
			fail "server restarted: got '$line'; stderr: $(head -3 "$T/gone-$what.err")"
		fi
	elif [ "$line" = "error Input/output error" ] &&
		grep -q "server unix:$SOCK_g not back within 3 s" "$T/gone-$what.err"; then
		pass "server killed under a direct reader: its next read fails with EIO after CKPT_RECONNECT_TIMEOUT"
	else
		fail "server gone: got '$line'; stderr: $(head -3 "$T/gone-$what.err")"
	fi
done

# ---- the descriptor is the shim's: close, closerange, closefrom, dup2 leave it alone; fork shares it
prot="import os, hashlib
f = open(PATH, 'rb', buffering=0); h = hashlib.md5()
h.update(f.read(1 << 20)); h.update(f.read(1 << 20))
mine = [int(d) for d in os.listdir('/proc/self/fd') if int(d) > f.fileno()
        and os.path.exists('/proc/self/fd/' + d) and os.readlink('/proc/self/fd/' + d).endswith('/big')]
if PATH.startswith('/data'):
    print('direct descriptors:', len(mine))
    for d in mine:
        try: os.close(d); print('closed', d)
        except OSError as e: print('close refused:', e.strerror)
        try: os.dup2(0, d); print('dup2 onto it done')
        except OSError as e: print('dup2 refused:', e.strerror)
else:
    print('direct descriptors: 1'); print('close refused: Bad file descriptor'); print('dup2 refused: Bad file descriptor')
os.closerange(f.fileno() + 1, 65536)
import ctypes; ctypes.CDLL(None).closefrom(f.fileno() + 1)
pid = os.fork()
if pid == 0:
    h.update(f.read(3 << 20)); print('child', h.hexdigest(), flush=True); os._exit(0)
os.waitpid(pid, 0)
while True:
    b = f.read(1 << 20)
    if not b: break
    h.update(b)
print('parent', h.hexdigest(), f.tell())"
"$PY" -c "${prot//PATH/\'$T/root/big\'}" >"$T/prot.local" 2>&1
py "$M" "${prot//PATH/\'/data/big\'}" >"$T/prot.remote" 2>&1
same_text "close, dup2, closerange and closefrom leave the direct descriptor alone; fork shares the file; output as local" \
	"$T/prot.local" "$T/prot.remote"

# ---- at most 32 descriptors at once; the other files are read through the session ---------------
mkdir -p "$T/root/many"
for i in $(seq 0 39); do head -c $((3 << 20)) /dev/urandom >"$T/root/many/f$i"; done
many="import os, hashlib
fs = [open(DIR + '/f%d' % i, 'rb', buffering=0) for i in range(40)]
for f in fs: f.read(1 << 20); f.read(1 << 20)
if DIR.startswith('/data'):
    n = sum(1 for d in os.listdir('/proc/self/fd') if os.path.exists('/proc/self/fd/' + d)
            and '/many/f' in os.readlink('/proc/self/fd/' + d))
    print('descriptors:', n)
else:
    print('descriptors: 32')
h = hashlib.md5()
for f in fs: f.seek(0); h.update(f.read())
print(h.hexdigest())"
r0=$(oks d READ_FD)
"$PY" -c "${many//DIR/\'$T/root/many\'}" >"$T/many.local" 2>&1
py "$M" "${many//DIR/\'/data/many\'}" >"$T/many.remote" 2>&1
same_text "40 files open: 32 read directly, 8 through the session; same bytes" "$T/many.local" "$T/many.remote"
expect "40 files open: 32 READ_FDs" 32 $(( $(oks d READ_FD) - r0 ))

# ---- who does not read directly -----------------------------------------------------------------
# plain PY: a reader in 1 MiB blocks; prints the md5 of the file.
plain="import hashlib
f = open('/data/big', 'rb', buffering=0); h = hashlib.md5()
while True:
    b = f.read(1 << 20)
    if not b: break
    h.update(b)
print(h.hexdigest() + '  -')"
r0=$(reqs d READ_FD); p0=$(reqs d PREAD)
expect "CKPT_LOCAL_READS=0: same bytes" "$sum_big" "$(py "$M" "$plain" CKPT_LOCAL_READS=0)"
expect "CKPT_LOCAL_READS=0: no READ_FD" 0 $(( $(reqs d READ_FD) - r0 ))
p=$(( $(reqs d PREAD) - p0 ))
[ "$p" -ge 16 ] && pass "CKPT_LOCAL_READS=0: $p PREADs" || fail "CKPT_LOCAL_READS=0: only $p PREADs"
out=$(py "$M" "print(1)" CKPT_LOCAL_READS=yes 2>&1)
case "$out" in *CKPT_LOCAL_READS*) pass "CKPT_LOCAL_READS=yes is refused naming the variable" ;;
	*) fail "CKPT_LOCAL_READS=yes: $out" ;; esac

need_server n "$T/root" --log-level debug --no-read-fds
expect "--no-read-fds: same bytes" "$sum_big" "$(py "/data=unix:$SOCK_n" "$plain")"
expect "--no-read-fds: no READ_FD asked" 0 "$(reqs n READ_FD)"

need_server t "$T/root" --log-level debug --listen tcp:127.0.0.1:0
tcp=$(grep '^tcp:' "$T/t.ready")
expect "tcp: same bytes" "$sum_big" "$(py "/data=$tcp" "$plain")"
expect "tcp: no READ_FD asked" 0 "$(reqs t READ_FD)"
# the HELLO log line says when the offer is made
offered() { grep -c 'HELLO: .*; READ_FD offered' "$T/$1.log"; }
[ "$(offered d)" -ge 1 ] && [ "$(offered n)" = 0 ] && [ "$(offered t)" = 0 ] &&
	pass "the server logs the READ_FD offer at HELLO, and only where it is made" ||
	fail "READ_FD offer in the logs: d $(offered d), --no-read-fds $(offered n), tcp $(offered t)"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/pub" && chmod 755 "$T" "$T/pub" && chmod 644 "$T/root/big"
	need_server u "$T/root" --log-level debug --listen "unix:$T/pub/u.sock" --allow-uid 65534
	chmod 666 "$T/pub/u.sock"
	got=$(setpriv --reuid 65534 --regid 65534 --clear-groups env LD_PRELOAD="$SHIM" \
		CKPT_MOUNTS="/data=unix:$T/pub/u.sock" timeout -k 5 "$TIMEOUT" "$PY" -c "$plain" 2>&1)
	chmod 700 "$T"
	expect "a client of another uid: same bytes" "$sum_big" "$got"
	expect "a client of another uid: no READ_FD (not offered)" 0 "$(reqs u READ_FD)"
else
	skip "a client of another uid: needs root and setpriv"
fi
finish

#!/bin/bash
# reconnect.sh - a server restarted while a program does I/O: the shim waits
# for it (CKPT_RECONNECT_TIMEOUT), reconnects, sends again the writes whose
# acknowledgement never came, reopens its files by path, and the program
# carries on with the same result as an uninterrupted run; a server that is
# not back in time turns into EIO within a bounded time; appends are never
# doubled or lost silently.
source "$(dirname "$0")/lib.sh"

# A copier: reads /data/in in 64 KiB blocks, writes them to /data/out in small
# pieces (write-behind) and in 2 MiB writes (pipelined), reads some back with
# pread, stats, and prints a digest of what it read. Paced so a restart falls
# in the middle.
cat >"$T/copier.py" <<'PY'
import hashlib, os, sys, time
src, dst, pace = sys.argv[1], sys.argv[2], float(sys.argv[3])
fi = os.open(src, os.O_RDONLY)
fo = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
h = hashlib.sha256()
pend = b""
done = 0
i = 0
while True:
    b = os.read(fi, 65536)
    if not b:
        break
    h.update(b)
    if i % 32 < 16:
        os.write(fo, b[:100]); os.write(fo, b[100:5000]); os.write(fo, b[5000:])
        done += len(b)
    else:
        pend += b
        if len(pend) >= 1 << 20:
            os.write(fo, pend)
            done += len(pend)
            pend = b""
    if i % 40 == 39:
        back = os.pread(fo, 4096, done - 4096)
        if len(back) != 4096:
            print("short read back", len(back)); sys.exit(4)
        os.fstat(fo); os.stat(src)
    i += 1
    time.sleep(pace)
os.write(fo, pend)
os.fsync(fo)
os.close(fo)
os.close(fi)
print("read", h.hexdigest())
PY
"$PY" - "$T/in" <<'PY'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "wb") as f:
    for k in range(12):
        f.write(bytes(r.getrandbits(8) for _ in range(1 << 20)))
PY
expected_digest="read $(sha256sum "$T/in" | cut -d' ' -f1)"

# restart_under NAME SIGNAL: run the copier, stop the server with SIGNAL after
# about 1 s, start it again on the same socket and root 1 s later.
restart_under() {
	local name=$1 sig=$2 w t0 el got
	mkdir -p "$T/r$name"
	cp "$T/in" "$T/r$name/in"
	need_server "$name" "$T/r$name"
	local sock pid
	eval "sock=\$SOCK_$name pid=\$PID_$name"
	(CKPT_RECONNECT_TIMEOUT=20 shimt "/data=unix:$sock" "$PY" "$T/copier.py" /data/in /data/out 0.012) \
		>"$T/$name.out" 2>"$T/$name.err" &
	w=$!
	BG_PIDS+=("$w")
	for _ in $(seq 1 100); do
		[ "$(stat -c %s "$T/r$name/out" 2>/dev/null || echo 0)" -gt 2000000 ] && break
		sleep 0.02
	done
	got=$(stat -c %s "$T/r$name/out" 2>/dev/null || echo 0)
	{ kill -"$sig" "$pid"; wait_gone "$pid" 15; } 2>/dev/null
	sleep 1
	t0=$(now)
	start_server "$name" "$T/r$name" || fail "restart server $name"
	wait_gone "$w" 60
	el=$(elapsed "$t0")
	if [ "$RC" = 0 ] && [ "$(cat "$T/$name.out")" = "$expected_digest" ]; then
		pass "server restarted ($sig) under a reader/writer: it finishes with no error (${got} bytes written before the stop; done ${el}s after the restart)"
	else
		fail "server restarted ($sig) under a reader/writer: status $RC, output '$(cat "$T/$name.out")'; stderr:"
		sed 's/^/    /' "$T/$name.err" | head -10
	fi
	same "server restarted ($sig): the output is byte-identical to the input (writes in flight sent again, none lost)" \
		"$T/in" "$T/r$name/out"
	if grep -q 'reconnected to .*sent again' "$T/$name.err"; then
		pass "server restarted ($sig): the shim said it reconnected ($(grep -o 'reconnected to.*' "$T/$name.err" | head -1 | sed 's/unix:[^ ]*//'))"
	else
		fail "server restarted ($sig): no 'reconnected' line; stderr:"
		sed 's/^/    /' "$T/$name.err" | head -10
	fi
}

# ---- 1. SIGKILL, then SIGTERM (orderly stop), the server back after 1 s --------------
restart_under k KILL
restart_under t TERM

# ---- 2. a positioned writer: every record in place, none doubled -----------------------
# pwrite at explicit offsets, small (write-behind) and big (pipelined), over a
# restart; the file must be exactly what an uninterrupted run writes.
cat >"$T/pwriter.py" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n = int(sys.argv[2])
for i in range(n):
    rec = (b"%07d " % i) * (128 if i % 7 else 20000)
    os.pwrite(fd, rec, i * 160000)
    if i % 10 == 9:
        time.sleep(0.01)
os.close(fd)
print("ok")
PY
"$PY" - "$T/pw.expected" 400 <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    for i in range(n):
        f.seek(i * 160000)
        f.write((b"%07d " % i) * (128 if i % 7 else 20000))
PY
need_server p "$T/rp"
(CKPT_RECONNECT_TIMEOUT=20 shimt "/data=unix:$SOCK_p" "$PY" "$T/pwriter.py" /data/pw 400) >"$T/p.out" 2>"$T/p.err" &
w=$!
BG_PIDS+=("$w")
for _ in $(seq 1 100); do
	[ "$(stat -c %s "$T/rp/pw" 2>/dev/null || echo 0)" -gt 10000000 ] && break
	sleep 0.02
done
{ kill -KILL "$PID_p"; wait_gone "$PID_p" 15; } 2>/dev/null
sleep 1
start_server p "$T/rp" || fail "restart server p"
wait_gone "$w" 60
if [ "$RC" = 0 ] && [ "$(cat "$T/p.out")" = ok ]; then
	pass "positioned writer across a SIGKILL restart: no error"
else
	fail "positioned writer across a SIGKILL restart: status $RC; stderr:"
	sed 's/^/    /' "$T/p.err" | head -10
fi
same "positioned writer: the file equals an uninterrupted run's" "$T/pw.expected" "$T/rp/pw"

# ---- 3. the server is not back within CKPT_RECONNECT_TIMEOUT: EIO, in bounded time -----
need_server g "$T/rg"
cat >"$T/gone.py" <<'PY'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
buf = b"y" * 65536
try:
    while True:
        os.write(fd, buf)
        os.fsync(fd)
        time.sleep(0.01)
except OSError as e:
    print("error %s %.3f" % (errno.errorcode[e.errno], time.time()), flush=True)
    sys.exit(3)
PY
(CKPT_RECONNECT_TIMEOUT=2 shimt "/data=unix:$SOCK_g" "$PY" "$T/gone.py" /data/g) >"$T/g.out" 2>"$T/g.err" &
w=$!
BG_PIDS+=("$w")
for _ in $(seq 1 100); do
	[ "$(stat -c %s "$T/rg/g" 2>/dev/null || echo 0)" -gt 300000 ] && break
	sleep 0.02
done
{ kill -KILL "$PID_g"; wait "$PID_g"; } 2>/dev/null
t0=$(now)
wait_gone "$w" 30
el=$(elapsed "$t0")
read -r _ err terr <"$T/g.out"
if [ "$err" = EIO ]; then eel=$(elapsed "$t0" "$terr"); else eel=999; fi
if [ "$RC" = 3 ] && [ "$err" = EIO ] && ! le "$eel" 1.5 && le "$eel" 5; then
	pass "server not back within CKPT_RECONNECT_TIMEOUT=2: the program gets EIO ${eel}s after the kill"
else
	fail "server not back within CKPT_RECONNECT_TIMEOUT=2: status $RC after ${el}s, output '$(cat "$T/g.out")' (EIO expected 2-5 s after the kill)"
fi
line=$(grep 'CKPT_RECONNECT_TIMEOUT' "$T/g.err" | grep -v reconnecting | head -1)
if [[ $line == *"not back within 2 s"* ]] && [[ $line == *"$SOCK_g"* ]]; then
	pass "server not back: one line names the server and the variable (${line#ckptshim: })"
else
	fail "server not back: no clear line; stderr:"
	sed 's/^/    /' "$T/g.err" | head -6
fi
# CKPT_RECONNECT_TIMEOUT=0: today's behaviour, EIO at once.
need_server z "$T/rz"
(CKPT_RECONNECT_TIMEOUT=0 shimt "/data=unix:$SOCK_z" "$PY" "$T/gone.py" /data/z) >"$T/z.out" 2>"$T/z.err" &
w=$!
BG_PIDS+=("$w")
for _ in $(seq 1 100); do
	[ "$(stat -c %s "$T/rz/z" 2>/dev/null || echo 0)" -gt 300000 ] && break
	sleep 0.02
done
{ kill -KILL "$PID_z"; wait "$PID_z"; } 2>/dev/null
t0=$(now)
wait_gone "$w" 30
read -r _ err terr <"$T/z.out"
if [ "$err" = EIO ]; then eel=$(elapsed "$t0" "$terr"); else eel=999; fi
if [ "$RC" = 3 ] && le "$eel" 1; then
	pass "CKPT_RECONNECT_TIMEOUT=0: EIO without waiting (${eel}s)"
else
	fail "CKPT_RECONNECT_TIMEOUT=0: status $RC, output '$(cat "$T/z.out")'"
fi
out=$(CKPT_RECONNECT_TIMEOUT=soon shimt "/data=unix:$SOCK_z" true 2>&1)
rc=$?
if [ "$rc" = 127 ] && [[ $out == *CKPT_RECONNECT_TIMEOUT* ]]; then
	pass "a malformed CKPT_RECONNECT_TIMEOUT stops the program with one line"
else
	fail "a malformed CKPT_RECONNECT_TIMEOUT: exit $rc, '$out'"
fi

# ---- 4. an O_APPEND writer across restarts: no line doubled or lost silently ------------
# Each line is written with one append; a write whose outcome is unknown
# fails with EIO (the writer notes it and goes on). Every line acknowledged
# must be in the file exactly once; a line that failed may be there at most
# once; nothing else.
cat >"$T/appender.py" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n = int(sys.argv[2]); failed = []
for i in range(n):
    try:
        os.write(fd, b"line %06d %s\n" % (i, b"z" * (i % 50)))
    except OSError as e:
        failed.append(i)
    time.sleep(0.0005)
os.close(fd)
print(" ".join(map(str, failed)))
PY
need_server a "$T/ra"
(CKPT_WRITE_BEHIND=0 CKPT_RECONNECT_TIMEOUT=20 shimt "/data=unix:$SOCK_a" "$PY" "$T/appender.py" /data/log 6000) \
	>"$T/a.out" 2>"$T/a.err" &
w=$!
BG_PIDS+=("$w")
for round in 1 2; do
	for _ in $(seq 1 100); do
		[ "$(cat "$T/ra/log" 2>/dev/null | wc -l)" -gt $((round * 1000)) ] && break
		sleep 0.02
	done
	{ kill -KILL "$PID_a"; wait_gone "$PID_a" 15; } 2>/dev/null
	sleep 0.5
	start_server a "$T/ra" || fail "restart server a"
done
wait_gone "$w" 60
verdict=$("$PY" - "$T/ra/log" 6000 "$T/a.out" <<'PY'
import collections, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
n = int(sys.argv[2]); failed = set(int(x) for x in open(sys.argv[3]).read().split())
want = {b"line %06d %s" % (i, b"z" * (i % 50)): i for i in range(n)}
c = collections.Counter(lines)
bad = [l for l in c if l not in want]
dup = [l for l, k in c.items() if k > 1]
missing = [i for l, i in want.items() if i not in failed and c[l] == 0]
order = [want[l] for l in lines if l in want]
print("ok" if not bad and not dup and not missing and order == sorted(order) else "bad",
      "lines=%d failed=%d dup=%d missing=%d junk=%d" % (len(lines), len(failed), len(dup), len(missing), len(bad)))
PY
)
if [ "$RC" = 0 ] && [[ $verdict == ok* ]]; then
	pass "O_APPEND writer across two SIGKILL restarts: every acknowledged line once, in order, none doubled ($verdict)"
else
	fail "O_APPEND writer across two SIGKILL restarts: status $RC, $verdict; stderr:"
	sed 's/^/    /' "$T/a.err" | head -8
fi

# ---- 5. a cwd in a remote directory and an open directory stream -----------------------
need_server d "$T/rd"
mkdir -p "$T/rd/dir"
for i in $(seq 1 300); do echo "$i" >"$T/rd/dir/f$i"; done
cat >"$T/dirs.py" <<'PY'
import os, sys, time
os.chdir("/data/dir")
it = os.scandir(".")
names = []
for k, e in enumerate(it):
    names.append(e.name)
    if k == 50:
        print("waiting", flush=True)
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.02)
it.close()
with open("f7") as f:
    seven = f.read().strip()
with open("new", "w") as f:
    f.write("made\n")
print(len(set(names)), len(names), seven, os.getcwd())
PY
(CKPT_RECONNECT_TIMEOUT=20 shimt "/data=unix:$SOCK_d" "$PY" "$T/dirs.py" "$T/dirs.go") >"$T/d.out" 2>"$T/d.err" &
w=$!
BG_PIDS+=("$w")
for _ in $(seq 1 200); do grep -q waiting "$T/d.out" && break; sleep 0.02; done
{ kill -KILL "$PID_d"; wait_gone "$PID_d" 15; } 2>/dev/null
start_server d "$T/rd" || fail "restart server d"
touch "$T/dirs.go"
wait_gone "$w" 30
if [ "$RC" = 0 ] && [ "$(tail -1 "$T/d.out")" = "300 300 7 /data/dir" ] && [ "$(cat "$T/rd/dir/new" 2>&1)" = made ]; then
	pass "cwd in a remote directory and a directory stream across a restart: all 300 entries once, relative paths work"
else
	fail "cwd and directory stream across a restart: status $RC, output '$(tr '\n' ' ' <"$T/d.out")'; stderr:"
	sed 's/^/    /' "$T/d.err" | head -6
fi

# ---- 6. a file removed while the server was down: its fd is stale ----------------------
need_server s "$T/rs"
echo hello >"$T/rs/doomed"
cat >"$T/stale.py" <<'PY'
import errno, os, sys, time
fd = os.open("/data/doomed", os.O_RDONLY)
os.read(fd, 2)
print("open", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
try:
    os.pread(fd, 10, 0)
    print("read ok")
except OSError as e:
    print("error", errno.errorcode[e.errno])
with open("/data/other", "w") as f:
    f.write("fine\n")
PY
(CKPT_READ_AHEAD=0 CKPT_RECONNECT_TIMEOUT=20 shimt "/data=unix:$SOCK_s" "$PY" "$T/stale.py" "$T/stale.go") >"$T/s.out" 2>"$T/s.err" &
w=$!
BG_PIDS+=("$w")
for _ in $(seq 1 200); do grep -q open "$T/s.out" && break; sleep 0.02; done
{ kill -KILL "$PID_s"; wait_gone "$PID_s" 15; } 2>/dev/null
rm "$T/rs/doomed"
start_server s "$T/rs" || fail "restart server s"
touch "$T/stale.go"
wait_gone "$w" 30
if [ "$RC" = 0 ] && [ "$(tail -1 "$T/s.out")" = "error ESTALE" ] && [ "$(cat "$T/rs/other" 2>&1)" = fine ]; then
	pass "a file removed while the server was down: its fd fails with ESTALE, the rest works"
else
	fail "a file removed while the server was down: status $RC, output '$(tr '\n' ' ' <"$T/s.out")'; stderr:"
	sed 's/^/    /' "$T/s.err" | head -6
fi
finish

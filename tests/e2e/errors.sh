#!/bin/bash
# errors.sh - failures: a program sees the errno and message it would see
# locally; a missing, killed, stopped or stopping server turns into a clear
# error, never a hang or lost synced data (a server not back within
# CKPT_RECONNECT_TIMEOUT: EIO); the server refuses paths that lead out of its
# root; many clients at once; a server restarted under a writer loses no
# write and fails none (reconnect.sh has more of that).
source "$(dirname "$0")/lib.sh"

# ---- 1. errors as a local program sees them ------------------------------------
L=$T/le
R=$T/re
need_server e "$R"
PAIR_MOUNTS=/data=unix:$SOCK_e PAIR_LOCAL=$L PAIR_REMOTE=/data
for d in "$L" "$R"; do
	mkdir -p "$d/existing" "$d/nonempty/sub"
	echo data >"$d/file"
done
long=$(printf 'n%.0s' $(seq 1 300))
pair -e "cat missing" cat @D/missing
pair -e "cat a directory" cat @D/existing
pair -e "cat under a file" cat @D/file/x
pair -e "mkdir existing" mkdir @D/existing
pair -e "mkdir under missing" mkdir @D/missing/sub
pair -e "rmdir non-empty" rmdir @D/nonempty
pair -e "rmdir a file" rmdir @D/file
pair -e "rm a directory" rm @D/existing
pair -e "ls missing" ls @D/missing
pair -e "touch under missing" touch @D/nodir/x
pair -e "cp missing" cp @D/missing @D/y
pair -e "cp a directory without -r" cp @D/existing @D/y
pair -e "mv missing" mv @D/missing @D/y
pair -e "mv a directory onto a file" mv @D/existing @D/file
pair -e "ln -s onto an existing name" ln -s x @D/file
pair -e "truncate a directory" truncate -s 0 @D/existing
pair -e "dd from missing" dd if=@D/missing of=/dev/null status=none
pair -e "name too long" touch "@D/$long"
pair -e "python3 exclusive create of an existing file" "$PY" -c 'open(__import__("sys").argv[1], "x")' @D/file
same_tree "errors left both trees alike" "$L" "$R"

# ---- 2. no server ------------------------------------------------------------------
nob=/data=unix:$T/nobody.sock
shimt "$nob" cat /data/x >"$T/nob.out" 2>"$T/nob.err"
rc=$?
n=$(grep -c '^ckptshim: ' "$T/nob.err")
line=$(grep '^ckptshim: ' "$T/nob.err")
if [ "$rc" = 1 ] && [ "$n" = 1 ] && [[ $line == *ckpt-server* ]] && [[ $line == *--listen* ]] &&
	[ "$(grep -vc '^ckptshim: ' "$T/nob.err")" = 1 ] && grep -q '^cat: /data/x: ' "$T/nob.err"; then
	pass "no server: one line says what to start, then cat's own error (exit 1)"
else
	fail "no server: exit $rc, $n shim lines; stderr:"
	sed 's/^/    /' "$T/nob.err"
fi
echo "    (${line#ckptshim: })"
shimt "$nob" bash -c 'echo local >"$1/l"; cat /data/x; echo after >"$1/l2"' _ "$T" >"$T/nob2.out" 2>"$T/nob2.err"
rc=$?
if [ "$rc" = 0 ] && [ "$(cat "$T/l" 2>&1)" = local ] && [ "$(cat "$T/l2" 2>&1)" = after ] &&
	[ "$(grep -c '^ckptshim: ' "$T/nob2.err")" = 1 ]; then
	pass "no server: the program's local work is done"
else
	fail "no server: local work: exit $rc, l='$(cat "$T/l" 2>&1)', l2='$(cat "$T/l2" 2>&1)'"
	sed 's/^/    /' "$T/nob2.err"
fi
shimt "$nob" sh -c 'echo hi' >"$T/nob3.out" 2>"$T/nob3.err"
if [ "$(cat "$T/nob3.out")" = hi ] && [ ! -s "$T/nob3.err" ]; then
	pass "no server: a program that never touches the mount hears nothing of it"
else
	fail "no server: a program that never touches the mount: stderr:"
	sed 's/^/    /' "$T/nob3.err"
fi

# ---- 3. the server dies (SIGKILL) in the middle of a write, then of a read -----------
# It is not started again: past CKPT_RECONNECT_TIMEOUT the call fails with EIO.
need_server k "$T/rk"
(CKPT_RECONNECT_TIMEOUT=2 CKPT_IO_TIMEOUT=5 shimt "/data=unix:$SOCK_k" dd if=/dev/zero of=/data/big bs=1M count=100000) 2>"$T/k.err" &
w=$!
BG_PIDS+=("$w")
for i in $(seq 1 200); do
	[ "$(stat -c %s "$T/rk/big" 2>/dev/null || echo 0)" -gt 20000000 ] && break
	sleep 0.05
done
size=$(stat -c %s "$T/rk/big" 2>/dev/null || echo 0)
kill -KILL "$PID_k"
t0=$(now)
wait_gone "$w" 30
el=$(elapsed "$t0")
if [ "$RC" != hung ] && [ "$RC" != 0 ] && [ "$RC" != 124 ] && le "$el" 10 && grep -q 'Input/output error' "$T/k.err" &&
	grep -q "server unix:$SOCK_k not back within 2 s (CKPT_RECONNECT_TIMEOUT)" "$T/k.err"; then
	pass "server killed during a write: EIO once CKPT_RECONNECT_TIMEOUT=2 ran out, dd exits $RC after ${el}s (had written $size bytes)"
else
	fail "server killed during a write: dd status $RC after ${el}s (bound 10 s; had written $size bytes); stderr:"
	sed 's/^/    /' "$T/k.err" | head -10
fi

need_server k2 "$T/rk"
truncate -s 20G "$T/rk/sparse"
(CKPT_RECONNECT_TIMEOUT=2 CKPT_IO_TIMEOUT=5 shimt "/data=unix:$SOCK_k2" dd if=/data/sparse of=/dev/null bs=1M) 2>"$T/k2.err" &
w=$!
BG_PIDS+=("$w")
sleep 1
kill -KILL "$PID_k2"
t0=$(now)
wait_gone "$w" 30
el=$(elapsed "$t0")
if [ "$RC" != hung ] && [ "$RC" != 0 ] && [ "$RC" != 124 ] && le "$el" 10 && grep -q 'Input/output error' "$T/k2.err" &&
	grep -q "server unix:$SOCK_k2 not back within 2 s (CKPT_RECONNECT_TIMEOUT)" "$T/k2.err"; then
	pass "server killed during a read: EIO once CKPT_RECONNECT_TIMEOUT=2 ran out, dd exits $RC after ${el}s"
else
	fail "server killed during a read: dd status $RC after ${el}s (bound 10 s); stderr:"
	sed 's/^/    /' "$T/k2.err" | head -10
fi

# ---- 4. the server hangs (SIGSTOP) without closing the socket -------------------------
need_server st "$T/rst"
echo small >"$T/rst/small"
cat >"$T/writer.py" <<'PY'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
buf = b"x" * (1 << 20)
try:
    while True:
        os.write(fd, buf)
except OSError as e:
    print("error %s %.3f" % (errno.errorcode[e.errno], time.time()), flush=True)
    sys.exit(3)
PY
# Three rounds: where the stop catches the writer (waiting for a reply, or
# halfway through sending a frame) changes what the shim is blocked in.
worst=0 worst_out= bad_exit=
for round in 1 2 3; do
	rm -f "$T/rst/big"
	(CKPT_IO_TIMEOUT=2 shimt "/data=unix:$SOCK_st" "$PY" "$T/writer.py" /data/big) >"$T/st.out" 2>"$T/st.err" &
	w=$!
	BG_PIDS+=("$w")
	for i in $(seq 1 200); do
		[ "$(stat -c %s "$T/rst/big" 2>/dev/null || echo 0)" -gt 8000000 ] && break
		sleep 0.05
	done
	kill -STOP "$PID_st"
	t0=$(now)
	wait_gone "$w" 30
	el=$(elapsed "$t0")
	read -r _ err terr <"$T/st.out"
	if [ "$err" = EIO ]; then eel=$(elapsed "$t0" "$terr"); else eel=999; fi
	if ! le "$eel" "$worst"; then
		worst=$eel
		worst_out="round $round: the writer printed '$(cat "$T/st.out")', stderr: $(tr '\n' ' ' <"$T/st.err")"
	fi
	{ [ "$RC" = 3 ] && le "$el" 10; } || bad_exit="$bad_exit round $round: status $RC after ${el}s;"
	kill -CONT "$PID_st"
	sleep 0.2
done
if le "$worst" 3; then
	pass "server stopped: the write fails with EIO at most ${worst}s after the stop (CKPT_IO_TIMEOUT=2, 3 rounds)"
else
	fail "server stopped: EIO came ${worst}s after the stop (CKPT_IO_TIMEOUT=2, bound 3 s): $worst_out"
fi
if [ -z "$bad_exit" ]; then
	pass "server stopped: the writer exits within 10 s of the stop, every round"
else
	fail "server stopped: the writer did not exit in time:$bad_exit"
fi
if [ "$(shimt "/data=unix:$SOCK_st" cat /data/small 2>&1)" = small ]; then
	pass "server stopped: after SIGCONT it serves a new client"
else
	fail "server stopped: after SIGCONT a new client fails: $(shimt "/data=unix:$SOCK_st" cat /data/small 2>&1 | head -3)"
fi
if stop_server st; then
	pass "server stopped, continued: SIGTERM then exits 0"
else
	fail "server stopped, continued: SIGTERM did not stop it cleanly"
	tail -3 "$T/st.log" | sed 's/^/    /'
fi

# ---- 5. what fsync acknowledged survives a SIGKILL of the server ------------------------
need_server f "$T/rf"
cat >"$T/syncer.py" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n = int(sys.argv[2])
for i in range(n):
    os.write(fd, b"record %07d\n" % i)
os.fsync(fd)
print("synced", flush=True)
try:
    i = n
    while True:
        os.write(fd, b"after %07d\n" % i)
        i += 1
        if i % 1000 == 0:
            time.sleep(0.001)
except OSError as e:
    print("error", e.errno, flush=True)
PY
N=200000
(CKPT_RECONNECT_TIMEOUT=2 CKPT_IO_TIMEOUT=5 shimt "/data=unix:$SOCK_f" "$PY" "$T/syncer.py" /data/log "$N") >"$T/f.out" 2>"$T/f.err" &
w=$!
BG_PIDS+=("$w")
for i in $(seq 1 400); do
	grep -q synced "$T/f.out" && break
	sleep 0.05
done
if grep -q synced "$T/f.out"; then
	sleep 0.3
	kill -KILL "$PID_f"
	wait_gone "$w" 30
	awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "record %07d\n", i }' >"$T/f.expected"
	if start_server f "$T/rf"; then
		pass "restart on the same socket path after a SIGKILL"
		fm=/data=unix:$SOCK_f
	else
		fail "restart on the same socket path after a SIGKILL (left: $(ls -l "$T/f.sock" 2>&1))"
		need_server f2 "$T/rf"
		fm=/data=unix:$SOCK_f2
	fi
	shimt "$fm" head -c "$(stat -c %s "$T/f.expected")" /data/log >"$T/f.got"
	same "fsync'd records intact after the server was killed ($(wc -l <"$T/f.expected") records)" \
		"$T/f.expected" "$T/f.got"
	if grep -q '^error' "$T/f.out" && [ "$RC" = 0 ]; then
		pass "fsync'd writer: its later writes failed with an error, it was not left hanging"
	else
		fail "fsync'd writer: status $RC, output '$(tr '\n' ' ' <"$T/f.out")'"
	fi
else
	fail "fsync'd records: the writer never printed 'synced': $(head -5 "$T/f.err")"
fi

# ---- 6. paths that lead out of the root ------------------------------------------------
H=$T/rh
need_server h "$H"
hm=/data=unix:$SOCK_h
mkdir -p "$T/outside" "$H/in"
echo "outside secret" >"$T/outside.txt"
echo "outside secret" >"$T/outside/marker-file"
echo inside >"$H/in/f"
ln -s /etc "$H/esc"
ln -s ../../.. "$H/up"
ln -s "$T/outside.txt" "$H/abs"
ln -s ../outside.txt "$H/rel"
ln -s ../outside "$H/escdir"
ln -s in/f "$H/good"
escape() { # NAME MARKER CMD...: must fail with EACCES, print nothing of the target, be logged
	local name=$1 marker=$2 rc
	shift 2
	local before
	before=$(wc -l <"$T/h.log")
	shimt "$hm" "$@" >"$T/h.out" 2>"$T/h.err"
	rc=$?
	sleep 0.1
	if [ "$rc" != 0 ] && grep -q 'Permission denied' "$T/h.err" && ! grep -q "$marker" "$T/h.out" &&
		tail -n +$((before + 1)) "$T/h.log" | grep -qi 'warn'; then
		pass "escape refused: $name"
	else
		fail "escape refused: $name: exit $rc; stdout $(head -c 200 "$T/h.out" | tr '\n' ' '); stderr $(head -3 "$T/h.err" | tr '\n' ' '); new server log lines:"
		tail -n +$((before + 1)) "$T/h.log" | head -5 | sed 's/^/    /'
	fi
}
escape "cat /data/esc/passwd (link to /etc)" root: cat /data/esc/passwd
escape "cat /data/up/etc/passwd (link to ../../..)" root: cat /data/up/etc/passwd
escape "cat through an absolute link" secret cat /data/abs
escape "cat through a relative link" secret cat /data/rel
escape "ls through a link to an outside directory" marker-file ls /data/escdir/
escape "create through a link to an outside directory" x cp /etc/hostname /data/escdir/new
if [ ! -e "$T/outside/new" ]; then pass "escape refused: nothing was created outside"; else fail "escape: $T/outside/new was created"; fi
shimt "$hm" ln -s /etc /data/mylink 2>"$T/h.err"
escape "a link made through the shim" root: cat /data/mylink/passwd
if [ "$(shimt "$hm" cat /data/good 2>&1)" = inside ]; then
	pass "a link that stays inside the root is followed"
else
	fail "a link that stays inside the root: $(shimt "$hm" cat /data/good 2>&1 | head -3)"
fi
grep -i 'warn' "$T/h.log" | head -3 | sed 's/^/    log: /'

# ---- 7. many sessions at once ----------------------------------------------------------
need_server m "$T/rm"
mkdir -p "$T/rm/many" "$T/many"
cat >"$T/many.py" <<'PY'
import os, sys, time
i, d, flags = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lines = [b"client %d line %d\n" % (i, j) for j in range(2000)]
with open("%s/f%d" % (d, i), "wb") as f:
    f.write(b"".join(lines[:1000]))
    f.flush()
    os.fsync(f.fileno())
    open("%s/ready.%d" % (flags, i), "w").close()
    for _ in range(3000):
        if os.path.exists(flags + "/go"):
            break
        time.sleep(0.02)
    f.write(b"".join(lines[1000:]))
PY
pids=()
for i in $(seq 0 63); do
	shimt "/data=unix:$SOCK_m" "$PY" "$T/many.py" "$i" /data/many "$T/many" 2>"$T/many/err.$i" &
	pids+=($!)
	BG_PIDS+=($!)
done
for i in $(seq 1 1200); do
	[ "$(ls "$T/many" | grep -c '^ready\.')" -ge 64 ] && break
	sleep 0.05
done
ready=$(ls "$T/many" | grep -c '^ready\.')
if [ "$ready" = 64 ]; then
	pass "64 clients have a remote file open at the same time"
else
	fail "only $ready of 64 clients got their remote file open at the same time"
	cat "$T"/many/err.* | sort | uniq -c | head -5 | sed 's/^/    /'
fi
touch "$T/many/go"
bad=0
for i in $(seq 0 63); do
	wait_gone "${pids[$i]}" 60
	[ "$RC" = 0 ] || { bad=$((bad + 1)); echo "    client $i: status $RC: $(head -2 "$T/many/err.$i")"; }
	awk -v i="$i" 'BEGIN { for (j = 0; j < 2000; j++) printf "client %d line %d\n", i, j }' >"$T/many/exp"
	cmp -s "$T/many/exp" "$T/rm/many/f$i" || { bad=$((bad + 1)); echo "    client $i: wrong file"; }
done
if [ "$bad" = 0 ]; then pass "64 clients: all succeed, every file is right"; else fail "64 clients: $bad failures"; fi

# ---- 8. SIGTERM with a client connected and idle ----------------------------------------
need_server t "$T/rt"
cat >"$T/idle.py" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"abc")
os.fsync(fd)
print("open", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
try:
    os.write(fd, b"def")
    os.fsync(fd)
    print("write ok", flush=True)
except OSError as e:
    print("write error", e.errno, flush=True)
PY
(CKPT_RECONNECT_TIMEOUT=2 CKPT_IO_TIMEOUT=5 shimt "/data=unix:$SOCK_t" "$PY" "$T/idle.py" /data/f "$T/idle.go") >"$T/idle.out" 2>"$T/idle.err" &
w=$!
BG_PIDS+=("$w")
for i in $(seq 1 200); do
	grep -q open "$T/idle.out" && break
	sleep 0.05
done
kill -TERM "$PID_t"
t0=$(now)
wait_gone "$PID_t" 15
el=$(elapsed "$t0")
if [ "$RC" = 0 ] && le "$el" 5; then
	pass "SIGTERM with an idle client connected: the server exits 0 after ${el}s"
else
	fail "SIGTERM with an idle client connected: server status $RC after ${el}s (bound 5 s)"
	tail -5 "$T/t.log" | sed 's/^/    /'
fi
if [ ! -e "$SOCK_t" ]; then pass "SIGTERM: the unix socket is removed"; else fail "SIGTERM: $SOCK_t is left behind"; fi
same "SIGTERM: the synced bytes are in the file" <(printf abc) "$T/rt/f"
touch "$T/idle.go"
wait_gone "$w" 20
if [ "$RC" = 0 ] && grep -q '^write error' "$T/idle.out"; then
	pass "SIGTERM: the client's next write fails with an error ($(tail -1 "$T/idle.out"))"
else
	fail "SIGTERM: the client's next write: status $RC, output '$(tr '\n' ' ' <"$T/idle.out")'"
fi
# ---- 9. a server restart under a writer: no write lost, none failed ----------------
# The writer keeps going through EIO (as a careful program may, rewriting
# nothing); at the end it fsyncs and closes. The server is back within
# CKPT_RECONNECT_TIMEOUT: the shim reconnects and sends the unacknowledged
# writes again, so no write fails, fsync and close succeed, and every record
# is in the file.
need_server r "$T/rr"
cat >"$T/rewriter.py" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n = int(sys.argv[2]); ok = []; failed = []
for i in range(n):
    try:
        os.pwrite(fd, (b"%07d " % i) * 128, i * 1024)
        ok.append(i)
    except OSError:
        failed.append(i)
    if i % 100 == 99:
        time.sleep(0.01)
res = []
for name, f in (("fsync", lambda: os.fsync(fd)), ("close", lambda: os.close(fd))):
    try:
        f(); res.append(name + "=ok")
    except OSError as e:
        res.append(name + "=" + str(e.errno))
print(" ".join(res), "failed-writes", len(failed), failed[:4])
with open(sys.argv[3], "w") as f:
    f.write("\n".join(map(str, ok)))
PY
(shimt "/data=unix:$SOCK_r" "$PY" "$T/rewriter.py" /data/f 20000 "$T/r.ok") >"$T/r.out" 2>"$T/r.err" &
w=$!
BG_PIDS+=("$w")
for i in $(seq 1 200); do
	[ "$(stat -c %s "$T/rr/f" 2>/dev/null || echo 0)" -gt 4000000 ] && break
	sleep 0.02
done
kill -KILL "$PID_r"
wait "$PID_r" 2>/dev/null
start_server r "$T/rr" || fail "restart of server r"
wait_gone "$w" 60
lost=$("$PY" - "$T/r.ok" "$T/rr/f" <<'PY'
import sys
ok = [int(x) for x in open(sys.argv[1]).read().split()]
data = open(sys.argv[2], "rb").read()
bad = [i for i in ok if data[i * 1024:(i + 1) * 1024] != (b"%07d " % i) * 128]
print(len(bad), "of", len(ok), "acknowledged records missing", ("(%d..%d)" % (bad[0], bad[-1])) if bad else "")
PY
)
res=$(cat "$T/r.out")
if [ "$RC" != 0 ]; then
	fail "server restarted under a writer: the writer exited $RC: $(head -3 "$T/r.err")"
elif [[ $res == "fsync=ok close=ok failed-writes 0 []" ]] && [[ $lost == "0 of 20000 "* ]]; then
	pass "server restarted under a writer: $lost, no call failed ($res)"
else
	fail "server restarted under a writer: $lost; $res"
	sed 's/^/    /' "$T/r.err" | head -4
fi
finish

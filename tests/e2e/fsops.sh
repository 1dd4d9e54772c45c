#!/bin/bash
# fsops.sh - the purpose-built programs of tests/progs (fsops: file calls and
# their errnos; fdnums: fd numbering and standard streams) run on an empty
# local directory and on an empty remote one: they must print the same lines
# and leave the same tree, with the shim's default buffers, with no buffering
# at all, and with tiny buffers.
source "$(dirname "$0")/lib.sh"

need_server a "$T/root"
M=/data=unix:$SOCK_a
mkdir -p "$T/wd"

# run_prog PROG NAME [VAR=VALUE...]: one local and one remote run of
# build/progs/PROG on a fresh directory NAME, compared.
run_prog() {
	local prog=$1 name=$2 rc
	shift 2
	if [ ! -x "$PROGS/$prog" ]; then
		fail "$prog $name: $PROGS/$prog is not built (make $PROGS/$prog)"
		return
	fi
	mkdir -p "$T/local/$name" "$T/root/$name"
	(cd "$T/wd" && timeout "$TIMEOUT" "$PROGS/$prog" "$T/local/$name") >"$T/$name.local" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		fail "$prog $name: the local run exited $rc"
		head -5 "$T/$name.local"
		return
	fi
	(cd "$T/wd" && env "$@" timeout "$TIMEOUT" env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$M" \
		"$PROGS/$prog" "/data/$name") >"$T/$name.remote" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		fail "$prog $name: the remote run exited $rc"
		tail -5 "$T/$name.remote" | sed 's/^/    /'
	fi
	if diff -u "$T/$name.local" "$T/$name.remote" >"$T/$name.diff"; then
		pass "$prog $name: same output ($(wc -l <"$T/$name.local") lines)"
	else
		fail "$prog $name: the outputs differ (- local, + remote)"
		head -60 "$T/$name.diff" | sed 's/^/    /'
	fi
	same_tree "$prog $name: same tree left behind" "$T/local/$name" "$T/root/$name"
}

run_prog fsops default
run_prog fsops unbuffered CKPT_WRITE_BEHIND=0 CKPT_READ_AHEAD=0
run_prog fsops tiny-buffers CKPT_WRITE_BEHIND=4097 CKPT_READ_AHEAD=4097
run_prog fdnums fd-numbers
# readseq: with direct reads (READ_FD, the default on a unix socket of our
# own user) and through the session only, with each read-ahead setting.
run_prog readseq readseq
run_prog readseq readseq-session CKPT_LOCAL_READS=0
run_prog readseq readseq-tiny-window CKPT_LOCAL_READS=0 CKPT_READ_AHEAD=4097
run_prog readseq readseq-no-read-ahead CKPT_LOCAL_READS=0 CKPT_READ_AHEAD=0
run_prog readseq readseq-direct-no-read-ahead CKPT_LOCAL_READS=1 CKPT_READ_AHEAD=0

# Python's subprocess starts children with vfork, and the child closes fds
# (close_range) and dup2s: with remote files open in the parent, and one of
# them the child's stdout, every file must stay as it was for the parent.
spy='import subprocess, sys
d = sys.argv[1]
with open(d + "/s.txt", "w") as w: w.write("hello world, a line for the parent\n")
f = open(d + "/s.txt", "rb", buffering=0)
print(f.read(6))
print(subprocess.run(["cat", d + "/s.txt"], capture_output=True).stdout)
print(f.read(6))
with open(d + "/out.txt", "w") as o:
    o.write("parent first\n"); o.flush()
    subprocess.run(["echo", "from the child"], stdout=o, close_fds=True)
    o.write("parent after\n")
print(open(d + "/out.txt").read())
print(f.read())'
mkdir -p "$T/local/sp" "$T/root/sp"
"$PY" -c "$spy" "$T/local/sp" >"$T/sp.local" 2>&1
shimt "$M" "$PY" -c "$spy" /data/sp >"$T/sp.remote" 2>&1
same_text "python subprocess (vfork, close_range, dup2 in the child) leaves the parent's remote files alone" \
	"$T/sp.local" "$T/sp.remote"

# posix_spawn with file actions on remote files (glibc applies them with
# raw system calls in the child; the shim does such spawns itself): a remote
# fd dup2'd onto the child's stdout, a remote path opened as its stdin, a
# remote fd closed, and an open that fails (the spawn returns ENOENT).
pspy='import os, sys, errno
d = sys.argv[1]; env = dict(os.environ)
fd = os.open(d + "/ps.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"parent first\n")
pid = os.posix_spawn("/bin/echo", ["echo", "spawned, stdout on the file"], env,
                     file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)])
print("dup2:", os.waitpid(pid, 0)[1])
os.write(fd, b"parent after\n"); os.close(fd)
sys.stdout.flush()
pid = os.posix_spawnp("cat", ["cat"], env,
                      file_actions=[(os.POSIX_SPAWN_OPEN, 0, d + "/ps.txt", os.O_RDONLY, 0)])
print("open:", os.waitpid(pid, 0)[1])
fd = os.open(d + "/ps.txt", os.O_RDONLY); os.set_inheritable(fd, True)
sys.stdout.flush()
pid = os.posix_spawn("/bin/sh", ["sh", "-c", "[ -e /proc/self/fd/%d ] && echo open || echo closed" % fd], env,
                     file_actions=[(os.POSIX_SPAWN_CLOSE, fd)])
print("close:", os.waitpid(pid, 0)[1])
try:
    os.posix_spawn("/bin/true", ["true"], env,
                   file_actions=[(os.POSIX_SPAWN_OPEN, 0, d + "/missing", os.O_RDONLY, 0)])
    print("missing: spawned")
except OSError as e:
    print("missing:", errno.errorcode.get(e.errno))'
mkdir -p "$T/local/ps" "$T/root/ps"
"$PY" -c "$pspy" "$T/local/ps" >"$T/ps.local" 2>&1
shimt "$M" "$PY" -c "$pspy" /data/ps >"$T/ps.remote" 2>&1
same_text "posix_spawn with file actions on remote files (dup2, open, close, a failing open): as local" \
	"$T/ps.local" "$T/ps.remote"
same_text "posix_spawn: the file the child wrote through its dup2'd stdout" "$T/local/ps/ps.txt" "$T/root/ps/ps.txt"

# How many blocks a reader in 1 MiB blocks asks for, counted in the log of
# a server at debug level: a reader that jumps around gets no prefetched
# block it then throws away, and one that stops early after a sequential
# start leaves at most 8 blocks asked for in vain.
need_server d "$T/droot" --log-level debug
mkdir -p "$T/droot/pf"
head -c $((16 << 20)) /dev/urandom >"$T/droot/pf/f"
# preads PYTHON [VAR=VALUE...]: runs PYTHON (f: the file, opened
# unbuffered) under the shim, through the session only unless told
# otherwise, and prints how many PREAD requests the server logged meanwhile.
preads() {
	local before after py=$1
	shift
	before=$(grep -c ' PREAD #' "$T/d.log")
	env CKPT_LOCAL_READS=0 "$@" timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" \
		CKPT_MOUNTS="/data=unix:$SOCK_d" "$PY" -c "f = open('/data/pf/f', 'rb', buffering=0)
$py
f.close()" || echo "python failed"
	after=$(grep -c ' PREAD #' "$T/d.log")
	echo $((after - before))
}
n=$(preads "for b in (7, 2, 9, 0, 11, 5, 13, 1):
    f.seek(b << 20); assert len(f.read(1 << 20)) == 1 << 20")
if [ "$n" = 8 ]; then pass "prefetch: 8 reads of 1 MiB at scattered offsets are 8 requests"
else fail "prefetch: 8 reads of 1 MiB at scattered offsets made $n requests, not 8"; fi
n=$(preads "for b in range(3): assert len(f.read(1 << 20)) == 1 << 20")
if [ "$n" -ge 3 ] && [ "$n" -le 11 ]; then pass "prefetch: a reader stopping after 3 MiB made $n requests (3 to 11)"
else fail "prefetch: a reader stopping after 3 MiB made $n requests, not 3 to 11"; fi
n=$(preads "while f.read(1 << 20): pass")
if [ "$n" -ge 17 ] && [ "$n" -le 25 ]; then pass "prefetch: reading 16 MiB to the end made $n requests (17 to 25)"
else fail "prefetch: reading 16 MiB to the end made $n requests, not 17 to 25"; fi
finish

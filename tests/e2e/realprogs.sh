#!/bin/bash
# realprogs.sh - real, unmodified programs on remote paths against the same
# programs on a local copy: same output, same exit status, same files left on
# the server as in the local directory.
source "$(dirname "$0")/lib.sh"

L=$T/la # the local mirror
R=$T/ra # the server's root, seen as /data under the shim
need_server a "$R"
M=/data=unix:$SOCK_a
PAIR_MOUNTS=$M PAIR_LOCAL=$L PAIR_REMOTE=/data
MT=1600000000 # every input file's mtime

# ---- inputs: generated once in $T/in, copied to both sides ------------------
mkdir -p "$T/in" "$L"
gen_lines "$T/in/big.txt" 1700000 42 # ~64 MB
"$PY" - "$T/in/tree" <<'PY'
import os, random, sys
r = random.Random(7)
top = sys.argv[1]
for d in ["", "a", "a/b", "a/b/c", "empty", "d e"]:
    os.makedirs(os.path.join(top, d), exist_ok=True)
sizes = [0, 1, 100, 4095, 4096, 4097, 65536, 1048579, 3 * 1048576 + 11]
for i, n in enumerate(sizes):
    for d in ["", "a/b", "a/b/c"]:
        p = os.path.join(top, d, "f%d.bin" % i)
        with open(p, "wb") as f:
            f.write(bytes(r.getrandbits(8) for _ in range(min(n, 4096))) * (n // 4096) +
                    bytes(r.getrandbits(8) for _ in range(n % 4096)))
for d in ["", "a", "d e"]:
    with open(os.path.join(top, d, "text file.txt"), "w") as f:
        for i in range(3000):
            f.write("%d %s the quick brown fox %d\n" % (i, "".join(r.choice("abcdefgh") for _ in range(8)), r.randrange(1 << 30)))
os.symlink("a/b/f3.bin", os.path.join(top, "link"))
os.chmod(os.path.join(top, "f0.bin"), 0o600)
os.chmod(os.path.join(top, "a/b/c/f2.bin"), 0o640)
PY
find "$T/in" -exec touch -h -d "@$MT" {} +
cp -a "$T/in/." "$L/"
cp -a "$T/in/." "$R/"
mkdir -p "$L/tmp" "$R/tmp" "$T/wd"
same_tree "setup: the two sides start equal" "$L" "$R" mtime

# ---- reading -------------------------------------------------------------------
pair "cat big file" cat @D/big.txt
pair "cat tree files" cat @D/tree/f8.bin "@D/tree/d e/text file.txt" @D/tree/link @D/tree/f0.bin
pair "md5sum" md5sum @D/big.txt @D/tree/f7.bin @D/tree/a/b/c/f8.bin
pair "wc" wc @D/big.txt "@D/tree/a/text file.txt"
pair "tail -c (seek to the end)" tail -c 100000 @D/big.txt
pair "head -n" head -n 1000 @D/big.txt
pair "grep -c" grep -c 'abc' @D/big.txt
pair -f sort "grep -rn on a tree" grep -rn 'fox 1[0-9]*7$' @D/tree
pair -f sort "grep -rl on a tree" grep -rl 'e' @D/tree
pair "gawk" gawk '{ s += $1; n[$2]++ } END { for (k in n) c++; print s, NR, c }' @D/big.txt
pair "awk (default awk)" awk '{ s += $1 % 1000; if ($1 % 7 == 0) k++ } END { print s, NR, k }' @D/big.txt
pair -f "awk '\$1 != \"total\" { if (\$1 ~ /^d/) \$5 = \"-\"; \$2 = \$3 = \$4 = \"\"; print }'" \
	"ls -la (names, modes, sizes)" ls -la --time-style=+T @D/tree @D/tree/a/b
pair -f sort "find -type f" find @D/tree -type f
pair -f sort "find -printf size" find @D/tree -printf '%p %y %s %m\n'
pair "stat -c" stat -c '%n %s %F %a' @D/tree/f8.bin @D/tree/a @D/tree/link

# ---- copies ----------------------------------------------------------------------
pair "cp file within the mount" cp @D/big.txt @D/big.cp
same "cp file: the server has it" "$L/big.cp" "$R/big.cp"
pair "cp local file to the mount" cp "$T/in/big.txt" @D/up.txt
same "cp local to the mount: the server has it" "$T/in/big.txt" "$R/up.txt"
pair "cp mount file to local" cp @D/tree/f8.bin "$T/wd/down.@side"
same "cp mount to local: same bytes" "$T/wd/down.local" "$T/wd/down.remote"
pair "cp -r tree" cp -r @D/tree @D/tree2
same_tree "cp -r tree: same tree on the server" "$L/tree2" "$R/tree2"
pair "cp -a tree" cp -a @D/tree @D/tree3
same_tree "cp -a tree: same tree with mtimes" "$L/tree3" "$R/tree3" mtime

# ---- sort with its temporary files on the mount ---------------------------------
pair -d "sort -S 1M -T remote dir" sort -S 1M -T @D/tmp @D/big.txt -o @D/sorted
same "sort -T: the sorted file on the server" "$L/sorted" "$R/sorted"
n=$(grep -c 'open /data/tmp/sort' "$T/pair/sort_-S_1M_-T_remote_dir.rdebug")
if [ "$n" -ge 10 ]; then
	pass "sort -T: $n temporary files were opened on the mount"
else
	fail "sort -T: only $n temporary files opened under /data/tmp (see CKPT_DEBUG lines)"
	grep -v ' -> ok' "$T/pair/sort_-S_1M_-T_remote_dir.rdebug" | head -5 | sed 's/^/    /'
fi
left=$(ls -A "$R/tmp" | wc -l)
if [ "$left" = 0 ]; then pass "sort -T: no temporary file left on the server"; else fail "sort -T: $left temporary files left in $R/tmp"; fi
pair -d "sort via TMPDIR on the mount" env TMPDIR=@D/tmp sort -S 1M -k2,2 -k1,1n @D/big.txt
n=$(grep -c 'open /data/tmp/sort' "$T/pair/sort_via_TMPDIR_on_the_mount.rdebug")
if [ "$n" -ge 10 ]; then
	pass "sort TMPDIR: $n temporary files were opened on the mount"
else
	fail "sort TMPDIR: only $n temporary files opened under /data/tmp"
fi

# ---- editors and filters writing to the mount -----------------------------------
cp -a "$T/in/tree" "$L/ed"
cp -a "$T/in/tree" "$R/ed"
pair "sed -i" sed -i 's/fox/FOX/; 3d; $a\
the end' "@D/ed/text file.txt" "@D/ed/a/text file.txt"
same_tree "sed -i: same files and modes on the server" "$L/ed" "$R/ed"
pair "gawk print > file" gawk '{ print $2 > "@D/awk.out"; print $1 >> "@D/awk.app" } END { close("@D/awk.out"); while ((getline l < "@D/awk.out") > 0) n++; print n }' @D/big.txt
same "gawk print > file: the server has it" "$L/awk.out" "$R/awk.out"
same "gawk print >> file: the server has it" "$L/awk.app" "$R/awk.app"
pair "awk print > file (default awk)" awk '{ print $3 > "@D/mawk.out" }' "@D/tree/text file.txt"
same "awk print > file: the server has it" "$L/mawk.out" "$R/mawk.out"

# ---- gzip --------------------------------------------------------------------------
pair "gzip -c remote to stdout" gzip -c @D/big.txt
gzip -c "$L/big.txt" | dd of="$L/big.gz" bs=65536 status=none
shimt "$M" gzip -c /data/big.txt | shimt "$M" dd of=/data/big.gz bs=65536 status=none
shimt "$M" gunzip -c /data/big.gz >"$T/gunzipped"
same "gzip -c remote | dd of=remote; gunzip -c back" "$T/in/big.txt" "$T/gunzipped"
same "gzip -c remote | dd of=remote: the server has it" "$T/pair/gzip_-c_remote_to_stdout.lout" "$R/big.gz"
mkdir -p "$L/gz" "$R/gz"
cp -a "$T/in/big.txt" "$T/in/tree/f8.bin" "$L/gz/"
cp -a "$T/in/big.txt" "$T/in/tree/f8.bin" "$R/gz/"
pair "gzip in place" gzip @D/gz/big.txt @D/gz/f8.bin
same_tree "gzip in place: .gz made, originals unlinked, mtimes kept" "$L/gz" "$R/gz" mtime
pair "gunzip in place" gunzip @D/gz/big.txt.gz @D/gz/f8.bin.gz
same_tree "gunzip in place: originals back" "$L/gz" "$R/gz" mtime
same "gunzip in place: same bytes as the input" "$T/in/big.txt" "$R/gz/big.txt"

# ---- tar ----------------------------------------------------------------------------
pair "tar create from the mount" tar --sort=name -cf @D/t.tar -C @D tree
same "tar create: same archive on the server" "$L/t.tar" "$R/t.tar"
pair "tar tvf" tar tvf @D/t.tar
mkdir -p "$L/x" "$R/x"
pair "tar extract into the mount" tar -xf @D/t.tar -C @D/x
same_tree "tar extract: same tree with mtimes" "$L/x" "$R/x" mtime
same_tree "tar extract: the tree round-trips" "$T/in/tree" "$R/x/tree" mtime
pair "tar -z create to stdout" tar --sort=name -czf - -C @D/x tree

# ---- dd --------------------------------------------------------------------------------
pair "dd bs=4097" dd if=@D/big.txt of=@D/dd1 bs=4097 status=none
same "dd bs=4097: the server has it" "$L/dd1" "$R/dd1"
pair "dd bs=1M skip count" dd if=@D/big.txt of=@D/dd2 bs=1M skip=3 count=7 status=none
same "dd bs=1M skip count: the server has it" "$L/dd2" "$R/dd2"
pair "dd seek conv=notrunc" dd if=@D/tree/f7.bin of=@D/dd2 bs=1000 skip=2 seek=5 count=3 conv=notrunc status=none
same "dd seek conv=notrunc: the server has it" "$L/dd2" "$R/dd2"
pair "dd seek past the end" dd if=@D/tree/f5.bin of=@D/dd3 bs=513 seek=3000 status=none
same "dd seek past the end: the server has it (a hole)" "$L/dd3" "$R/dd3"
pair "dd read to stdout ibs obs" dd if=@D/big.txt ibs=65537 obs=3000 count=50 status=none

# ---- python3 ------------------------------------------------------------------------------
cat >"$T/ops.py" <<'PY'
import errno, hashlib, os, shutil, stat, sys
d = sys.argv[1]
j = lambda *p: os.path.join(d, *p)
os.makedirs(j("a", "b"))
with open(j("a", "f.bin"), "wb") as f:
    for i in range(700):
        f.write(bytes((i * 7 + k) & 255 for k in range(997)))
    print("tell", f.tell())
with open(j("a", "f.bin"), "r+b") as f:
    f.seek(5000); f.write(b"PATCH")
    f.seek(-10, os.SEEK_END); print("tail", f.read().hex())
    f.seek(4998); print("mid", f.read(9))
    f.truncate(123457)
    f.seek(0, os.SEEK_END); print("end", f.tell())
st = os.stat(j("a", "f.bin"))
print("stat", st.st_size, oct(stat.S_IMODE(st.st_mode)), stat.S_ISREG(st.st_mode))
with open(j("a", "t.txt"), "w") as f:
    f.write("\n".join(str(i) for i in range(5000)))
with open(j("a", "t.txt")) as f:
    lines = f.readlines(); print("lines", len(lines), lines[4999])
with open(j("a", "t.txt"), "a") as f:
    f.write("\nappended\n")
shutil.copyfile(j("a", "f.bin"), j("a", "b", "copy.bin"))
print("copy md5", hashlib.md5(open(j("a", "b", "copy.bin"), "rb").read()).hexdigest())
os.rename(j("a", "t.txt"), j("a", "b", "t2.txt"))
os.replace(j("a", "b", "copy.bin"), j("a", "copy2.bin"))
print("listdir", sorted(os.listdir(j("a"))))
for root, dirs, files in os.walk(d):
    print("walk", os.path.relpath(root, d), sorted(dirs), sorted(files))
print("scandir", sorted((e.name, e.is_dir(), e.is_file()) for e in os.scandir(j("a"))))
try:
    open(j("missing"))
except OSError as e:
    print("missing", errno.errorcode[e.errno])
with open(j("x"), "x") as f:
    f.write("excl")
try:
    open(j("x"), "x")
except OSError as e:
    print("excl again", errno.errorcode[e.errno])
os.truncate(j("x"), 2)
print("exists", os.path.exists(j("x")), os.path.getsize(j("x")), os.path.isdir(j("a")))
os.utime(j("x"), (1000000000, 1200000000))
print("mtime", os.stat(j("x")).st_mtime)
os.chmod(j("x"), 0o604)
print("mode", oct(os.stat(j("x")).st_mode & 0o777))
os.remove(j("a", "copy2.bin"))
try:
    os.rmdir(j("a"))
except OSError as e:
    print("rmdir a", errno.errorcode[e.errno])
fd = os.open(j("raw"), os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"0123456789", 100)
print("pread", os.pread(fd, 20, 95), os.lseek(fd, 0, os.SEEK_END))
os.fsync(fd)
os.close(fd)
PY
pair "python3 file API" "$PY" "$T/ops.py" @D/py
same_tree "python3: same tree on the server" "$L/py" "$R/py"

# ---- sqlite3 --------------------------------------------------------------------------------
mkdir -p "$L/db" "$R/db"
{
	echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v INTEGER);"
	echo "BEGIN;"
	seq 1 10000 | awk '{ printf "INSERT INTO t VALUES(%d, %crow-%05d%c, %d);\n", $1, 39, $1, 39, ($1 * $1) % 9973 }'
	echo "COMMIT;"
	echo "CREATE INDEX tv ON t(v);"
	for i in $(seq 1 20); do echo "UPDATE t SET v = v + 1 WHERE id % 20 = $((i - 1));"; done
	echo "DELETE FROM t WHERE id % 100 = 7;"
} >"$T/db.sql"
pair -i "$T/db.sql" "sqlite3 create, 10k inserts in a transaction" sqlite3 -bail @D/db/test.db
pair "sqlite3 query" sqlite3 @D/db/test.db 'PRAGMA integrity_check; SELECT count(*), sum(v), min(name), max(name) FROM t; SELECT * FROM t WHERE id % 997 = 0; SELECT v, count(*) FROM t GROUP BY v ORDER BY 2 DESC, 1 LIMIT 5;'
same "sqlite3: same database file on the server" "$L/db/test.db" "$R/db/test.db"
same_tree "sqlite3: no journal left behind" "$L/db" "$R/db"

# ---- names: mkdir -p, mv, rm -r -------------------------------------------------------------
pair "mkdir -p" mkdir -p @D/p/q/r/s
same_tree "mkdir -p: the server has it" "$L/p" "$R/p"
pair "mv file within the mount" mv @D/big.cp @D/p/q/moved.txt
pair "mv dir within the mount" mv @D/tree3 @D/p/tree3
same_tree "mv within the mount: the server has it" "$L/p" "$R/p"
same_tree "mv dir within the mount: mtimes kept" "$L/p/tree3" "$R/p/tree3" mtime
for s in local remote; do
	mkdir -p "$T/mv/$s/dir/sub"
	cp "$T/in/tree/f6.bin" "$T/mv/$s/f"
	cp "$T/in/tree/a/text file.txt" "$T/mv/$s/dir/sub/"
done
pair "mv local file to the mount (cross-device)" mv "$T/mv/@side/f" @D/mvin
pair "mv local dir to the mount (cross-device)" mv "$T/mv/@side/dir" @D/mvdir
pair "mv mount file to local (cross-device)" mv @D/mvin "$T/mv/@side/back"
if [ ! -e "$R/mvin" ] && [ -d "$R/mvdir/sub" ] && [ ! -e "$T/mv/remote/f" ] && [ ! -e "$T/mv/remote/dir" ] &&
	cmp -s "$T/mv/remote/back" "$T/in/tree/f6.bin"; then
	pass "mv cross-device: sources gone, targets in place"
else
	fail "mv cross-device: $(ls -d "$R/mvin" "$R/mvdir/sub" "$T/mv/remote/f" "$T/mv/remote/dir" "$T/mv/remote/back" 2>&1 | tr '\n' ' ')"
fi
same_tree "mv local dir to the mount: the server has it" "$L/mvdir" "$R/mvdir"
pair "rm -r" rm -r @D/tree2
if [ ! -e "$R/tree2" ] && [ -d "$R/tree" ]; then
	pass "rm -r: gone on the server"
else
	fail "rm -r: $R/tree2 still exists: $(find "$R/tree2" | head -5 | tr '\n' ' ')"
fi
pair -e "rm of a missing file" rm @D/nothing-here

# ---- shell redirections through the shim ----------------------------------------------------
pair "bash builtins with redirections" bash -c 'for i in $(seq 1 3); do echo "line $i"; done >"$1/redir1"
	echo more >>"$1/redir1"
	while read -r l; do echo "[$l]"; done <"$1/redir1"
	exec 3<"$1/big.txt"; read -r first <&3; echo "first: $first"; exec 3<&-' _ @D
same "bash builtins: the server has the file" "$L/redir1" "$R/redir1"
pair "sh (dash) builtins with redirections" sh -c 'echo one >"$1/redir5"; echo two >>"$1/redir5"
	while read -r l; do echo "[$l]"; done <"$1/redir5"' _ @D
same "sh (dash) builtins: the server has the file" "$L/redir5" "$R/redir5"
# A redirection a program inherits across exec: bash opens the remote file,
# then execs the program with it as fd 1 (or fd 0); the shim hands the remote
# fds to the new program (CKPT_FDS).
pair "bash: cat remote > remote (fd 1 across exec)" bash -c 'cat "$1/big.txt" >"$1/redir2"' _ @D
same "bash: cat remote > remote: the server has it" "$L/redir2" "$R/redir2"
pair "bash: wc < remote (fd 0 across exec)" bash -c 'wc -l <"$1/big.txt"' _ @D
pair "bash: pipeline into gzip > remote" bash -c 'head -c 1000000 "$1/big.txt" | gzip -1 >"$1/redir3.gz"' _ @D
same "bash: pipeline into gzip > remote: the server has it" "$L/redir3.gz" "$R/redir3.gz"
pair "bash: sort (stdio) > remote, 2>> remote" bash -c 'sort -r "$1/tree/text file.txt" >"$1/redir4" 2>>"$1/redir4.err"' _ @D
same "bash: sort > remote: the server has it" "$L/redir4" "$R/redir4"

# ---- everything, once more ----------------------------------------------------------------------
same_tree "at the end: the server's tree equals the local one" "$L" "$R"
finish

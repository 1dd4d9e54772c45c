# lib.sh - helpers for the end-to-end suites (sourced, not run).
#
# A suite sources this, starts servers with start_server, runs programs under
# the shim with shim, and reports each check as one line "PASS name" or
# "FAIL name: why" (counted by tests/run-all). Every suite cleans up after
# itself (servers stopped, temporary directories removed) on any exit.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
BIN=$BUILD/bin
PROGS=$BUILD/progs
SHIM=$BUILD/lib/libckptshim.so.1
SERVER=$BIN/ckpt-server
# CKPT_TEST_SERVER_CMD: how start_server runs the server instead, as words
# split at blanks (make check-hetero: "qemu-s390x-static .../ckpt-server"),
# except for the servers named in CKPT_TEST_NATIVE_SERVERS (a mixed job).
SERVER_CMD=("$SERVER")
if [ -n "${CKPT_TEST_SERVER_CMD:-}" ]; then read -r -a SERVER_CMD <<<"$CKPT_TEST_SERVER_CMD"; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-e2e.XXXXXX")
SERVER_PIDS=()
BG_PIDS=()
FAILS=0
# Seconds any one program under test may run before it counts as hung.
TIMEOUT=${TIMEOUT:-60}
# A server that stops answering fails the call (EIO) after this many seconds
# rather than the default 30, so a hung server costs a suite little time.
# Checks of the timeout itself set their own value.
export CKPT_IO_TIMEOUT=${CKPT_IO_TIMEOUT:-10}
PY=/usr/bin/python3 # never a pyenv shim from PATH
export LC_ALL=C

cleanup_all() {
	local p
	for p in "${BG_PIDS[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	for p in "${SERVER_PIDS[@]}"; do alive "$p" && kill -CONT "$p" && kill -TERM "$p"; done 2>/dev/null
	for p in "${SERVER_PIDS[@]}"; do wait_gone "$p" 15 || echo "server pid $p ignored SIGTERM: killed"; done
	# A sanitizer report in a server's log is a failure, even at exit.
	if grep -q -E 'runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$T"/*.log 2>/dev/null; then
		echo "FAIL sanitizer report in a server log:"
		grep -h -E -A3 'runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$T"/*.log | head -20
	fi
	rm -rf "$T"
}
trap cleanup_all EXIT

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
skip() { echo "SKIP $*"; }

# start_server NAME ROOT [ARGS...]: starts ckpt-server on unix:$T/NAME.sock,
# sets SOCK_<NAME>, PID_<NAME>; the server's log is $T/NAME.log.
start_server() {
	local name=$1 root=$2 i cmd=("${SERVER_CMD[@]}")
	shift 2
	[[ " ${CKPT_TEST_NATIVE_SERVERS:-} " == *" $name "* ]] && cmd=("$SERVER")
	mkdir -p "$root"
	rm -f "$T/$name.ready"
	"${cmd[@]}" --root "$root" --listen "unix:$T/$name.sock" --ready-file "$T/$name.ready" \
		--log-level info "$@" </dev/null >>"$T/$name.log" 2>&1 &
	local pid=$!
	SERVER_PIDS+=("$pid")
	for i in $(seq 1 200); do
		[ -s "$T/$name.ready" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$T/$name.ready" ]; then
		echo "server $name did not start:"; cat "$T/$name.log"
		return 1
	fi
	eval "SOCK_$name=\$T/\$name.sock; PID_$name=\$pid"
}

# stop_server NAME: SIGTERM, then waits up to 15 s (then SIGKILL) for the
# server to exit; returns 0 if it exited 0, else says why and returns 1.
stop_server() {
	local pid
	eval "pid=\${PID_$1:-}"
	[ -n "$pid" ] || return 0
	alive "$pid" && kill -TERM "$pid"
	if ! wait_gone "$pid" 15; then
		echo "server $1 still ran 15 s after SIGTERM: killed"
		return 1
	fi
	[ "$RC" = 0 ] || { echo "server $1 exited $RC after SIGTERM"; return 1; }
}

# in_clean CMD...: exec CMD with only fds 0-2 open. A checkpoint refuses fds it
# cannot restore (pipes, sockets), and a harness may leak some into children.
in_clean() {
	local f
	for f in /proc/$BASHPID/fd/*; do
		f=${f##*/}
		[ "$f" -gt 2 ] && eval "exec $f>&-"
	done
	exec "$@"
}

# shim MOUNTS CMD...: runs CMD with the shim and CKPT_MOUNTS=MOUNTS.
shim() {
	local m=$1
	shift
	LD_PRELOAD=$SHIM CKPT_MOUNTS=$m "$@"
}

# same NAME FILE1 FILE2: byte-for-byte comparison.
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $2 and $3 differ"; cmp "$2" "$3" | head -2; fi
}

# expect NAME CMD...: the command must succeed.
expect() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name: '$*' exited $?"; fi
}

# need_server NAME ROOT [ARGS...]: start_server, or end the suite with a FAIL.
need_server() {
	start_server "$@" && return 0
	fail "start server $1: see its log above"
	exit 1
}

# shimt MOUNTS CMD...: as shim, under `timeout $TIMEOUT` (timeout itself runs
# without the shim).
shimt() {
	local m=$1
	shift
	timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" CKPT_MOUNTS="$m" "$@"
}

# show_diff FILE1 FILE2: a short description of how two files differ.
show_diff() {
	local s1 s2
	s1=$(stat -c %s "$1" 2>/dev/null || echo missing)
	s2=$(stat -c %s "$2" 2>/dev/null || echo missing)
	echo "    sizes: $s1 vs $s2"
	if [ "$s1" != missing ] && [ "$s2" != missing ] && [ "$s1" -lt 1000000 ] && [ "$s2" -lt 1000000 ] &&
		grep -Iq . "$1" "$2" 2>/dev/null; then
		diff -u "$1" "$2" | head -40 | sed 's/^/    /'
	else
		cmp "$1" "$2" 2>&1 | head -2 | sed 's/^/    /'
	fi
}

# same_text NAME FILE1 FILE2: as same, showing a diff on failure.
same_text() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $2 and $3 differ"; show_diff "$2" "$3"; fi
}

# tree_list DIR [mtime]: one sorted line per entry below DIR: path, type,
# permissions, size (not for directories), symlink target, and with a second
# argument the mtime of files and symlinks (directories' mtimes move with every
# entry made in them, so they are never compared).
tree_list() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%s|%l|%T@\n') |
		awk -F'|' -v t="${2:-}" 'BEGIN{OFS="|"} {if ($2 == "d") {$4 = "-"; $6 = "-"} else if (t == "") $6 = "-"; print}' | sort
}

# same_tree NAME DIR1 DIR2 [mtime]: the two trees hold the same names, types,
# permissions, sizes, link targets (and mtimes) and the same file contents.
same_tree() {
	local name=$1 a=$2 b=$3 why=
	if [ ! -d "$a" ] || [ ! -d "$b" ]; then
		fail "$name: missing directory ($a or $b)"
		return
	fi
	tree_list "$a" "${4:-}" >"$T/tree.1"
	tree_list "$b" "${4:-}" >"$T/tree.2"
	if ! cmp -s "$T/tree.1" "$T/tree.2"; then
		why="listings differ"
	elif ! diff -r --no-dereference "$a" "$b" >"$T/tree.diff" 2>&1; then
		why="contents differ"
	fi
	if [ -z "$why" ]; then
		pass "$name"
	else
		fail "$name: $a and $b: $why"
		diff -u "$T/tree.1" "$T/tree.2" | head -30 | sed 's/^/    /'
		head -10 "$T/tree.diff" 2>/dev/null | sed 's/^/    /'
	fi
}

# Paired runs. A suite sets PAIR_MOUNTS (the shim's CKPT_MOUNTS), PAIR_LOCAL
# (a local directory) and PAIR_REMOTE (the remote directory under a mount
# that mirrors it, e.g. /data), then:
#
# pair [-e] [-q] [-d] [-f FILTER] [-i INPUT] NAME CMD...
#   runs CMD twice from $T/wd with stdin from INPUT (default /dev/null):
#   plainly with "@D" in its arguments replaced by PAIR_LOCAL and "@side" by
#   "local", then under the shim with "@D" replaced by PAIR_REMOTE and "@side"
#   by "remote". The exit statuses, the stdouts (passed through the shell
#   command FILTER first, e.g. sort) and the stderrs must be the same once
#   each side's directory is written "@D". The local run must exit 0 (with -e:
#   must fail), so two runs that both do nothing never pass. The outputs stay
#   in $T/pair/NAME.{l,r}{out,err}.
#   -d: the remote run gets CKPT_DEBUG=1; its "ckptshim: " lines go to
#       $T/pair/NAME.rdebug instead of being compared.
#   -q: on a mismatch print nothing and return 1 with the reason in PAIR_WHY
#       and the details in the file PAIR_DETAILS (the caller reports it).
pair() {
	local want_fail=0 filter= input=/dev/null name a l r lrc rrc why= o quiet=0 debug=0
	while [ $# -gt 0 ]; do
		case "$1" in
		-e) want_fail=1; shift ;;
		-q) quiet=1; shift ;;
		-d) debug=1; shift ;;
		-f) filter=$2; shift 2 ;;
		-i) input=$2; shift 2 ;;
		*) break ;;
		esac
	done
	name=$1
	shift
	local largs=() rargs=()
	for a in "$@"; do
		l=${a//@side/local}
		r=${a//@side/remote}
		largs+=("${l//@D/$PAIR_LOCAL}")
		rargs+=("${r//@D/$PAIR_REMOTE}")
	done
	mkdir -p "$T/pair" "$T/wd"
	o=$T/pair/${name//[^A-Za-z0-9_.-]/_}
	(cd "$T/wd" && timeout -k 5 "$TIMEOUT" "${largs[@]}") <"$input" >"$o.lraw" 2>"$o.lerr0"
	lrc=$?
	if [ "$debug" = 1 ]; then
		(cd "$T/wd" && CKPT_DEBUG=1 shimt "$PAIR_MOUNTS" "${rargs[@]}") <"$input" >"$o.rraw" 2>"$o.rdbg0"
		rrc=$?
		grep -a '^ckptshim: ' "$o.rdbg0" >"$o.rdebug"
		grep -av '^ckptshim: ' "$o.rdbg0" >"$o.rerr0"
		rm -f "$o.rdbg0"
	else
		(cd "$T/wd" && shimt "$PAIR_MOUNTS" "${rargs[@]}") <"$input" >"$o.rraw" 2>"$o.rerr0"
		rrc=$?
	fi
	pair_norm "$PAIR_LOCAL" "$filter" <"$o.lraw" >"$o.lout"
	pair_norm "$PAIR_REMOTE" "$filter" <"$o.rraw" >"$o.rout"
	pair_norm "$PAIR_LOCAL" "" <"$o.lerr0" >"$o.lerr"
	pair_norm "$PAIR_REMOTE" "" <"$o.rerr0" >"$o.rerr"
	rm -f "$o.lraw" "$o.rraw"
	if [ "$want_fail" = 0 ] && [ "$lrc" != 0 ]; then
		why="the local run failed (exit $lrc), the check proves nothing"
	elif [ "$want_fail" = 1 ] && [ "$lrc" = 0 ]; then
		why="the local run succeeded where a failure was expected"
	elif [ "$rrc" != "$lrc" ]; then
		why="exit status $rrc under the shim, $lrc locally"
	elif ! cmp -s "$o.lout" "$o.rout"; then
		why="stdout differs"
	elif ! cmp -s "$o.lerr" "$o.rerr"; then
		why="stderr differs"
	fi
	if [ -z "$why" ]; then
		[ "$quiet" = 1 ] || pass "$name"
		return 0
	fi
	PAIR_WHY=$why
	PAIR_DETAILS=$o.details
	{
		echo "    local:  ${largs[*]}"
		echo "    remote: ${rargs[*]}"
		if ! cmp -s "$o.lout" "$o.rout"; then
			echo "    stdout (local vs remote):"
			show_diff "$o.lout" "$o.rout"
		fi
		if ! cmp -s "$o.lerr" "$o.rerr"; then
			echo "    stderr (local vs remote):"
			show_diff "$o.lerr" "$o.rerr"
		fi
		if [ "$debug" = 1 ]; then
			echo "    last CKPT_DEBUG lines:"
			tail -8 "$o.rdebug" | sed 's/^/    /'
		fi
	} >"$PAIR_DETAILS"
	[ "$quiet" = 1 ] && return 1
	fail "$name: $why"
	cat "$PAIR_DETAILS"
	return 1
}

# pair_norm DIR FILTER: stdin to stdout with DIR written "@D", through FILTER.
pair_norm() {
	local d=${1//./\\.}
	if [ -n "$2" ]; then
		sed "s|$d|@D|g" | sh -c "$2"
	else
		sed "s|$d|@D|g"
	fi
}

# Background processes: a suite starts them with "&" directly (never in a
# pipeline or an inner subshell, so they are this shell's jobs) and adds $!
# to BG_PIDS; cleanup kills those still running.

# alive PID: PID is one of this shell's jobs and has not finished. Unlike
# kill -0, never true for a number the kernel has given to another process.
alive() {
	local p
	for p in $(jobs -pr) $(jobs -ps); do
		[ "$p" = "$1" ] && return 0
	done
	return 1
}

# wait_gone PID SECONDS: waits for a child to exit; sets RC to its status
# (or "hung" if it still ran after SECONDS; it is then killed).
wait_gone() {
	local pid=$1 i
	for i in $(seq 1 $(($2 * 20))); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		RC=hung
		return 1
	fi
	wait "$pid" 2>/dev/null
	RC=$?
	return 0
}

# now: seconds since the epoch, with milliseconds.
now() { date +%s.%N | cut -c1-14; }
# elapsed T0 [T1]: seconds between two `now`s, as a decimal.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN{printf "%.2f", b - a}'; }
# le A B: true if the decimal A <= B.
le() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a <= b)}'; }

# gen_lines FILE LINES SEED: a deterministic text file of LINES random lines.
gen_lines() {
	gawk -v n="$2" -v seed="$3" 'BEGIN {
		srand(seed)
		w = "abcdefghijklmnopqrstuvwxyz"
		for (i = 0; i < n; i++)
			printf "%08d %s line-%d %x\n", int(rand() * 1e8),
				substr(w, int(rand() * 20) + 1, 3 + int(rand() * 6)), i, int(rand() * 2147483647)
	}' >"$1"
}

finish() { [ "$FAILS" -eq 0 ]; }

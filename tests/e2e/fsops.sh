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
finish

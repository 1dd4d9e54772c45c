#!/bin/bash
# load.sh - many jobs at once on the same two servers, checkpointed at random
# instants, some killed with SIGKILL and restarted: no job sees another's
# files or checkpoints, and the servers' memory stays bounded.
#
# LOAD_JOBS jobs (default 32), each its own process of tests/progs/soak_work
# with its own seed and length, writing /a/jK on server A and /b/jK on server
# B, with LOAD_BALLAST_KB (default 4096) of incompressible memory, run under
# ckpt-run --mount at once. A driver sends `ckpt checkpoint --job` to 1-4
# random running jobs at once, every few tens of milliseconds, and, LOAD_KILLS times
# (default 12), kills a job that has a checkpoint with SIGKILL and restarts it
# with ckpt-restart --server A --server B while the others go on. Then: every
# job finished; its files on both servers are byte for byte those of a local
# run of the same program (so no rollback of one job touched another's
# files, and no job restarted from another's image); `ckpt list` on each
# server shows exactly the jobs, each with its own newest generation; every
# joint file of a job says that job; the peak RSS of each server (VmHWM) is
# printed and must stay under LOAD_RSS_MB (default 256).
source "$(dirname "$0")/lib.sh"

NJOBS=${LOAD_JOBS:-32}
KILLS=${LOAD_KILLS:-12}
RSS_MB=${LOAD_RSS_MB:-256}
PACE=${LOAD_PACE_US:-5000} # per step: 2000-3000 steps make 10-15 s per job
BALLAST=${LOAD_BALLAST_KB:-4096} # incompressible memory per job: images of ~4 MiB
SEED=${LOAD_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
RUN=$BIN/ckpt-run
RESTART=$BIN/ckpt-restart
CKPT=$BIN/ckpt
WORK=$PROGS/soak_work
export CKPT_RUN_DIR=$T/run
R=$CKPT_RUN_DIR
mkdir -p "$R" "$T/wd" "$T/local"
chmod 700 "$R"
cd "$T/wd" || exit 1
echo "load: $NJOBS jobs, $KILLS kills, seed $SEED (LOAD_SEED reproduces the driver's choices)"

WP=() # the wrapper (ckpt-run or ckpt-restart) of each job
stop_wrappers() {
	local p c
	for p in "${WP[@]}"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
	for p in "${WP[@]}"; do
		alive "$p" || continue
		wait_gone "$p" 10 && continue
		for c in $(pgrep -P "$p"); do kill -KILL "$c" 2>/dev/null; done
	done
}
trap 'stop_wrappers; cleanup_all' EXIT

need_server A "$T/rootA" --state-dir "$T/stateA" --log-level warn
need_server B "$T/rootB" --state-dir "$T/stateB" --log-level warn
SRV=(--server "unix:$SOCK_A" --server "unix:$SOCK_B")

steps_of() { echo $((2000 + ($1 * 337) % 1000)); }
seed_of() { echo $((1000 + $1 * 7919)); }

# ---- references: every job's program run locally, all at once (without the pace, which
# changes nothing but the time) ---------------------------------------------------------------
t0=$(now)
refs=()
for ((k = 1; k <= NJOBS; k++)); do
	"$WORK" "$T/local/a$k" "$T/local/b$k" "$(steps_of $k)" "$(seed_of $k)" 0 "$BALLAST" >/dev/null 2>"$T/local$k.err" &
	refs+=($!)
done
bad=0
for p in "${refs[@]}"; do wait "$p" || bad=$((bad + 1)); done
[ "$bad" = 0 ] || { fail "$bad local reference runs failed: $(cat "$T"/local*.err | head -3)"; exit 1; }
echo "    references: $NJOBS local runs in $(elapsed "$t0") s"

# ---- all jobs at once --------------------------------------------------------------------------
t0=$(now)
for ((k = 1; k <= NJOBS; k++)); do
	(in_clean "$RUN" --mount "/a=unix:$SOCK_A" --mount "/b=unix:$SOCK_B" --job "j$k" -- \
		"$WORK" "/a/j$k" "/b/j$k" "$(steps_of $k)" "$(seed_of $k)" "$PACE" "$BALLAST") </dev/null >>"$T/j$k.out" 2>>"$T/j$k.err" &
	WP[k]=$!
done

# pidof_job K: the pid of job K's program, if it runs.
pidof_job() { local p; p=$(cat "$R/j$1.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }
# ready K: job K's program runs with the shim loaded (not a wrapper's child
# that has yet to exec it, nor the loader still restoring it).
ready() {
	local p
	p=$(pidof_job "$1") && [ "$(cat "/proc/$p/comm" 2>/dev/null)" != ckpt-restore ] &&
		grep -q libckptshim "/proc/$p/maps" 2>/dev/null
}

GEN=()      # the newest generation each job's checkpoints reported
KILLED=()   # how many times each job was killed
ok_ck=0 failed_ck=0 kills=0 survived=0 peak_rss_a=0 peak_rss_b=0
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
deadline=$(($(date +%s) + ${LOAD_TIMEOUT:-150}))
while [ "$(date +%s)" -lt "$deadline" ]; do
	running=()
	for ((k = 1; k <= NJOBS; k++)); do alive "${WP[k]}" && running+=("$k"); done
	[ ${#running[@]} -gt 0 ] || break
	k=${running[RANDOM % ${#running[@]}]}
	if [ "$kills" -lt "$KILLS" ] && [ -n "${GEN[k]:-}" ] && [ "${KILLED[k]:-0}" -lt 2 ] && [ $((RANDOM % 4)) = 0 ]; then
		# SIGKILL, then restart while the others run on
		if p=$(pidof_job "$k"); then
			kill -KILL "$p"
			wait_gone "${WP[k]}" 30
			kills=$((kills + 1))
			KILLED[k]=$((${KILLED[k]:-0} + 1))
			echo "kill (gen ${GEN[k]}): wrapper $RC" >>"$T/j$k.events"
			# nothing of the program may outlive it (it would hold its sessions)
			for ((i = 0; i < 40; i++)); do
				left=$(pgrep -f -- "$WORK /a/j$k /b/j$k ")
				[ -z "$left" ] && break
				sleep 0.05
			done
			if [ -n "$left" ]; then
				survived=$((survived + 1))
				echo "    job j$k: process(es) $left outlived the SIGKILL of $p:" \
					"$(for q in $left; do grep -E '^(State|PPid)' "/proc/$q/status" | tr '\n\t' '  '; done)"
				kill -KILL $left 2>/dev/null
			fi
			if [ "$RC" = 137 ]; then
				rm -f "$R/j$k.pid"
				(in_clean "$RESTART" "${SRV[@]}" --job "j$k") </dev/null >>"$T/j$k.out" 2>>"$T/j$k.err" &
				WP[k]=$!
				for ((i = 0; i < 500; i++)); do # until the loader has become the program
					ready "$k" && break
					alive "${WP[k]}" || break
					sleep 0.02
				done
			fi
		fi
	else
		# checkpoints of 1 to 4 running jobs at once
		batch=()
		for ((i = $((1 + RANDOM % 4)); i > 0; i--)); do
			j=${running[RANDOM % ${#running[@]}]}
			[[ " ${batch[*]} " == *" $j "* ]] || ! ready "$j" || batch+=("$j")
		done
		cps=()
		for j in "${batch[@]}"; do
			"$CKPT" checkpoint --job "j$j" --timeout 60 >"$T/ck$j" 2>&1 &
			cps+=($!)
		done
		for ((i = 0; i < ${#batch[@]}; i++)); do
			j=${batch[i]}
			wait "${cps[i]}"
			rc=$?
			out=$(cat "$T/ck$j")
			if [ "$rc" = 0 ]; then
				ok_ck=$((ok_ck + 1))
				g=$(sed -n "s/^job j$j: generation \([0-9]*\),.*/\1/p" <<<"$out")
				if [ -n "$g" ]; then
					GEN[j]=$g
				else
					failed_ck=$((failed_ck + 1))
					echo "    job j$j: unexpected output: $out"
				fi
				echo "checkpoint: $out" >>"$T/j$j.events"
			elif ready "$j"; then
				# a failure while the program still runs (not because it ended)
				failed_ck=$((failed_ck + 1))
				echo "    job j$j: checkpoint failed while running: $out"
			fi
		done
	fi
	a=$(hwm "$PID_A") b=$(hwm "$PID_B")
	[ "$a" -gt "$peak_rss_a" ] && peak_rss_a=$a
	[ "$b" -gt "$peak_rss_b" ] && peak_rss_b=$b
	sleep "0.0$((RANDOM % 5))"
done
secs=$(elapsed "$t0")
notdone=0 badexit=0
for ((k = 1; k <= NJOBS; k++)); do
	if alive "${WP[k]}"; then
		notdone=$((notdone + 1))
		continue
	fi
	wait "${WP[k]}"
	rc=$?
	if [ "$rc" != 0 ]; then
		badexit=$((badexit + 1))
		echo "    job j$k exited $rc: $(tail -2 "$T/j$k.err")"
	fi
done
echo "load: $NJOBS jobs in $secs s; $ok_ck checkpoints, $failed_ck failed; $kills kills and restarts"
if [ "$notdone" = 0 ] && [ "$badexit" = 0 ]; then
	pass "$NJOBS jobs on two servers, $ok_ck checkpoints at random instants, $kills SIGKILL/restarts: all finished ($secs s)"
else
	fail "$notdone jobs still running after ${LOAD_TIMEOUT:-150} s, $badexit exited non-zero"
fi
[ "$survived" = 0 ] || fail "$survived times a process of a killed job outlived its SIGKILL (see above)"
[ "$failed_ck" = 0 ] && pass "no checkpoint failed ($ok_ck ok)" || fail "$failed_ck checkpoints failed while their program ran"
[ "$kills" -ge $((KILLS < NJOBS ? KILLS / 2 : NJOBS / 2)) ] || fail "only $kills kills happened (wanted $KILLS)"

# ---- every job's files are its own, as a local run leaves them ----------------------------------
diverged=0
for ((k = 1; k <= NJOBS; k++)); do
	if [ "$(tree_list "$T/rootA/j$k" 2>&1)" != "$(tree_list "$T/local/a$k")" ] ||
		[ "$(tree_list "$T/rootB/j$k" 2>&1)" != "$(tree_list "$T/local/b$k")" ] ||
		! diff -r "$T/rootA/j$k" "$T/local/a$k" >/dev/null 2>&1 || ! diff -r "$T/rootB/j$k" "$T/local/b$k" >/dev/null 2>&1; then
		diverged=$((diverged + 1))
		echo "    job j$k (killed ${KILLED[k]:-0} times) differs from its local run:"
		diff -r "$T/local/a$k" "$T/rootA/j$k" 2>&1 | head -4 | sed 's/^/      /'
		diff -r "$T/local/b$k" "$T/rootB/j$k" 2>&1 | head -4 | sed 's/^/      /'
		sed 's/^/      /' "$T/j$k.events" 2>/dev/null | tail -6
	fi
done
extra=$(cd "$T/rootA" && ls -A | grep -v -x -E "j[0-9]+"; cd "$T/rootB" && ls -A | grep -v -x -E "j[0-9]+")
if [ "$diverged" = 0 ] && [ -z "$extra" ]; then
	pass "every job's files on both servers are byte for byte those of its own local run (the $kills killed ones too)"
else
	fail "$diverged jobs' files differ from their local runs${extra:+; stray entries: $extra}"
fi

# ---- every job's checkpoints are its own ----------------------------------------------------------
listbad=
for s in A B; do
	sock=SOCK_$s sock=${!sock}
	if ! "$CKPT" list --server "unix:$sock" >"$T/list$s" 2>&1; then
		listbad+=" ckpt list on $s failed: $(head -2 "$T/list$s")"
		continue
	fi
	jobs=$(awk 'NR > 1 { print $1 }' "$T/list$s" | sort -u)
	want=$(for ((k = 1; k <= NJOBS; k++)); do [ -n "${GEN[k]:-}" ] && echo "j$k"; done | sort)
	[ "$jobs" = "$want" ] || listbad+=" server $s lists jobs '$(echo $jobs)', want '$(echo $want)';"
	for ((k = 1; k <= NJOBS; k++)); do
		[ -n "${GEN[k]:-}" ] || continue
		newest=$(awk -v j="j$k" 'NR > 1 && $1 == j && $3 == "committed" { if ($2 > g) g = $2 } END { print g + 0 }' "$T/list$s")
		[ "$newest" = "${GEN[k]}" ] || listbad+=" server $s: job j$k newest committed generation $newest, its checkpoints said ${GEN[k]};"
		for f in "$T/state$s/j$k"/gen-*.ckpt; do
			[ -e "$f" ] || continue
			if ! "$CKPT" inspect "$f" >"$T/inspect" 2>&1; then
				listbad+=" $f: $(head -1 "$T/inspect");"
			elif ! grep -q -w "j$k" "$T/inspect" || grep -E -w -o "j[0-9]+" "$T/inspect" | grep -v -x -q "j$k"; then
				listbad+=" $f names another job: $(grep -E -w -o 'j[0-9]+' "$T/inspect" | sort -u | tr '\n' ' ');"
			fi
		done
	done
done
if [ -z "$listbad" ]; then
	pass "ckpt list on each server: exactly the $NJOBS jobs, each at the generation its own checkpoints reported; every joint file names its own job only"
else
	fail "checkpoints mixed up:$listbad"
fi

# ---- the servers' memory ---------------------------------------------------------------------------
a=$(hwm "$PID_A") b=$(hwm "$PID_B")
[ "$a" -gt "$peak_rss_a" ] && peak_rss_a=$a
[ "$b" -gt "$peak_rss_b" ] && peak_rss_b=$b
echo "load: peak RSS (VmHWM) of server A $((peak_rss_a / 1024)) MiB, server B $((peak_rss_b / 1024)) MiB" \
	"(bound $RSS_MB MiB; $((peak_rss_a / NJOBS)) KiB per job on A)"
if [ "$peak_rss_a" -gt 0 ] && [ "$peak_rss_a" -le $((RSS_MB * 1024)) ] && [ "$peak_rss_b" -gt 0 ] &&
	[ "$peak_rss_b" -le $((RSS_MB * 1024)) ]; then
	pass "servers' peak RSS: A $((peak_rss_a / 1024)) MiB, B $((peak_rss_b / 1024)) MiB, within $RSS_MB MiB"
else
	fail "servers' peak RSS: A ${peak_rss_a} KiB, B ${peak_rss_b} KiB (bound $RSS_MB MiB)"
fi
stop_server A || fail "server A did not stop cleanly"
stop_server B || fail "server B did not stop cleanly"
finish

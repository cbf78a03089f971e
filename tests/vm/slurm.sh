#!/usr/bin/env bash
# grainvm under a real Slurm (issue 17): a one-node cluster of its own
# (munged, slurmctld and slurmd from Debian's slurm-wlm and munge, with a
# config, key, sockets, ports on 127.0.0.1 and state all in this test's
# temp directory, so that a munged or Slurm already on the host is never
# touched) runs packaging/slurm's scripts:
#   - a job array of 4 VMs, one build each, three that pass and one that
#     fails: sacct's exit codes are the builds'; the four tasks use one VM
#     name and run at the same time on the node, and do not collide
#     (each job has its own grainvm home);
#   - the same 4 builds one after another by hand, for the timing;
#   - a running VM job cancelled: the guest powered off (state says so),
#     no process, socket or overlay of it is left.
# Every daemon it starts it stops, by PID.
. "$(dirname "$0")/lib.sh"

: "${GV_SLURM_DIR:?meson sets GV_SLURM_DIR to packaging/slurm}"
: "${GV_SLURM_SBATCH_DIR:?meson sets GV_SLURM_SBATCH_DIR to the configured sbatch scripts}"
for tool in munged slurmctld slurmd sbatch sacct scancel scontrol sinfo squeue; do
	command -v "$tool" >/dev/null ||
		fail "$tool not found: apt-get install slurmctld slurmd slurm-client munge (.ci/deps does)"
done

# ---- a private one-node cluster ----------------------------------------------------
S=$T/slurm
mkdir -p "$S/state" "$S/spool" "$T/tmp"
# munged wants its socket's directory searchable by all, its key private.
chmod 711 "$T" "$S"
chmod 1777 "$T/tmp"
head -c 1024 /dev/urandom >"$S/munge.key"
chmod 600 "$S/munge.key"
PIDS=()
stop_cluster() {
	local pid
	# Our cluster's jobs only: SLURM_CONF names its config, never the host's.
	if [ -f "$S/slurm.conf" ]; then
		SLURM_CONF=$S/slurm.conf scancel --full --quiet --user="$(id -un)" 2>/dev/null
		# KillWait (30 s) and then SIGKILL: every process of a job ends.
		for _ in $(seq 1 200); do
			[ -z "$(SLURM_CONF=$S/slurm.conf squeue -h -o %i 2>/dev/null)" ] && break
			sleep 0.2
		done
	fi
	# A job's VM that outlived its job is a leak: by its pid files, once
	# /proc shows the PID is still one the jobs started (their TMPDIR).
	local f
	for f in "$T"/tmp/grainvm-*/run/*/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		case $pid in '' | *[!0-9]*) continue ;; esac
		if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "TMPDIR=$T/tmp"; then
			echo "FAIL-CLEANUP: a job's process $pid outlived its job" >&2
			kill -9 "$pid" 2>/dev/null
		fi
	done
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
}
on_cleanup stop_cluster

munged -F --socket="$S/munge.sock" --key-file="$S/munge.key" --pid-file="$S/munged.pid" \
	--log-file="$S/munged.log" --seed-file="$S/munged.seed" </dev/null >"$S/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$S/munge.sock" ] && break; sleep 0.1; done
[ -S "$S/munge.sock" ] || { cat "$S/munged.out"; fail "munged did not start"; }

read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
node=$(hostname -s)
# CPUs=8 on a smaller host (config_overrides): four 2-CPU tasks at once.
cat >"$S/slurm.conf" <<CONF
ClusterName=grainvmtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge.sock
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
JobCompType=jobcomp/filetxt
JobCompLoc=$S/jobcomp.txt
KillWait=30
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$S/slurm.conf
slurmctld -D -f "$SLURM_CONF" </dev/null >"$S/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" </dev/null >"$S/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 150); do
	sinfo -h -o %T 2>/dev/null | grep -q idle && break
	sleep 0.2
done
sinfo -h -o %T 2>/dev/null | grep -q idle ||
	{ tail -n 20 "$S"/*.log "$S"/*.out >&2; fail "the one-node cluster did not come up"; }
note "slurm: one-node cluster up (ports $ctld_port, $slurmd_port on 127.0.0.1)"

# Jobs get grainvm's per-job home (no GRAINVM_HOME) under their TMPDIR.
submit() {
	env -u GRAINVM_HOME TMPDIR="$T/tmp" GRAINVM_JOB="$GV_SLURM_DIR/grainvm-job" \
		sbatch --parsable "$@"
}
# job_states JOBID...: "ID STATE EXITCODE" of each finished one, from sacct
# (-c: the job completion log; this cluster has no accounting database).
job_states() {
	local ids
	ids=$(IFS=,; echo "$*")
	sacct -c -n -P -j "$ids" -o JobID,State,ExitCode 2>/dev/null | tr '|' ' '
}
# task_ids ARRAYID: the job id of each array task, task 0 first.  (sacct -c
# knows the tasks only by their own job ids, not as ARRAYID_TASK.)
task_ids() {
	scontrol show job -o "$1" |
		sed -n 's/^JobId=\([0-9]*\) ArrayJobId=[0-9]* ArrayTaskId=\([0-9]*\) .*/\2 \1/p' |
		sort -n | cut -d' ' -f2
}

p=$(new_project "$PREFIX-sl")
cd "$p"
echo hello >data.txt
cat >matrix.txt <<'M'
# the test matrix: one VM per line
true
test -d /mnt/workspace && echo workspace there
exit 7
grep -q hello /mnt/workspace/data.txt
M
want=(0 0 7 0)

# ---- the job array ----------------------------------------------------------------------
t0=$(date +%s.%N)
arr=$(GRAINVM_VM=twin submit --array=0-3 "$GV_SLURM_SBATCH_DIR/grainvm-matrix.sbatch" matrix.txt)
[ -n "$arr" ] || fail "sbatch of the array failed"
# (A task has a job id of its own once it starts; until then the pending
# ones share one record.)
ids=()
for _ in $(seq 1 1800); do
	[ ${#ids[@]} -eq 4 ] || mapfile -t ids < <(task_ids "$arr")
	[ ${#ids[@]} -eq 4 ] &&
		[ "$(job_states "${ids[@]}" | grep -cE ' (COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) ')" -eq 4 ] &&
		break
	sleep 0.2
done
t1=$(date +%s.%N)
[ ${#ids[@]} -eq 4 ] || fail "array $arr: tasks ${ids[*]}"
states=$(job_states "${ids[@]}")
echo "$states"
for i in 0 1 2 3; do
	out=$p/grainvm-matrix-${arr}_$i.out
	row=$(echo "$states" | grep "^${ids[$i]} ") || fail "task $i (job ${ids[$i]}) has no result: $states"
	if [ "${want[$i]}" -eq 0 ]; then
		echo "$row" | grep -q " COMPLETED 0:0$" || { cat "$out"; fail "task $i: $row"; }
	else
		echo "$row" | grep -q " FAILED ${want[$i]}:0$" || { cat "$out"; fail "task $i: $row"; }
	fi
done
grep -q "workspace there" "$p/grainvm-matrix-${arr}_1.out" || fail "task 1's log is not in its output"
# One name, four jobs, at the same time on one node: the last to start
# started before the first to end ended.
last_start=$(sacct -c -n -P -j "$(IFS=,; echo "${ids[*]}")" -o Start 2>/dev/null | sort | tail -n 1)
first_end=$(sacct -c -n -P -j "$(IFS=,; echo "${ids[*]}")" -o End 2>/dev/null | sort | head -n 1)
[[ "$last_start" < "$first_end" ]] || fail "the four VMs did not run at the same time ($last_start, $first_end)"
for i in 0 1 2 3; do
	grep -q "vm twin is ready" "$p/grainvm-matrix-${arr}_$i.out" || fail "task $i: vm twin not ready"
	grep -q "vm state: stopped: guest powered off" "$p/grainvm-matrix-${arr}_$i.out" ||
		{ cat "$p/grainvm-matrix-${arr}_$i.out"; fail "task $i: the VM did not power off"; }
done

# ---- the same four, one after another, by hand --------------------------------------------
t2=$(date +%s.%N)
i=0
while read -r line; do
	case $line in '' | '#'*) continue ;; esac
	"$GRAINVM" up -q "$PREFIX-h$i" >/dev/null || fail "by hand: up $i"
	set +e
	"$GRAINVM" build "$PREFIX-h$i" -- sh -c "$line" >/dev/null
	rc=$?
	set -e
	[ "$rc" -eq "${want[$i]}" ] || fail "by hand: build $i exited $rc"
	"$GRAINVM" down -q "$PREFIX-h$i" || fail "by hand: down $i"
	i=$((i + 1))
done <matrix.txt
t3=$(date +%s.%N)
note "$(python3 -c "import sys; t = [float(x) for x in sys.argv[1:]]; a, b = t[1] - t[0], t[3] - t[2]
print(f'slurm: 4-task array, sbatch to all results: {a:.1f} s; the same 4 VMs one after another by hand: {b:.1f} s ({b / a:.2f}x)')" \
	"$t0" "$t1" "$t2" "$t3")"

# ---- cancel a running VM job ------------------------------------------------------------
j=$(submit --output="$T/job-%j.out" "$GV_SLURM_SBATCH_DIR/grainvm-job.sbatch" -- sh -c 'echo build started; sleep 600')
for _ in $(seq 1 1500); do
	grep -q "build started" "$T/job-$j.out" 2>/dev/null && break
	sleep 0.2
done
grep -q "build started" "$T/job-$j.out" || { cat "$T/job-$j.out"; fail "the job's build never started"; }
pgrep -f -- "-name gv-$j " >/dev/null || fail "no QEMU for job $j"
scancel "$j"
for _ in $(seq 1 300); do
	grep -q "vm state:" "$T/job-$j.out" && ! pgrep -f -- "gv-$j( |\$)" >/dev/null && break
	sleep 0.2
done
cat "$T/job-$j.out"
grep -q "vm state: stopped: guest powered off (ACPI power button)" "$T/job-$j.out" ||
	fail "the cancelled job's guest was not powered off gracefully"
if pgrep -af -- "gv-$j( |\$)"; then fail "processes of job $j left"; fi
for _ in $(seq 1 50); do job_states "$j" | grep -q " CANCELLED" && break; sleep 0.2; done
job_states "$j" | grep -q " CANCELLED" || fail "job $j: $(job_states "$j")"

# Nothing of any job is left: no home, no overlay, no socket.
if [ -n "$(ls -A "$T/tmp")" ]; then fail "left in the jobs' TMPDIR: $(ls -A "$T/tmp")"; fi
note "ok"

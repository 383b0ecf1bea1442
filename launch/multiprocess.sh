#!/usr/bin/env bash
# Start N JAX processes of one entry point on this machine, as a multi-host run would (for CPU tests and
# debugging; multi-node GPU runs use launch/slurm_train.sbatch):
#
#   launch/multiprocess.sh N [--module launch.evaluate] -- --config configs/sasrec.py:tiny --workdir runs/x ...
#
# Every process gets SEQREC_COORDINATOR (127.0.0.1 and a free port), SEQREC_NUM_PROCESSES=N and its
# SEQREC_PROCESS_ID (read by launch/distributed.py), runs `python -m <module> <args>` (default module
# launch.train) and writes <workdir>/process_<i>.log; process 0's output is also shown here.
# The first process that fails takes the others down (they would otherwise wait for it until JAX's
# timeouts), and the script exits with its status. Python: $PYTHON, else .venv/bin/python, else python3.
# Devices per process come from the environment as usual, e.g.
#   XLA_FLAGS=--xla_force_host_platform_device_count=2 launch/multiprocess.sh 2 -- ...
set -euo pipefail

usage() { echo "usage: $0 N [--module MODULE] -- ARGS... (ARGS must include --workdir DIR)" >&2; exit 2; }

[[ $# -ge 1 && $1 =~ ^[1-9][0-9]*$ ]] || usage
num=$1; shift
module=launch.train
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    --module) [[ $# -ge 2 ]] || usage; module=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ $# -ge 1 && $1 == -- ]] || usage
shift

# The log files go to the run directory, so it must be named on the command line.
workdir=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --workdir) workdir=${args[i + 1]:-} ;;
    --workdir=*) workdir=${args[i]#--workdir=} ;;
  esac
done
[[ -n $workdir ]] || { echo "$0: the arguments must include --workdir DIR (the logs go there)" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-}
if [[ -z $python ]]; then
  if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
# `-m launch.train` from any directory: the checkout first on the module path.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"

# A port the kernel just handed out and released: free unless something grabs it in the next second.
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$workdir"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap 'cleanup; exit 130' INT TERM HUP

for ((i = 0; i < num; i++)); do
  log="$workdir/process_$i.log"
  # Each process's own environment; the coordinator listens on loopback only (no IPv6 wildcard needed).
  export SEQREC_COORDINATOR=127.0.0.1:$port SEQREC_NUM_PROCESSES=$num SEQREC_PROCESS_ID=$i \
    JAX_COORDINATOR_BIND_ADDRESS=127.0.0.1:$port
  # Run from the caller's directory, so that --workdir and --config paths mean the same to us and to it.
  if ((i == 0)); then
    "$python" -m "$module" "$@" > >(tee "$log") 2>&1 &
  else
    "$python" -m "$module" "$@" >"$log" 2>&1 &
  fi
  pids+=($!)
done

# Poll instead of `wait -n`, which cannot tell our processes from the tee of the process substitution.
status=0
remaining=$num
while ((remaining > 0)); do
  for ((i = 0; i < num; i++)); do
    pid=${pids[i]}
    [[ $pid == done ]] && continue
    kill -0 "$pid" 2>/dev/null && continue
    rc=0; wait "$pid" || rc=$?
    pids[i]=done; remaining=$((remaining - 1))
    if ((rc != 0 && status == 0)); then
      status=$rc
      echo "$0: process $i exited with status $rc (log: $workdir/process_$i.log); stopping the others" >&2
      for other in "${pids[@]}"; do [[ $other == done ]] || kill "$other" 2>/dev/null || true; done
    fi
  done
  if ((remaining > 0)); then sleep 0.5; fi
done
wait  # the tee of process 0, so that its last lines are on screen before we return
exit "$status"

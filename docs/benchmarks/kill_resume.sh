#!/usr/bin/env bash
# Kill-and-resume check (issue 41): SIGKILL launch.train on the tiny preset (a checkpoint every 5 steps), re-run
# the same command, and compare results.json and every valid/test rank with an uninterrupted run.
#   bash docs/benchmarks/kill_resume.sh OUT after:30 after:64 step:10 step:35 ...
# after:N kills N seconds after the start (early ones land before the first checkpoint, in compilation);
# step:S kills as soon as the latest checkpoint in checkpoints/last reaches step S.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
args=(--config configs/sasrec.py:tiny --config.train.eval_every=5)
mkdir -p "$out"
[ -f "$out/straight/results.json" ] || .venv/bin/python -m launch.train "${args[@]}" --workdir "$out/straight" \
    > "$out/straight.log" 2>&1
latest() { ls "$1/checkpoints/last" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1; }
for kill_at in "$@"; do
  d="$out/${kill_at/:/-}"; rm -rf "$d"
  .venv/bin/python -m launch.train "${args[@]}" --workdir "$d" > "$d.log" 2>&1 &
  pid=$!
  case $kill_at in
    after:*) sleep "${kill_at#after:}" ;;
    step:*) until [ "$(latest "$d")" -ge "${kill_at#step:}" ] 2>/dev/null; do sleep 0.2; done ;;
  esac
  kill -9 $pid; wait $pid 2>/dev/null
  left=$(ls "$d/checkpoints/last" 2>/dev/null | tr '\n' ' ')
  .venv/bin/python -m launch.train "${args[@]}" --workdir "$d" >> "$d.log" 2>&1; rc=$?
  same=$(.venv/bin/python -c "
import json, numpy as np
a, b = (json.load(open(f'{p}/results.json')) for p in ('$out/straight', '$d'))
ranks = all((np.load(f'$out/straight/ranks_{s}.npy') == np.load(f'$d/ranks_{s}.npy')).all() for s in ('valid', 'test'))
print('identical' if a['valid'] == b['valid'] and a['test'] == b['test'] and ranks else 'DIFFERENT',
      'resumed from step', b['timing']['resumed_from_step'])")
  echo "killed $kill_at: checkpoints/last held [${left% }]; re-run exit $rc; $same"
done

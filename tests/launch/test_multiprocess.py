"""Multi-host training on one machine: the environment contract of launch/distributed.py, the process
launcher launch/multiprocess.sh, and a 2-process CPU run that must reproduce the 1-process run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from launch.distributed import ProcessGroup, first_slurm_host, process_group_from_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(ROOT, "launch", "multiprocess.sh")
# Variables of the surrounding shell that would change what the runs below ask for.
SCRUB = ("SEQREC_", "SLURM_", "JAX_COORDINATOR", "XLA_FLAGS", "JAX_PLATFORMS")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUB)}
    return {**env, "JAX_PLATFORMS": "cpu", **extra}


# --- The environment contract (no JAX involved).

EXPLICIT = {"SEQREC_COORDINATOR": "10.0.0.1:1234", "SEQREC_NUM_PROCESSES": "4", "SEQREC_PROCESS_ID": "3"}
SRUN = {"SLURM_JOB_ID": "4100", "SLURM_STEP_NUM_TASKS": "8", "SLURM_NTASKS": "8", "SLURM_PROCID": "5",
        "SLURM_STEP_NODELIST": "gpu[007-008,011]"}


def test_single_process_environments_leave_jax_alone():
    assert process_group_from_env({}) is None
    assert process_group_from_env({"SEQREC_NUM_PROCESSES": "1"}) is None
    # A one-task srun step, or multiprocess.sh's single process, inside a bigger allocation.
    assert process_group_from_env({**SRUN, "SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0"}) is None
    assert process_group_from_env({"SLURM_NTASKS": "4", "SEQREC_NUM_PROCESSES": "1"}) is None


def test_explicit_variables():
    assert process_group_from_env(EXPLICIT) == ProcessGroup("10.0.0.1:1234", 4, 3, None, "SEQREC_*")
    got = process_group_from_env({**EXPLICIT, "SEQREC_LOCAL_DEVICE_IDS": "2,3"})
    assert got.local_device_ids == (2, 3)
    # Explicit variables win over a single-task SLURM job.
    assert process_group_from_env({**EXPLICIT, "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}).process_id == 3


def test_srun_step():
    got = process_group_from_env(SRUN)
    assert got == ProcessGroup(f"gpu007:{61440 + 4100 % 4096}", 8, 5, None, "SLURM")
    assert process_group_from_env({**SRUN, "SEQREC_COORDINATOR_PORT": "2222"}).coordinator == "gpu007:2222"
    assert process_group_from_env({**SRUN, "SEQREC_COORDINATOR": "head:3333"}).coordinator == "head:3333"
    # Explicit values that agree with SLURM are fine.
    assert process_group_from_env({**SRUN, "SEQREC_NUM_PROCESSES": "8", "SEQREC_PROCESS_ID": "5"}).process_id == 5


@pytest.mark.parametrize("nodelist,first", [("node1", "node1"), ("a1,b2", "a1"), ("gpu[003-006,9],cpu1", "gpu003"),
                                            ("n[12,14]", "n12"), ("x-[5]", "x-5")])
def test_first_slurm_host(nodelist, first):
    assert first_slurm_host(nodelist) == first


@pytest.mark.parametrize("env,named", [
    ({"SEQREC_NUM_PROCESSES": "2"}, ["SEQREC_COORDINATOR", "SEQREC_PROCESS_ID"]),
    ({"SEQREC_COORDINATOR": "h:1", "SEQREC_PROCESS_ID": "0"}, ["SEQREC_NUM_PROCESSES"]),
    ({**EXPLICIT, "SEQREC_PROCESS_ID": "4"}, ["SEQREC_PROCESS_ID=4", "SEQREC_NUM_PROCESSES=4"]),
    ({**EXPLICIT, "SEQREC_PROCESS_ID": "-1"}, ["SEQREC_PROCESS_ID=-1"]),
    ({**EXPLICIT, "SEQREC_NUM_PROCESSES": "two"}, ["SEQREC_NUM_PROCESSES='two'"]),
    ({**EXPLICIT, "SEQREC_NUM_PROCESSES": "0"}, ["SEQREC_NUM_PROCESSES=0"]),
    ({"SEQREC_NUM_PROCESSES": "1", "SEQREC_PROCESS_ID": "1"}, ["SEQREC_PROCESS_ID=1", "SEQREC_NUM_PROCESSES=1"]),
    ({**EXPLICIT, "SEQREC_COORDINATOR": "10.0.0.1"}, ["SEQREC_COORDINATOR='10.0.0.1'"]),
    ({**EXPLICIT, "SEQREC_COORDINATOR": "h:99999"}, ["SEQREC_COORDINATOR"]),
    ({**EXPLICIT, "SEQREC_LOCAL_DEVICE_IDS": "0;1"}, ["SEQREC_LOCAL_DEVICE_IDS"]),
    ({**EXPLICIT, "SEQREC_LOCAL_DEVICE_IDS": "1,1"}, ["SEQREC_LOCAL_DEVICE_IDS"]),
    ({"SEQREC_LOCAL_DEVICE_IDS": "0"}, ["SEQREC_LOCAL_DEVICE_IDS", "SEQREC_COORDINATOR"]),
    # A multi-task allocation without srun: each process would train alone.
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0"}, ["SLURM_NTASKS=4", "srun", "SEQREC_NUM_PROCESSES=1"]),
    ({**SRUN, "SEQREC_NUM_PROCESSES": "4"}, ["SEQREC_NUM_PROCESSES=4", "SLURM_STEP_NUM_TASKS=8"]),
    ({**SRUN, "SEQREC_PROCESS_ID": "0"}, ["SEQREC_PROCESS_ID=0", "SLURM_PROCID=5"]),
    ({k: v for k, v in SRUN.items() if k != "SLURM_PROCID"}, ["SLURM_PROCID"]),
    ({k: v for k, v in SRUN.items() if k != "SLURM_STEP_NODELIST"}, ["SLURM_STEP_NODELIST"]),
    ({**SRUN, "SLURM_PROCID": "8"}, ["SLURM_PROCID=8"]),
])
def test_partial_or_contradictory_variables_are_named(env, named):
    with pytest.raises(ValueError) as error:
        process_group_from_env(env)
    for text in named:
        assert text in str(error.value)


def test_train_cli_reports_a_bad_environment_before_touching_jax(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "launch.train", "--config", "configs/sasrec.py:tiny",
                           "--workdir", str(tmp_path / "run")], cwd=ROOT, check=False, capture_output=True, text=True,
                          env=clean_env(SEQREC_NUM_PROCESSES="2"), timeout=300)
    assert proc.returncode == 2
    assert "SEQREC_COORDINATOR" in proc.stderr and "SEQREC_PROCESS_ID" in proc.stderr
    assert not (tmp_path / "run").exists()


# --- The launcher.

def test_launcher_stops_everyone_when_one_process_fails(tmp_path):
    # A stand-in for python (the real one picks the port): process 1 fails at once, process 0 would run
    # for a minute.
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/bash\nif [ "$1" = -c ]; then exec {sys.executable} "$@"; fi\n'
                    'echo "process $SEQREC_PROCESS_ID of $SEQREC_NUM_PROCESSES at $SEQREC_COORDINATOR: $*"\n'
                    'if [ "$SEQREC_PROCESS_ID" = 1 ]; then exit 3; fi\nexec sleep 60\n')
    fake.chmod(0o755)
    start = time.monotonic()
    proc = subprocess.run([LAUNCHER, "2", "--", "--workdir", str(tmp_path / "run"), "--flag=x"], cwd=ROOT,
                          env=clean_env(PYTHON=str(fake)), check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert time.monotonic() - start < 30
    assert "process 1 exited with status 3" in proc.stderr
    logs = [(tmp_path / "run" / f"process_{i}.log").read_text() for i in range(2)]
    assert logs[0].startswith("process 0 of 2 at 127.0.0.1:") and logs[1].startswith("process 1 of 2 at 127.0.0.1:")
    assert "-m launch.train --workdir" in logs[1] and logs[1].rstrip().endswith("--flag=x")


def test_launcher_needs_a_workdir(tmp_path):
    proc = subprocess.run([LAUNCHER, "2", "--", "--config", "x"], cwd=ROOT, env=clean_env(), check=False,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--workdir" in proc.stderr


# --- One process against two, with a resume in the middle of the two-process run.

def rows(workdir, split):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def train_args(workdir, cache, steps):
    # The LR schedule must not depend on max_steps, so that 6 steps + 6 resumed ones equal 12 in one go.
    return ["--config", "configs/sasrec.py:tiny", "--workdir", str(workdir), f"--config.data.cache_dir={cache}",
            f"--config.train.max_steps={steps}", "--config.train.log_every=1", "--config.train.eval_every=6",
            "--config.train.schedule=constant", "--config.train.warmup_steps=3"]


def launch(num_processes, args, devices_per_process, module="launch.train"):
    env = clean_env(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}")
    # Its own session, so that a timeout takes the training processes down too, not just the launcher.
    proc = subprocess.Popen([LAUNCHER, str(num_processes), "--module", module, "--", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # About a minute on two idle cores; the limit leaves room for a machine busy with other work.
        stdout, stderr = proc.communicate(timeout=3600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise AssertionError(f"{num_processes} processes failed ({proc.returncode}):\n{stdout[-3000:]}\n{stderr[-2000:]}")


def test_two_processes_reproduce_one_and_resume(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    launch(1, train_args(one, tmp_path, 12), devices_per_process=1)
    # Two processes with two CPU devices each: a 4-device mesh spread over processes; stopped at step 6 ...
    launch(2, train_args(two, tmp_path, 6), devices_per_process=2)
    assert json.loads((two / "results.json").read_text())["timing"]["devices"] == 4
    first_half = json.loads((two / "results.json").read_text())
    shutil.copytree(two, tmp_path / "elastic")
    # ... then resumed from its checkpoint at step 6 and trained to 12.
    launch(2, train_args(two, tmp_path, 12), devices_per_process=2)

    results_one = json.loads((one / "results.json").read_text())
    results_two = json.loads((two / "results.json").read_text())
    assert results_two["timing"]["resumed_from_step"] == 6 and results_two["steps"] == 12

    loss_one = [r["loss"] for r in rows(one, "train")]
    loss_two = [r["loss"] for r in rows(two, "train")]
    assert [r["step"] for r in rows(two, "train")] == list(range(1, 13))
    np.testing.assert_allclose(loss_two, loss_one, rtol=2e-5)

    # Validation along the way (metric keys only: the rows also hold timings), the first 2-process run's
    # final evaluation, and the final test metrics.
    names = sorted(results_one["valid"])
    metrics = lambda row: {k: row[k] for k in names}
    valid_one = rows(one, "valid")
    assert [r["step"] for r in rows(two, "valid")] == [r["step"] for r in valid_one] == [6, 12]
    for a, b in zip(rows(two, "valid"), valid_one):
        assert metrics(a) == pytest.approx(metrics(b), abs=1e-4)
    assert first_half["valid"] == pytest.approx(metrics(valid_one[0]), abs=1e-4)
    assert results_two["best_step"] == results_one["best_step"]
    for split in ("valid", "test"):
        assert results_two[split] == pytest.approx(results_one[split], abs=1e-4)
    # launch.evaluate joins the processes the same way.
    launch(2, ["--workdir", str(two), "--split", "test"], devices_per_process=2, module="launch.evaluate")
    assert json.loads((two / "evaluate_test.json").read_text())["test"] == pytest.approx(results_one["test"], abs=1e-4)
    # Only process 0 writes the run files; every process has its log.
    assert (two / "process_0.log").exists() and (two / "process_1.log").exists()
    assert len(rows(two, "best_test")) == 2  # one per finished run, none duplicated by process 1

    # The same step-6 checkpoint resumed on one process with one device (an elastic restart): the data
    # position comes from the step, and training goes on as in the uninterrupted run.
    elastic = tmp_path / "elastic"
    launch(1, train_args(elastic, tmp_path, 12), devices_per_process=1)
    results_elastic = json.loads((elastic / "results.json").read_text())
    assert results_elastic["timing"]["resumed_from_step"] == 6
    np.testing.assert_allclose([r["loss"] for r in rows(elastic, "train")], loss_one, rtol=2e-5)
    for split in ("valid", "test"):
        assert results_elastic[split] == pytest.approx(results_one[split], abs=1e-4)

"""The stage framework without a server: a staging directory that a SIGKILLed run left behind is removed when the
stage runs again; one that belongs to a live process is left alone."""

import os
import subprocess
import sys

from llm.stages.stage import run_stage


def test_rerun_removes_the_staging_of_a_dead_run_and_keeps_a_live_ones(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)
    dead_pid = int(done.stdout)  # a process that has exited
    dead = tmp_path / f".items.{dead_pid}.abc123.staging"
    old_format = tmp_path / ".items.qkec4e69.staging"  # written before the pid was in the name
    live = tmp_path / f".items.{os.getppid()}.def456.staging"
    other_stage = tmp_path / f".other.{dead_pid}.xyz.staging"
    for path in (dead, old_format, live, other_stage):
        path.mkdir()
        (path / "part.jsonl").write_text("{}\n")

    def compute(ctx):
        (ctx.dir / "items.jsonl").write_text("{}\n")

    result = run_stage(tmp_path, "items", {"n": 1}, compute, ("items.jsonl",), log=lambda _: None)
    assert (result.dir / "items.jsonl").exists()
    assert not dead.exists() and not old_format.exists()
    assert live.exists() and other_stage.exists()
    assert sorted(p.name for p in tmp_path.glob(".items.*.staging")) == [live.name]


def test_finished_stage_directory_is_readable_like_other_outputs_and_failure_leaves_nothing(tmp_path):
    def compute(ctx):
        (ctx.dir / "items.jsonl").write_text("{}\n")

    result = run_stage(tmp_path, "items", {"n": 1}, compute, ("items.jsonl",), log=lambda _: None)
    assert result.dir.stat().st_mode & 0o777 == 0o755  # not mkdtemp's private 0o700

    def broken(ctx):
        (ctx.dir / "part.jsonl").write_text("{}\n")  # the declared output is never written

    try:
        run_stage(tmp_path, "broken", {"n": 1}, broken, ("items.jsonl",), log=lambda _: None)
    except RuntimeError as error:
        assert "did not write items.jsonl" in str(error)
    else:
        raise AssertionError("a stage that misses an output must fail")
    assert not (tmp_path / "broken").exists() and not list(tmp_path.glob(".broken.*"))

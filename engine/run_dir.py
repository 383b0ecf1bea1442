"""Files of a run directory: config.json, metrics.jsonl, TensorBoard events, results.json.

Only process 0 writes; every file that is replaced is written to a temporary name first."""

from __future__ import annotations

import ast
import difflib
import json
import os
import pathlib
import shutil
import tempfile

import jax
import ml_collections
import numpy as np

# Keys that define the experiment: a workdir holding a checkpoint must agree on all of them.
IDENTITY_KEYS = ("seed", "data", "split", "model", "train.batch_size", "train.length_buckets", "train.loss")
# Keys a re-run may change without changing what already ran: where files live, logging and retention, how
# far to train (a longer run continues the same one), how the LM's weights are laid out over devices (mesh),
# and evaluation, which every run of a trained model redoes; except eval.select_metric, which chose the
# checkpoints already kept. Any other key (the learning rate, the schedule, ...) is recorded as a change at the
# step training resumes from, and refused when the run would not train again. `changes` is that record inside config.json.
FREE_KEYS = ("data.root", "data.cache_dir", "train.max_steps", "train.num_epochs", "train.patience",
             "train.log_every", "train.prefetch", "train.keep_last", "mesh", "eval", "changes")


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: restored at once, at import, single-threaded
    os.umask(mask)
    return mask


# mkstemp and mkdtemp create private files (0600 / 0700); what they become is an ordinary output, so it gets
# the permissions open() and mkdir() would have given it.
_UMASK = _umask()
FILE_MODE, DIR_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


def write_atomic(path, mode: str, write) -> None:
    """write(file) into a temporary file beside `path`, then rename it over `path`: a reader sees the old
    file or the new one, never half of one (and a failed write leaves no temporary behind)."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: pathlib.Path, obj) -> None:
    write_atomic(path, "w", lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


def write_text_atomic(path: pathlib.Path, text: str) -> None:
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "w", lambda f: f.write(text))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        out.update(_flatten(value, name + ".") if isinstance(value, dict) else {name: value})
    return out


def ranks_path(workdir, split: str) -> pathlib.Path:
    return pathlib.Path(workdir) / f"ranks_{split}.npy"


def load_results(run_dirs) -> list[dict]:
    """results.json of each finished run directory, in order; FileNotFoundError naming an unfinished one."""
    results = []
    for d in run_dirs:
        path = pathlib.Path(d) / "results.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: has the run in {d} finished?")
        results.append(json.loads(path.read_text()))
    return results


def write_ranks(workdir, split: str, ranks: np.ndarray) -> None:
    """ranks_<split>.npy: the 0-based rank of each evaluation prompt's target, in prompt order, so that two
    runs on the same split can be compared prompt by prompt (launch.compare). Process 0 only."""
    if jax.process_index() != 0:
        return
    write_atomic(ranks_path(workdir, split), "wb", lambda f: np.save(f, np.asarray(ranks, dtype=np.int32)))


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
    # JSON round trip turns tuples into lists, the same as what config.json holds.
    return json.loads(config.to_json())


def read_json(path: pathlib.Path, what: str = "run file") -> dict:
    """A JSON file of a run directory; a damaged one (a truncated write, an edit) is one line naming it."""
    try:
        return json.loads(pathlib.Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: this {what} is not valid JSON ({e.msg}); it is damaged: restore it "
                         "from a copy, or use a new --workdir") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: this {what} is not text; it is damaged: restore it from a copy, or use a "
                         "new --workdir") from None


def has_progress(workdir) -> bool:
    """Whether a run directory holds anything a run produced: a checkpoint or results.json. One without (a
    run that failed before its first checkpoint) can be replaced by a run with another config."""
    workdir = pathlib.Path(workdir)
    steps = [p for kind in ("last", "best") for p in (workdir / "checkpoints" / kind).glob("*") if p.name.isdigit()]
    return bool(steps) or (workdir / "results.json").exists()


def _matches(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def changed_keys(workdir, config: ml_collections.ConfigDict, free=FREE_KEYS) -> dict[str, tuple]:
    """{key: (saved, now)} for the keys outside `free` where config.json of `workdir` and `config` differ.
    A key missing from the saved config was added to the code after the run started (with a default that
    reproduces the old behaviour), so it is no difference."""
    saved = _flatten(read_json(pathlib.Path(workdir) / "config.json", "config"))
    current = _flatten(config_to_dict(config))
    return {k: (saved[k], current.get(k)) for k in sorted(saved)
            if not _matches(k, free) and saved[k] != current.get(k)}


def config_changes(workdir, config: ml_collections.ConfigDict, step: int, will_train: bool) -> list[dict]:
    """The `changes` record for config.json when a run resumes at `step` with keys that differ from the saved
    ones (beyond IDENTITY_KEYS, which check_config refuses, and FREE_KEYS). A run that would not train again
    (finished, or stopped early) refuses them: its weights were trained with the saved values."""
    path = pathlib.Path(workdir) / "config.json"
    if not path.exists() or not has_progress(workdir):
        return []
    differ = changed_keys(workdir, config)
    history = list(read_json(path, "config").get("changes", []))
    if differ and not will_train:
        detail = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise ValueError(f"{path}: this run has finished training at step {step}, so a change would not apply to "
                         f"its weights ({detail}). Use a new --workdir, or raise train.max_steps to continue "
                         "training with the new value.")
    for key, (before, after) in differ.items():
        history.append({"step": step, "key": key, "from": before, "to": after})
        print(f"{path}: {key} changes from {before!r} to {after!r} at step {step} (recorded in config.json)",
              flush=True)
    return history


def check_config(workdir: pathlib.Path, config: ml_collections.ConfigDict) -> None:
    """Refuse to resume a run directory whose saved experiment differs from this config. A run directory
    without a checkpoint or results (a run that failed before its first one) may be replaced."""
    saved_path = workdir / "config.json"
    if not saved_path.exists() or not has_progress(workdir):
        return
    saved = _flatten(read_json(saved_path, "config"))
    current = _flatten(config_to_dict(config))
    # A key missing from the saved config was added to the code after the run started (with a default
    # that reproduces the old behaviour), so it is no difference.
    differ = sorted(k for k in saved if _matches(k, IDENTITY_KEYS) and saved.get(k) != current.get(k))
    if differ:
        detail = "; ".join(f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}" for k in differ[:8])
        raise ValueError(f"{saved_path}: this run directory holds a different experiment ({detail}). "
                         "Use a new --workdir, or the same config to resume.")


def differing_keys(a: dict, b: dict) -> list[str]:
    """Dotted names of the leaves where two nested dicts differ (a key present on one side only counts)."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    return sorted(k for k in flat_a.keys() | flat_b.keys() if flat_a.get(k) != flat_b.get(k))


def _unknown_key(config, key: str) -> str:
    close = difflib.get_close_matches(key, list(_flatten(config_to_dict(config))), n=1, cutoff=0.6)
    return f"unknown config key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def set_key(config, key: str, value) -> None:
    """Set a dotted `section.key` on a config, refusing keys it does not have (with a "did you mean")."""
    *path, last = key.split(".")
    node = config
    for part in path:
        if not hasattr(node, "keys") or part not in node:
            raise KeyError(_unknown_key(config, key))
        node = node[part]
    if not hasattr(node, "keys") or last not in node:
        raise KeyError(_unknown_key(config, key))
    try:
        node[last] = value
    except TypeError as error:
        raise ValueError(f"config key {key}: cannot set {value!r} ({error})") from None


def apply_override(config, assignment: str) -> None:
    """Set `section.key=value` on a config; the value is a Python literal or else a plain string."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"override {assignment!r} must look like section.key=value")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    set_key(config, key, value)


def load_config(workdir: pathlib.Path) -> ml_collections.ConfigDict:
    path = pathlib.Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {workdir} a run directory made by launch.train?")
    saved = read_json(path, "config")
    saved.pop("changes", None)  # the record of keys changed on resume, not a key of the config
    return ml_collections.ConfigDict(saved)


class RunLog:
    """metrics.jsonl plus TensorBoard scalars; a no-op on processes other than 0."""

    def __init__(self, workdir: pathlib.Path, resume_step: int = 0):
        self.enabled = jax.process_index() == 0
        self.path = pathlib.Path(workdir) / "metrics.jsonl"
        self._writer = None
        if not self.enabled:
            return
        if self.path.exists():
            # Steps after the restored checkpoint are recomputed, so their old lines go.
            kept = [l for l in self.path.read_text().splitlines() if l and json.loads(l)["step"] <= resume_step]
            write_lines = "".join(l + "\n" for l in kept)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(write_lines)
            os.replace(tmp, self.path)
        from tensorboardX import SummaryWriter
        self._writer = SummaryWriter(str(pathlib.Path(workdir) / "tensorboard"))

    def write(self, step: int, split: str, metrics: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
        for name, value in metrics.items():
            self._writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def replace_dir(staging: pathlib.Path, target: pathlib.Path) -> None:
    """Move staging to target. rename(2) cannot replace a non-empty directory, so an existing target is
    first moved aside; the target path is then briefly absent but never half-written."""
    try:
        os.replace(staging, target)
        return
    except OSError:
        if not target.exists():
            raise
    aside = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, aside / "old")
    os.replace(staging, target)
    shutil.rmtree(aside, ignore_errors=True)


def write_dir_atomic(target, fill, prefix: str | None = None) -> pathlib.Path:
    """A directory written in full or not at all: `fill(staging)` writes into a staging directory beside
    `target` named `<prefix>*.staging` (default prefix `.<name>.`), which then replaces `target` (an older one
    included); on any failure the staging is removed."""
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix or f".{target.name}.",
                                            suffix=".staging"))
    try:
        staging.chmod(DIR_MODE)
        fill(staging)
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target

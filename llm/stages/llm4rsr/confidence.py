"""Stage `confidence`: the backbone's confidence on every LLM4RSR training instance, and its top-|C| candidates.

The backbone is a run directory of launch.train (config backbone.workdir, default <workdir>/backbone). When it
has no results.json, it is trained there first from backbone.config in the trainer's instance-table mode on
this run's instances (data.instances_path; model.max_len = L, so training inputs and evaluation prompts are the
L most recent items), with the LLM4RSR config's data and split (one config drives all). It is also the `plain`
run of seed `seed` in stage `retrain`. An existing backbone trained on other data, another split or another
instance table is refused, naming the differing keys. Its best checkpoint scores each instance's input (the L items, left-padded to the model's
window) as an evaluation prompt: confidence = the largest softmax probability over the catalogue (padding
excluded; Ma et al. 2023, as the paper), candidates = the |C| highest-scored items other than the instance's
input items and original target (the replacement targets of a complete mismatch, §3.4).

Artifact confidence.npz: confidence float32 [n], candidates int32 [n, |C|], target_prob float32 [n].
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from engine.data.sources import file_sha256
from llm.stages.llm4rsr.common import dataset_key, load_data
from llm.stages.stage import run_stage

NAME = "confidence"
OUTPUTS = ("confidence.npz",)


def backbone_dir(config, workdir) -> pathlib.Path:
    return pathlib.Path(config.backbone.workdir or pathlib.Path(workdir) / "backbone")


NEXT_ITEM_MODELS = ("sasrec", "lrurec", "fmlprec", "gru4rec")


def backbone_config(config, instances_path, seed: int, spec: str | None = None):
    """The backbone's config: backbone.config with its overrides (or the config spec `spec`, 'file.py:preset
    key=value ...', for another backbone of the main table), the LLM4RSR config's data and split, trained on the
    instance table at `instances_path` with a window of L items."""
    from engine.run_dir import apply_override
    from engine.runner.config_spec import load_config_spec

    if spec is None:
        bconfig, _ = load_config_spec(config.backbone.config, tuple(config.backbone.overrides))
    else:
        bconfig, _ = load_config_spec(spec)
    if bconfig.model.name not in NEXT_ITEM_MODELS:
        raise ValueError(f"backbone config {spec or config.backbone.config!r}: model {bconfig.model.name!r} cannot "
                         f"train on an instance table (one next-item target per instance); use one of "
                         f"{', '.join(NEXT_ITEM_MODELS)}")
    length = int(config.instances.max_inputs)
    with bconfig.unlocked():
        for key, value in config.data.items():
            bconfig.data[key] = value
        # The trainer's instance-table mode. The key is added here rather than to every config's defaults, so the
        # saved configs of existing runs still equal their presets (tests/launch/test_presets.py) and resume.
        bconfig.data.instances_path = ""
    for token in (f"data.instances_path={instances_path}", f"split.protocol={config.split.protocol}", f"seed={seed}",
                  f"model.max_len={length}", f"train.length_buckets=({length},)"):
        apply_override(bconfig, token)
    return bconfig


def check_backbone(config, path: pathlib.Path, instances_path) -> None:
    """A backbone trained on other data, another split or other instances cannot rank these instances."""
    saved = json.loads((path / "config.json").read_text())
    ours = {**config.data.to_dict(), "instances_path": str(instances_path), "protocol": config.split.protocol}
    theirs = {**saved.get("data", {}), "protocol": saved.get("split", {}).get("protocol")}
    differ = sorted(k for k in ours if str(ours[k]) != str(theirs.get(k)))
    if differ == ["instances_path"] and _same_file_content(instances_path, theirs.get("instances_path")):
        differ = []  # the same table written by another stage (an alpha-sweep point equal to the correction)
    if differ:
        raise ValueError(f"{path / 'config.json'}: the backbone was trained on other data than this LLM4RSR config "
                         f"(differing keys: {', '.join(differ)}); set backbone.workdir to a run on the same data, "
                         f"or leave it empty to train one")


def _same_file_content(a, b) -> bool:
    try:
        return bool(b) and file_sha256(pathlib.Path(a)) == file_sha256(pathlib.Path(b))
    except OSError:
        return False


def ensure_run(config, path: pathlib.Path, instances_path, seed: int, spec: str | None = None) -> pathlib.Path:
    """Train (or finish: the trainer resumes) the backbone (or `spec`'s model) on an instance table unless it has
    results.json."""
    if not (path / "results.json").exists():
        _run_experiment()(backbone_config(config, instances_path, seed, spec), str(path))
    check_backbone(config, path, instances_path)
    return path


def _run_experiment():
    from engine.runner import run_experiment
    return run_experiment


def _restore(path):
    from engine.train.restore import restore_best_params
    return restore_best_params(path)


def score_instances(path, inputs: np.ndarray, targets: np.ndarray, num_candidates: int, batch_size: int = 512):
    """(confidence, candidates, target_prob) of a restored backbone on instance inputs [n, L]."""
    import jax
    import jax.numpy as jnp

    exp, params, _ = _restore(path)
    max_len = int(exp.config.model.max_len)
    window = inputs[:, -max_len:] if inputs.shape[1] >= max_len else \
        np.pad(inputs, ((0, 0), (max_len - inputs.shape[1], 0)))

    @jax.jit
    def summarise(p, x, t):
        scores = exp.scores(p, x).astype(jnp.float32).at[:, 0].set(-jnp.inf)
        log_probs = jax.nn.log_softmax(scores, axis=-1)
        conf = jnp.exp(jnp.max(log_probs, axis=-1))
        tprob = jnp.exp(jnp.take_along_axis(log_probs, t[:, None], axis=-1)[:, 0])
        # Candidates: never an input item or the original target.
        rows = jnp.arange(x.shape[0])[:, None]
        masked = scores.at[rows, x].set(-jnp.inf).at[jnp.arange(x.shape[0]), t].set(-jnp.inf)
        return conf, jax.lax.top_k(masked, num_candidates)[1], tprob

    n = len(inputs)
    conf, cands, tprob = (np.empty(n, np.float32), np.empty((n, num_candidates), np.int32),
                          np.empty(n, np.float32))
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        pad = batch_size - (hi - lo)
        got = summarise(params, jnp.asarray(np.pad(window[lo:hi], ((0, pad), (0, 0)))),
                        jnp.asarray(np.pad(targets[lo:hi], (0, pad)), jnp.int32))
        conf[lo:hi], cands[lo:hi], tprob[lo:hi] = (np.asarray(g)[:hi - lo] for g in got)
    return conf, cands, tprob


def run(config, workdir, instances_result, llm=None, label: str | None = None, spec: str | None = None):
    """The `backbone` config's confidence (stage `confidence`), or with label/spec that of another backbone of the
    main table (stage `confidence-<label>`, scored by its Plain run of seed `seed`, which stage `retrain` shares)."""
    from engine.run_dir import write_atomic
    from llm.stages.llm4rsr import instances as instances_stage
    from llm.stages.llm4rsr.retrain import run_dir

    dataset, _ = load_data(config)
    table_path = instances_result.path("instances.npz").resolve()
    seed = int(config.seed)
    where = backbone_dir(config, workdir) if label is None else \
        run_dir(config, workdir, "plain", file_sha256(table_path)[:10], seed, label)
    path = ensure_run(config, where, table_path, seed, spec)
    num_candidates = int(config.correct.num_candidates)

    def compute(ctx):
        table, _ = instances_stage.load(instances_result)
        conf, cands, tprob = score_instances(path, table.inputs, table.target, num_candidates)
        write_atomic(ctx.dir / "confidence.npz", "wb",
                     lambda f: np.savez(f, confidence=conf, candidates=cands, target_prob=tprob))
        results = json.loads((path / "results.json").read_text())
        return {"backbone": str(path), "backbone_best_step": results.get("best_step"),
                "backbone_test": results.get("test"), "mean_confidence": float(conf.mean())}

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "backbone_results": file_sha256(path / "results.json"),
              "backbone_config": file_sha256(path / "config.json"), "num_candidates": num_candidates, "version": 1}
    if label is not None:
        inputs["spec"] = spec
    return run_stage(workdir, stage_name(NAME, label), inputs, compute, OUTPUTS, llm)


def stage_name(name: str, label: str | None) -> str:
    """The stage of the `backbone` config (label None) or of the main table's backbone `label`."""
    return name if label is None else f"{name}-{label}"


def load(result, num_instances: int) -> dict[str, np.ndarray]:
    with np.load(result.path("confidence.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    if len(arrays["confidence"]) != num_instances:
        raise ValueError(f"{result.path('confidence.npz')}: {len(arrays['confidence'])} confidences for "
                         f"{num_instances} instances; the artifact belongs to another instance table")
    return arrays

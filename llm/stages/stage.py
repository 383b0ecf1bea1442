"""A small stage framework: each stage of an LLM pipeline is a directory of artifacts in the run directory.

    result = run_stage(workdir, "item_memory", inputs={"dataset": ds_hash, "prompt": PROMPT.id, ...},
                       compute=lambda ctx: ..., llm=session)

- `inputs` names everything the stage's artifacts depend on (hashes of upstream artifacts, config values,
  prompt template ids). Their digest goes into `<workdir>/<name>/meta.json`; a later run with the same
  digest and every listed output present skips the stage and returns the stored meta.
- `compute(ctx)` writes its files into `ctx.dir`, a staging directory beside the stage's; only when it
  returns are meta.json and cost.json written and the staging directory renamed into place. A kill or an
  error leaves the previous artifacts (or none), never a half-written stage.
- Everything the stage asked the LLM is in the run's answer cache (`<workdir>/llm_cache.jsonl`, shared by all
  stages), so a stage killed half-way and run again replays the answers it already had and asks only for the
  rest; with temperature 0 and seeded sampling, it ends with the same artifacts.
- cost.json: LLM calls (HTTP requests sent, retries included), requests answered from the cache, prompt and
  completion tokens of the fresh answers, failures by kind (counted by the stage, never dropped) and wall
  seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import time
from collections import Counter
from collections.abc import Callable
from typing import Self

from engine.run_dir import write_dir_atomic, write_json_atomic

META_FILE, COST_FILE = "meta.json", "cost.json"


def digest(obj) -> str:
    """SHA-256 of the canonical JSON of obj (dicts with sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


class LLMSession:
    """The run's LLM endpoint and client, started on first use so a run whose stages are all done starts no
    server. `url` None starts the embedded llama.cpp server; `client_kwargs` go to LLMClient."""

    def __init__(self, workdir, url: str | None = None, model: str | None = None, dialect: str = "openai",
                 server_kwargs: dict | None = None, **client_kwargs):
        self.workdir = pathlib.Path(workdir)
        self.url, self.model, self.dialect = url or None, model or None, dialect
        self.server_kwargs = dict(server_kwargs or {})
        self.client_kwargs = client_kwargs
        self._stack = contextlib.ExitStack()
        self._client = None

    @property
    def client(self):
        if self._client is None:
            from llm.cache import AnswerCache
            from llm.server import connect

            kwargs = {} if self.url else self.server_kwargs
            endpoint = self._stack.enter_context(connect(self.url, model=self.model, dialect=self.dialect,
                                                         **kwargs))
            cache = self._stack.enter_context(AnswerCache.in_run_dir(self.workdir))
            self._client = endpoint.client(cache=cache, **self.client_kwargs)
        return self._client

    @property
    def started(self) -> bool:
        return self._client is not None

    def close(self) -> None:
        self._stack.close()
        self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass
class StageContext:
    name: str
    dir: pathlib.Path  # the staging directory: write artifacts here
    workdir: pathlib.Path
    llm: LLMSession | None
    failures: Counter = dataclasses.field(default_factory=Counter)
    notes: dict = dataclasses.field(default_factory=dict)  # extra counters for cost.json (e.g. items described)

    @property
    def client(self):
        if self.llm is None:
            raise RuntimeError(f"stage {self.name!r} asked for an LLM but was run without one")
        return self.llm.client

    def fail(self, kind: str, count: int = 1) -> None:
        self.failures[kind] += count


@dataclasses.dataclass(frozen=True)
class StageResult:
    name: str
    dir: pathlib.Path
    meta: dict
    cost: dict
    skipped: bool

    def path(self, name: str) -> pathlib.Path:
        return self.dir / name


def _usage(llm: LLMSession | None):
    return llm.client.usage.copy() if llm is not None and llm.started else None


def _cost(before, llm: LLMSession | None, ctx: StageContext, seconds: float) -> dict:
    cost = {"calls": 0, "retries": 0, "requests": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0,
            "llm_seconds": 0.0}
    if llm is not None and llm.started:
        from llm.client import Usage

        used = llm.client.usage - (before or Usage())
        cost.update(calls=used.calls, retries=used.retries, requests=used.requests, cache_hits=used.cache_hits,
                    prompt_tokens=used.prompt_tokens, completion_tokens=used.completion_tokens,
                    llm_seconds=round(used.seconds, 3))
    cost["failures"] = dict(sorted(ctx.failures.items()))
    cost["wall_seconds"] = round(seconds, 3)
    cost["completion_tokens_per_s"] = (round(cost["completion_tokens"] / seconds, 2) if seconds > 0 else 0.0)
    cost.update(ctx.notes)
    return cost


def read_json(path) -> dict | None:
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def _remove_dead_staging(workdir: pathlib.Path, name: str) -> None:
    """A SIGKILL leaves the staging directory behind (no except clause runs): remove those of processes that are
    gone, so that a killed and re-run stage leaves only its finished directory. A live process's is kept."""
    for path in workdir.glob(f".{name}.*.staging"):
        pid = path.name[len(name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # alive, another user's
        elif pid.isdigit():
            continue  # our own process (an earlier stage of the same name still open)
        shutil.rmtree(path, ignore_errors=True)


def run_stage(workdir, name: str, inputs: dict, compute: Callable[[StageContext], dict | None],
              outputs: tuple[str, ...], llm: LLMSession | None = None, log: Callable[[str], None] = print
              ) -> StageResult:
    """Run one stage unless its artifacts exist for the same inputs. `compute` returns extra meta (or None)."""
    workdir = pathlib.Path(workdir)
    target = workdir / name
    key = digest(inputs)
    meta = read_json(target / META_FILE)
    if meta is not None and meta.get("inputs_digest") == key and all((target / o).exists() for o in outputs):
        log(f"[{name}] up to date ({target}), skipped")
        return StageResult(name, target, meta, read_json(target / COST_FILE) or {}, True)
    workdir.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(workdir, name)
    start, before = time.perf_counter(), _usage(llm)
    log(f"[{name}] running")

    def fill(staging: pathlib.Path) -> None:
        nonlocal meta, cost
        ctx = StageContext(name, staging, workdir, llm)
        extra = compute(ctx) or {}
        missing = [o for o in outputs if not (staging / o).exists()]
        if missing:
            raise RuntimeError(f"stage {name!r} did not write {', '.join(missing)}")
        cost = _cost(before, llm, ctx, time.perf_counter() - start)
        meta = {"stage": name, "inputs": inputs, "inputs_digest": key, "outputs": list(outputs),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
        write_json_atomic(staging / COST_FILE, cost)
        write_json_atomic(staging / META_FILE, meta)

    cost = None
    # The pid in the staging name lets a later run tell a killed run's leftovers from a live one's.
    write_dir_atomic(target, fill, prefix=f".{name}.{os.getpid()}.")
    log(f"[{name}] done: {json.dumps(cost)}")
    return StageResult(name, target, meta, cost, False)


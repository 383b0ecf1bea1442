"""Throughput of the correction stage's LLM calls at several concurrencies (issue 43: "concurrency 1 vs N").

    python -m launch.llm4rsr --config configs/llm4rsr.py:ml-100k-cpu --workdir W --mode=throughput \
        [--concurrency=1,2,4 --prompts=40 --out=docs/benchmarks/llm4rsr_throughput.md]

The prompts are the correction stage's own first-round questions for the `prompts` least confident instances of a
finished run directory W (stages instances, tgd and confidence done): the TGD-optimised instruction prompt and
memory, the JSON schema of the answer, greedy decoding, tgd.select_max_tokens. Every concurrency level sends the
same prompts through a client with no answer cache, so every answer is a server call; the server's own prefix
reuse of consecutive prompts (the shared instruction) is left on, as in a real run. The server is config.llm.url,
or the embedded llama.cpp server started as the pipeline starts it (its default processes). Reports calls/s,
generated and prompt tokens/s, server CPU seconds per call (embedded server only) and how many answers equal the
concurrency-1 answers (greedy decoding should not depend on the concurrency).
"""

from __future__ import annotations

import contextlib
import pathlib
import time

from llm.stages.llm4rsr.common import item_names, item_type, load_data
from llm.stages.stage import META_FILE, StageResult, read_json


def finished(workdir, name: str) -> StageResult:
    """The finished stage `name` of a run directory (its meta.json), or a one-line error."""
    path = pathlib.Path(workdir) / name
    meta = read_json(path / META_FILE)
    if meta is None:
        raise FileNotFoundError(f"{path}: no finished stage {name!r}; run the pipeline on this workdir first")
    return StageResult(name, path, meta, {}, True)


def correction_requests(config, workdir, count: int):
    """The first-round correction requests of the `count` least confident instances (as correction.correct_rows
    asks them, attempt 0)."""
    from llm.calls import chat_request
    from llm.stages.llm4rsr import confidence as confidence_stage
    from llm.stages.llm4rsr import instances as instances_stage
    from llm.stages.llm4rsr import tgd as tgd_stage
    from llm.stages.llm4rsr.correction import select_uncertain
    from llm.stages.llm4rsr.prompt import Items, answer_schema, render

    dataset, _ = load_data(config)
    table, _ = instances_stage.load(finished(workdir, "instances"))
    conf = confidence_stage.load(finished(workdir, "confidence"), len(table))
    ip, memory = tgd_stage.load(finished(workdir, "tgd"))
    items = Items(item_names(dataset), memory, item_type(config, dataset))
    rows = select_uncertain(conf["confidence"], 1.0, count)
    requests = []
    for r in rows:
        inputs = [int(v) for v in table.inputs[r] if v]
        requests.append(chat_request(render(ip, inputs, int(table.target[r]), items),
                                     max_tokens=int(config.tgd.select_max_tokens), temperature=0.0,
                                     json_schema=answer_schema(len(inputs))))
    return requests


def measure_levels(config, workdir, levels: list[int], count: int) -> tuple[str, dict]:
    """(markdown table, JSON record) of the correction prompts sent at each concurrency level."""
    import logging

    from llm.bench import Throughput, cpu_pids, cpu_seconds, measure, table
    from llm.server import connect, embedded_server

    logging.getLogger("httpx").setLevel(logging.WARNING)
    requests = correction_requests(config, workdir, count)
    with contextlib.ExitStack() as stack:
        if config.llm.url:
            endpoint = stack.enter_context(connect(config.llm.url, model=config.llm.model or None,
                                                   dialect=config.llm.dialect))
            pids, processes = (), "given by URL"
        else:
            server = stack.enter_context(embedded_server(n_ctx=int(config.llm.n_ctx)))
            endpoint = server.endpoint
            guards = server.pids if hasattr(server, "servers") else [server.pid]
            pids, processes = cpu_pids(guards), f"embedded, {len(guards)} process(es)"
        client = endpoint.client(timeout=float(config.llm.timeout), progress=False)
        measure(client, requests[:1], 1)  # warm-up: model pages, first-call allocations
        rows, texts = [], {}
        for level in levels:
            client.cache, client.max_concurrency = None, level
            cpu_before = cpu_seconds(pids) if pids else None
            start = time.perf_counter()
            answers = client.run(requests)
            seconds = time.perf_counter() - start
            texts[level] = [a.text for a in answers]
            rows.append(Throughput(level, len(answers), seconds, sum(a.prompt_tokens for a in answers),
                                   sum(a.completion_tokens for a in answers),
                                   cpu_seconds(pids) - cpu_before if pids else None))
    with open("/proc/loadavg") as load:
        loadavg = load.read().split()[0]
    same = {level: sum(a == b for a, b in zip(texts[levels[0]], texts[level])) for level in levels}
    title = (f"{count} correction prompts of {workdir} (mean {rows[0].prompt_tokens / rows[0].completions:.0f} "
             f"prompt tokens), server {endpoint.url} ({processes}), model {endpoint.model}; "
             f"load average at the end {loadavg}")
    text = table(rows, title) + "\n\nAnswers equal to the concurrency-" + str(levels[0]) + " answers: " + ", ".join(
        f"{same[level]}/{count} at {level}" for level in levels) + "\n"
    record = {"prompts": count, "server": endpoint.url, "processes": processes, "model": endpoint.model,
              "loadavg": loadavg, "levels": [
                  {"concurrency": r.concurrency, "calls": r.completions, "seconds": r.seconds,
                   "calls_per_s": r.completions_per_s, "completion_tokens_per_s": r.tokens_per_s,
                   "prompt_tokens_per_s": r.prompt_tokens_per_s, "server_cpu_seconds": r.server_cpu_seconds,
                   "same_answers_as_first_level": same[r.concurrency]} for r in rows]}
    return text, record


def write(text: str, record: dict, out: str) -> None:
    from engine.run_dir import write_json_atomic, write_text_atomic

    path = pathlib.Path(out)
    write_text_atomic(path, text)
    write_json_atomic(path.with_suffix(".json"), record)


"""Throughput of an LLM server on realistic prompts: completions/s and tokens/s at several concurrencies.

    python -m launch.llm_server --bench            # the embedded server(s), the table below
    rows = measure(endpoint.client(), requests, concurrency=4)

The prompts are what the LLM stages send: a user's recently watched ML-1M movies (title, year, genres,
director, actors, plot from movies_extrainfos.dat.gz) and a request to describe the user's taste, about 500
prompt tokens each, answered greedily with up to 60 tokens. Every prompt is different (distinct movies), so no
answer comes from a cache and the server's prompt cache can only reuse the shared instruction prefix.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pathlib
import time
from collections.abc import Sequence

from llm.calls import Request, chat_request
from llm.client import LLMClient

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m"
INSTRUCTION = ("You are a movie recommender. Here are the movies a user watched recently, oldest first.\n\n{movies}\n\n"
               "In two or three sentences, describe this user's taste in movies: genres, eras, directors or actors "
               "they seem to like, and the mood of the films.")


def movie_texts(data_dir: str | pathlib.Path = DATA) -> list[str]:
    """One text per movie of movies_extrainfos.dat.gz, in file order (skipping lines without a title)."""
    path = pathlib.Path(data_dir) / "movies_extrainfos.dat.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ML-1M item text not found (the benchmark builds its prompts from it)")
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\r\n").split("::")
            if len(fields) < 10 or not fields[1]:
                continue
            _, title, year, _, _, genres, director, _, actors, plot = fields[:10]
            plot = "" if plot.strip() in ("", "N/A") else f" {plot.strip()}"
            texts.append(f"{title} ({year}). Genres: {genres}. Directed by {director}. Starring {actors}.{plot}")
    return texts


def bench_requests(n: int, *, prompt_chars: int = 2000, max_tokens: int = 60,
                   data_dir: str | pathlib.Path = DATA) -> list[Request]:
    """n distinct chat requests of about prompt_chars characters of movie text (2,000 chars is about 500
    SmolLM2 tokens with the instruction and chat template)."""
    movies = movie_texts(data_dir)
    requests, at = [], 0
    for _ in range(n):
        chosen, size = [], 0
        while size < prompt_chars:
            text = movies[at % len(movies)][:600]  # a long plot would make one movie the whole prompt
            chosen.append(f"- {text}")
            size += len(text) + 3
            at += 1
        requests.append(chat_request(INSTRUCTION.format(movies="\n".join(chosen)), max_tokens=max_tokens))
    return requests


@dataclasses.dataclass(frozen=True)
class Throughput:
    concurrency: int
    completions: int
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    server_cpu_seconds: float | None = None  # CPU time the server processes used, when their pids are known

    @property
    def completions_per_s(self) -> float:
        return self.completions / self.seconds

    @property
    def tokens_per_s(self) -> float:  # generated tokens; prompt tokens are reported separately
        return self.completion_tokens / self.seconds

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.seconds


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of the given processes (all their threads) so far, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_pids(guards: Sequence[int]) -> list[int]:
    """The server processes under the given guard processes (llm.server_guard), whose CPU time counts."""
    found = []
    for guard in guards:
        for task in pathlib.Path(f"/proc/{guard}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def measure(client: LLMClient, requests: list[Request], concurrency: int, server_pids: Sequence[int] = ()
            ) -> Throughput:
    """Send `requests` with at most `concurrency` in flight (no answer cache) and time the whole batch.

    server_pids: the server processes on this machine; their CPU time is recorded too, which on a shared
    machine says what the work costs whatever else is running (wall-clock rates drop under contention)."""
    client.max_concurrency = concurrency
    client.cache = None
    cpu_before = cpu_seconds(server_pids) if server_pids else None
    start = time.perf_counter()
    answers = client.run(requests)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(server_pids) - cpu_before if server_pids else None
    return Throughput(concurrency, len(answers), seconds, sum(a.prompt_tokens for a in answers),
                      sum(a.completion_tokens for a in answers), cpu)


def table(rows: list[Throughput], title: str) -> str:
    header = ("| concurrent requests | completions/s | generated tokens/s | prompt tokens/s | mean prompt tokens "
              "| mean output tokens | server CPU s per completion | seconds |")
    lines = [title, header, "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cpu = "-" if r.server_cpu_seconds is None else f"{r.server_cpu_seconds / r.completions:.2f}"
        lines.append(f"| {r.concurrency} | {r.completions_per_s:.2f} | {r.tokens_per_s:.1f} | "
                     f"{r.prompt_tokens_per_s:.0f} | {r.prompt_tokens / r.completions:.0f} | "
                     f"{r.completion_tokens / r.completions:.1f} | {cpu} | {r.seconds:.1f} |")
    return "\n".join(lines)

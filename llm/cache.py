"""A persistent answer cache: one JSONL file in the run directory, one line per answer.

Why a log file rather than a database: answers arrive one at a time over hours, and a run may be killed
at any moment. Appending one line and flushing it per answer means everything answered before the kill is
on disk (a process kill loses nothing that was flushed; only the line being written can be cut short), and
the next run reads the file back and asks the server only for what is missing.

Keys. An answer is keyed by a SHA-256 of the canonical JSON of (endpoint, request body, sample index, and
the attempt when it is > 0). The body carries the model, the messages or prompt, every sampling parameter and
the response format, so any change to any of them is a different key; the timeout is not in the body, so it
does not matter.

Attempts. An answer a stage cannot use (invalid JSON, cut off by max_tokens) stays in the cache as the record
of what the server said, and the stage asks again with attempt=1, 2, ...: a different key, so the bad answer
is not replayed, while a re-run replays every attempt in order and ends where the first run ended. Attempt 0
leaves the key as it was before attempts existed, so existing caches stay valid.

Sampled requests. A greedy request (temperature 0) always gets the same answer, so it is cached as is. A
request with temperature > 0 asks for one draw from a distribution: caching it silently would turn "ask
five times" into "get the first answer five times". Such a request is therefore cached only when the
caller names which draw it is with `sample_index` (0, 1, 2, ...): draw i of a prompt is then asked once and
replayed on every re-run, which makes sampled stages resumable and reproducible, while distinct indices
still give distinct draws. A seed alone does not make a request cacheable, because servers that batch
requests (SGLang) do not promise seed-determinism.

Not supported: several processes appending to one cache file at the same time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import threading
from typing import Any, Self

from llm.errors import CacheError

log = logging.getLogger(__name__)

CACHE_FILE = "llm_cache.jsonl"


def is_cacheable(body: dict, sample_index: int | None, attempt: int = 0) -> bool:
    """Greedy requests always; sampled ones only when the caller says which draw (or which attempt) they are."""
    return float(body.get("temperature", 1.0)) == 0.0 or sample_index is not None or attempt > 0


def cache_key(endpoint: str, body: dict, sample_index: int | None, attempt: int = 0) -> str:
    # Greedy answers do not depend on the draw, so the index is left out and every index shares one answer.
    if float(body.get("temperature", 1.0)) == 0.0:
        sample_index = None
    fields = {"endpoint": endpoint, "body": body, "sample_index": sample_index}
    if attempt:  # only then: the keys of first attempts are those written before attempts existed
        fields["attempt"] = attempt
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _last_byte(path: pathlib.Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


class AnswerCache:
    """JSONL answers keyed by `cache_key`. Reading tolerates a truncated last line (reported in the log and
    in `dropped_tail`, then cut off the file so later appends start on a clean line); any other unreadable
    line is a CacheError naming the file and line."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.dropped_tail: str | None = None
        self._answers: dict[str, dict] = {}
        # The sync client may be driven from several threads; appends must not interleave.
        self._lock = threading.Lock()
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the appends
        # A kill right before the newline leaves a complete last answer without its line end; without this
        # the next answer would be glued onto it.
        if self._file.tell() > 0 and _last_byte(self.path) != b"\n":
            self._file.write("\n")
            self._file.flush()

    @classmethod
    def in_run_dir(cls, run_dir: str | os.PathLike) -> AnswerCache:
        return cls(pathlib.Path(run_dir) / CACHE_FILE)

    def _load(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, raw in enumerate(lines, start=1):
            is_last = number == len(lines) or (number == len(lines) - 1 and lines[-1] == b"")
            if raw.strip():
                try:
                    entry = json.loads(raw)
                    self._answers[entry["key"]] = entry["response"]
                except (ValueError, KeyError, TypeError) as error:
                    if not is_last:
                        raise CacheError(f"{self.path}:{number}: unreadable cache line ({error}); the file is "
                                         f"corrupt before its end, so it was not written by this cache alone. "
                                         f"Delete the line or the file to continue.") from error
                    # A run killed while writing its last answer: forget that answer, it will be asked again.
                    self.dropped_tail = raw.decode("utf-8", errors="replace")
                    log.warning("%s:%d: dropped a truncated last line (%d bytes) left by an interrupted run; "
                                "that answer will be requested again", self.path, number, len(raw))
                    with open(self.path, "r+b") as f:
                        f.truncate(offset)
                    return
            offset += len(raw) + 1

    def __len__(self) -> int:
        return len(self._answers)

    def __contains__(self, key: str) -> bool:
        return key in self._answers

    def get(self, key: str) -> dict | None:
        return self._answers.get(key)

    def put(self, key: str, endpoint: str, body: dict, sample_index: int | None, response: dict[str, Any],
            attempt: int = 0) -> None:
        """Store one answer and flush it to disk before returning."""
        entry = {"key": key, "endpoint": endpoint, "sample_index": sample_index, "request": body, "response": response}
        if attempt:
            entry["attempt"] = attempt
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if self._file.closed:
                raise CacheError(f"{self.path}: the cache was closed; cannot store more answers")
            # One write per line keeps a kill from interleaving half-lines; flush hands it to the OS, which
            # keeps it even if this process dies the next instant.
            self._file.write(line + "\n")
            self._file.flush()
            self._answers[key] = response

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

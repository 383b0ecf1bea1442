"""A real HTTP proxy on 127.0.0.1 that misbehaves on purpose, to test the client's retries over real sockets.

The first `failures` requests get the chosen fault; later ones are forwarded to the upstream server and its
answer is passed back. It also records how many requests were in flight at once.
"""

from __future__ import annotations

import http.server
import socket
import threading
from typing import Self

import httpx

MODES = ("status", "drop", "stall")


class FaultyProxy:
    """mode "status": answer with HTTP `status`; "drop": close the connection without answering;
    "stall": accept the request and never answer (until the proxy stops), so the client times out."""

    def __init__(self, upstream: str, mode: str = "status", failures: int = 0, status: int = 503):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.upstream, self.mode, self.failures, self.status = upstream.rstrip("/"), mode, failures, status
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                self._handle()

            def do_POST(self):
                self._handle()

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    proxy.requests += 1
                    faulty = proxy.requests <= proxy.failures
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    upstream = None if faulty else self._forward(body)
                finally:
                    # Counted out before the answer is written: the client sends its next request only after
                    # reading this answer, so counting out later would overlap the two and over-count.
                    with proxy._lock:
                        proxy.in_flight -= 1
                if faulty:
                    self._fail()
                else:
                    self._reply(upstream)

            def _fail(self):
                if proxy.mode == "status":
                    payload = f'{{"error": "injected HTTP {proxy.status}"}}'.encode()
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if proxy.mode == "stall":
                    proxy._stopping.wait()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _forward(self, body: bytes) -> httpx.Response:
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                return httpx.request(self.command, proxy.upstream + self.path, content=body, headers=headers,
                                     timeout=120)

            def _reply(self, upstream: httpx.Response):
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

        return Handler

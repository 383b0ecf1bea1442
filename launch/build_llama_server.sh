#!/usr/bin/env bash
# Build llama.cpp's own HTTP server, llama-server, into .venv/bin from the llama.cpp source that the installed
# llama-cpp-python release vendors (its PyPI sdist), with the same portable CPU flags as launch/setup.sh.
#   bash launch/build_llama_server.sh        (about as long as the llama-cpp-python build: ~15 min on 2 cores)
# llama-server decodes several requests together (--parallel slots, continuous batching), which
# llama-cpp-python's server does not; use it with `python -m launch.llm_server --binary .venv/bin/llama-server
# --parallel 8` or LlamaCppServer(binary=..., parallel=8).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(.venv/bin/python -c "import llama_cpp; print(llama_cpp.__version__)")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "llama-server from llama-cpp-python $version's vendored llama.cpp (work dir $work)"
.venv/bin/python -m pip download --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
tar xzf "$work/llama_cpp_python-$version.tar.gz" -C "$work"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
flags="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
# A static binary: it needs no llama.cpp shared libraries beside it. No curl/openssl: it serves a local file.
# shellcheck disable=SC2086  # the flags are a list of words
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release $flags -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
cmake --build "$work/build" --target llama-server -j "$(nproc)"
install -m 755 "$work/build/bin/llama-server" .venv/bin/llama-server
.venv/bin/llama-server --version 2>&1 | tail -2
echo "installed .venv/bin/llama-server"

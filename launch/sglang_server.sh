#!/usr/bin/env bash
# Start SGLang's OpenAI-compatible server (production LLM server) on a GPU machine.
#
#   bash launch/sglang_server.sh MODEL_PATH [--lora NAME=DIR ...] [-- EXTRA SGLANG ARGS ...]
#
#   MODEL_PATH   a local Hugging Face model folder (nothing is downloaded at run time on our machines)
#   --lora       serve a LoRA adapter under NAME (repeatable); turns on --enable-lora
#   -- ...       passed to sglang.launch_server unchanged (e.g. -- --mem-fraction-static 0.8 --tp 2)
#   env HOST (127.0.0.1), PORT (30000), PYTHON (python): where to listen and which interpreter has sglang
#
# The server runs in the foreground until Ctrl-C. Point the LLM stages at http://$HOST:$PORT (the client
# adds /v1/...). SGLang needs a GPU (or a Xeon with AMX); on CPU-only machines leave the URL unset and the
# stages start the embedded llama.cpp server instead (llm/server.py, python -m launch.llm_server).
set -euo pipefail

die() { echo "sglang_server.sh: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: $0 MODEL_PATH [--lora NAME=DIR ...] [-- EXTRA SGLANG ARGS ...]"
model="$1"; shift
[ -d "$model" ] || die "model folder not found: $model"

loras=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lora)
      [ $# -ge 2 ] || die "--lora needs NAME=DIR"
      name="${2%%=*}"; dir="${2#*=}"
      [ -n "$name" ] && [ "$name" != "$2" ] && [ -n "$dir" ] || die "--lora needs NAME=DIR, got '$2'"
      [ -d "$dir" ] || die "LoRA adapter folder not found: $dir (for --lora $2)"
      loras+=("$2"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown argument '$1' (SGLang options go after --)" ;;
  esac
done

args=(--model-path "$model" --host "${HOST:-127.0.0.1}" --port "${PORT:-30000}")
if [ ${#loras[@]} -gt 0 ]; then
  args+=(--enable-lora --lora-paths "${loras[@]}")
fi
# ${extra[@]+...} keeps `set -u` from rejecting an empty array on older bash.
exec "${PYTHON:-python}" -m sglang.launch_server "${args[@]}" ${extra[@]+"${extra[@]}"}

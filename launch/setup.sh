#!/usr/bin/env bash
# Create .venv in the repository root and install the project into it (idempotent).
#   bash launch/setup.sh          runtime dependencies
#   bash launch/setup.sh --dev    plus test and lint tools
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extra}"

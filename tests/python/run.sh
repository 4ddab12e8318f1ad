#!/usr/bin/env bash
# Runs the Python protocol tests of llmspell-kerneld (jupyter_client, jupyter_kernel_test, nbclient).
#
# - Creates the venv target/pyenv with `python3 -m venv` when it is missing or when
#   tests/python/requirements.txt changed (a stamp file holds the file's sha256).
# - Uses $LLMSPELL_KERNELD when set; otherwise builds the kernel with
#   `cargo build -p llmspell-kerneld -p llmspell-fleet` and uses target/debug/llmspell-kerneld
#   (test_fleet_metrics.py takes llmspell-fleet from beside it, or $LLMSPELL_FLEET).
# - Runs `pytest -q tests/python "$@"`; every test has a time limit (pytest-timeout, see
#   tests/python/pytest.ini), so a hung kernel fails the run instead of blocking it.
#
# Usage: tests/python/run.sh [pytest args...]   e.g. tests/python/run.sh -k interrupt -x
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

venv="$repo/target/pyenv"
req="$repo/tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "run.sh: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi

if [[ -z "${LLMSPELL_KERNELD:-}" ]]; then
    cargo build -p llmspell-kerneld -p llmspell-fleet
    export LLMSPELL_KERNELD="$repo/target/debug/llmspell-kerneld"
fi
if [[ ! -x "$LLMSPELL_KERNELD" ]]; then
    echo "run.sh: kernel binary $LLMSPELL_KERNELD is missing or not executable" >&2
    exit 1
fi

exec "$venv/bin/python" -m pytest -q tests/python "$@"

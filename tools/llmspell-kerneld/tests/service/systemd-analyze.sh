#!/usr/bin/env bash
# Runs `systemd-analyze verify` on unit files and fails on any complaint, warnings included
# (verify exits 0 on many of them). Used by tests/service.rs; runs alone as well:
#
#   tools/llmspell-kerneld/tests/service/systemd-analyze.sh UNIT.service...
#
# Which systemd-analyze:
#   1. $SYSTEMD_ANALYZE, if set;
#   2. the one on PATH, if it runs (skipped when LLMSPELL_SYSTEMD_ANALYZE=download);
#   3. one extracted from Debian's packages, cached under $CARGO_TARGET_DIR (or target/) in
#      systemd-analyze/: `apt-get download systemd libsystemd-shared` at the same version (plus any
#      of their direct dependencies not installed here), `dpkg -x`, and run with LD_LIBRARY_PATH
#      on the extracted libraries. Nothing is installed; `apt-get update` runs only if the download
#      fails without it. Needs apt-get and dpkg (Debian, Ubuntu); run as root or a user apt allows.
#
# Documentation=man:llmspell-kerneld(8) is checked too: MANPATH points at a copy of man/ laid out
# in man8/, so `man` finds the repository's page. Without `man` on PATH that check is skipped.
#
# Exit: 0 clean; 1 verify complained (its output is printed); 69 no systemd-analyze could be had.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
cache="${CARGO_TARGET_DIR:-$repo/target}/systemd-analyze"
[ $# -gt 0 ] || { echo "usage: $0 UNIT.service..." >&2; exit 64; }

runs() { "$@" --version >/dev/null 2>&1; }

extracted() {
    local root="$cache/root"
    local lib
    lib="$(dirname "$(find "$root/usr/lib" -name 'libsystemd-shared-*.so' -print -quit 2>/dev/null)" 2>/dev/null || true)"
    [ -n "$lib" ] || return 1
    local multiarch; multiarch="$(dirname "$lib")"
    ANALYZE=(env "LD_LIBRARY_PATH=$lib:$multiarch:$root/lib/$(basename "$multiarch")" "$root/usr/bin/systemd-analyze")
    runs "${ANALYZE[@]}"
}

download() {
    command -v apt-get >/dev/null && command -v dpkg >/dev/null || return 1
    rm -rf "$cache" && mkdir -p "$cache/debs" && cd "$cache/debs"
    local version
    version="$(apt-cache policy systemd 2>/dev/null | awk '/Candidate:/{print $2}')"
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        apt-get update -qq >"$cache/apt.log" 2>&1 || true
        version="$(apt-cache policy systemd | awk '/Candidate:/{print $2}')"
    fi
    [ -n "$version" ] && [ "$version" != "(none)" ] || return 1
    # The two must match exactly: systemd-analyze links libsystemd-shared-<major>.so.
    local pkgs=("systemd=$version" "libsystemd-shared=$version")
    for dep in $(apt-cache depends systemd libsystemd-shared 2>/dev/null |
        awk '/^ *(Pre)?Depends:/{print $2}' | grep -v '^<' | sort -u); do
        case "$dep" in systemd | libsystemd-shared) continue ;; esac
        dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' || pkgs+=("$dep")
    done
    # apt warns when root downloads outside its sandbox user's reach; harmless here.
    if ! apt-get download "${pkgs[@]}" >>"$cache/apt.log" 2>&1; then
        apt-get update -qq >>"$cache/apt.log" 2>&1 || true
        apt-get download "${pkgs[@]}" >>"$cache/apt.log" 2>&1 || return 1
    fi
    for deb in ./*.deb; do dpkg -x "$deb" "$cache/root"; done
    cd - >/dev/null
}

if [ -n "${SYSTEMD_ANALYZE:-}" ]; then
    ANALYZE=("$SYSTEMD_ANALYZE")
elif [ "${LLMSPELL_SYSTEMD_ANALYZE:-}" != download ] && runs systemd-analyze; then
    ANALYZE=(systemd-analyze)
elif ! extracted && ! { download && extracted; }; then
    echo "systemd-analyze.sh: no systemd-analyze on PATH and none from Debian's packages (see $cache/apt.log)" >&2
    exit 69
fi

args=(verify)
if command -v man >/dev/null; then
    manpath="$cache/man"
    for page in "$repo"/man/*.[1-8]; do
        section="${page##*.}"
        mkdir -p "$manpath/man$section"
        ln -sf "$page" "$manpath/man$section/"
    done
    export MANPATH="$manpath"
else
    args+=(--man=no)
fi

# systemd-analyze needs no running systemd for `verify` of system units.
out="$("${ANALYZE[@]}" "${args[@]}" "$@" 2>&1)" && status=0 || status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    echo "$out"
    echo "systemd-analyze.sh: verify $* failed (status $status, or it printed the above)" >&2
    exit 1
fi

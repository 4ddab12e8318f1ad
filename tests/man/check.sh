#!/usr/bin/env bash
# Checks every man page in man/: it renders without groff warnings, it names every long option
# its tool's --help (and each subcommand's --help) lists, and the EXAMPLES lines that start with
# "$ " run successfully, in a scratch HOME, with the freshly built tools first on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${LLMSPELL_BIN_DIR:-$PWD/target/debug}"
status=0
fail() { echo "man check: $*" >&2; status=1; }

for page in man/*.[1-8]; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null || true)
  [ -z "$warnings" ] || fail "$page: $warnings"

  tool=$(basename "$page"); tool=${tool%.*}
  exe="$bin/$tool"
  [ -x "$exe" ] || continue
  text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$page" 2>/dev/null)
  subcommands=$("$exe" --help | awk '/^Commands:/{on=1;next} /^$/{on=0} on{print $1}' | grep -v '^help$' || true)
  for sub in "" $subcommands; do
    # shellcheck disable=SC2086
    for opt in $("$exe" $sub --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
      case "$opt" in --help|--version) continue ;; esac
      grep -q -- "$opt" <<<"$text" || fail "$page does not document $opt${sub:+ of $sub}"
    done
    [ -z "$sub" ] || grep -q -- "$sub" <<<"$text" || fail "$page does not document the $sub command"
  done

  # Run the examples: each .EX block is one shell script of its "$ " lines.
  blocks=$(awk '/^\.EX/{n++; next} /^\.EE/{next} /^\$ /{sub(/^\$ /,""); gsub(/\\-/,"-"); print n "\t" $0}' "$page")
  for n in $(cut -f1 <<<"$blocks" | sort -u); do
    script=$(awk -F'\t' -v n="$n" '$1==n{ $1=""; sub(/^ /,""); print }' <<<"$blocks")
    scratch=$(mktemp -d)
    if ! (cd "$scratch" && env -i PATH="$bin:/usr/bin:/bin" HOME="$scratch" timeout 60 bash -euo pipefail -c "$script") >"$scratch.log" 2>&1; then
      fail "$page: example block $n failed:"; sed 's/^/  | /' "$scratch.log" >&2
    fi
    # A block that failed half way may have left daemons running in its home: stop them.
    [ ! -d "$scratch/.llmspell/kernels" ] ||
      env -i PATH="$bin:/usr/bin:/bin" HOME="$scratch" llmspell-kerneld stop --all --timeout 2 >/dev/null 2>&1 || true
    rm -rf "$scratch" "$scratch.log"
  done
done
exit $status

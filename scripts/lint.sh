#!/usr/bin/env bash
# npm run lint: every check a change must pass before review, each failing
# the run on its first finding.
#   ESLint (typescript-eslint, type-aware)  TypeScript and JavaScript
#   Prettier                                the format of TS, JS, JSON, YAML
#   dependency-cruiser                      no import cycle; storage stays generic
#   clang-format 14                         the format of native/
# npm run format (this script with --fix) rewrites what the formatters own.
#
# The tools live in their own install (tools/lint): typescript-eslint needs
# the TypeScript 6 compiler API, which the build's TypeScript 7 no longer
# ships, and one node_modules cannot hold both under the name "typescript".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fix=false
[ "${1:-}" = "--fix" ] && fix=true

lint_bin=tools/lint/node_modules/.bin
# Installs (or brings up to date) the lint tools from their own lockfile.
if [ ! -x "$lint_bin/eslint" ] || [ tools/lint/package-lock.json -nt tools/lint/node_modules/.package-lock.json ]; then
  npm install --prefix tools/lint --no-audit --no-fund --loglevel=error
fi

clang_format="$(command -v clang-format-14 || true)"
[ -n "$clang_format" ] || {
  echo "lint: clang-format-14 is missing (Debian: apt-get install clang-format-14, or sudo bash scripts/test-deps.sh)" >&2
  exit 1
}
native_sources=(native/*.cc native/*.h native/fuzz/*.cc)

if $fix; then
  "$lint_bin/prettier" --write --log-level warn .
  "$clang_format" -i "${native_sources[@]}"
  exit 0
fi

step() { printf '\n--- %s\n' "$*"; }
step "eslint"
"$lint_bin/eslint" --max-warnings 0 .
step "prettier --check"
"$lint_bin/prettier" --check --log-level warn .
step "dependency-cruiser (import graph)"
"$lint_bin/depcruise" --config .dependency-cruiser.cjs src bench packages/client/src
step "clang-format --dry-run (native/)"
"$clang_format" --dry-run --Werror "${native_sources[@]}"
echo
echo "lint: clean"

#!/usr/bin/env bash
# Builds Krypton from this tree and stages what it needs to run into DEST:
# the one install procedure of the container image (the Dockerfile RUNs it)
# and of a host (.ci/run runs it, so the image's steps are tested here).
#
#   bash scripts/install-krypton.sh DEST
#
# DEST then holds package.json, node_modules (production dependencies only),
# dist/src, build/Release/krypton.node and packages/client; run it as
#   node --secure-heap=65536 DEST/dist/src/cli/main.js <command>
#
# Environment:
#   KRYPTON_UWS_SOURCE      an npm spec of the official uWebSockets.js build,
#                           which the Gateway needs on Node 22 and 24 (glibc
#                           2.38 or later), e.g. the Dockerfile's
#                           github:uNetworking/uWebSockets.js#v20.52.0.
#                           Unset: the npm build only (Gateway on Node 20).
#   KRYPTON_INSTALL_REUSE=1 the tree is already installed and built (as in
#                           .ci/run after `npm install`): skip `npm install`.
#
# Needs: Node 20.19+ with npm, g++, make, python3 (node-gyp builds the addon
# and better-sqlite3). Linux x86-64 with AES-NI.
set -euo pipefail

die() {
  echo "install-krypton: ERROR: $*" >&2
  exit 1
}

[ $# -eq 1 ] || die "usage: bash scripts/install-krypton.sh DEST"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"
DEST="$(mkdir -p "$1" && cd "$1" && pwd)"
[ "$DEST" != "$SRC" ] || die "DEST must not be the source tree"
T0=$SECONDS

# 1. Build: the addon (node-gyp), better-sqlite3, the client package and the TypeScript.
if [ "${KRYPTON_INSTALL_REUSE:-0}" != 1 ]; then
  export npm_config_ignore_scripts=false
  npm install --no-audit --no-fund
fi
for f in build/Release/krypton.node dist/src/cli/main.js packages/client/dist/esm/index.js packages/client/dist/cjs/index.js; do
  [ -f "$f" ] || die "$f is missing: the build did not run"
done

# 2. Stage the runtime files; the test build of the addon and the sources stay behind.
# DEST is emptied only if it is empty already or an earlier staging (never a folder of something else).
if [ -n "$(ls -A "$DEST")" ]; then
  [ -f "$DEST/.krypton-staged" ] || die "$DEST is not empty and was not staged by this script"
  find "$DEST" -mindepth 1 -delete
fi
touch "$DEST/.krypton-staged"
mkdir -p "$DEST/build/Release" "$DEST/dist" "$DEST/packages/client"
cp package.json package-lock.json "$DEST/"
cp build/Release/krypton.node "$DEST/build/Release/"
cp -a dist/src "$DEST/dist/"
cp -a packages/client/package.json packages/client/README.md packages/client/dist "$DEST/packages/client/"
cp -a node_modules "$DEST/"

# 3. Production dependencies only (the workspace link to packages/client stays).
(cd "$DEST" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund && find node_modules -mindepth 1 -type d -empty -delete)
if [ -n "${KRYPTON_UWS_SOURCE:-}" ]; then
  (cd "$DEST" && npm install --no-save --omit=dev --ignore-scripts --no-audit --no-fund "uWebSockets.js@${KRYPTON_UWS_SOURCE}")
fi
[ ! -e "$DEST/node_modules/vitest" ] || die "dev dependencies were not pruned"

# 4. Check what was staged starts. The addon refuses to load when it cannot
# lock its 2 MiB key arena; a build container's memlock limit is often 64 KiB,
# so there the smoke check alone runs with the development override.
MAIN="$DEST/dist/src/cli/main.js"
if [ "$(ulimit -l)" = unlimited ] || [ "$(ulimit -l)" -ge 2112 ]; then
  node --secure-heap=65536 "$MAIN" --help >/dev/null
  node --secure-heap=65536 "$MAIN" selfcheck
else
  echo "install-krypton: memlock limit $(ulimit -l) KiB < 2112: checking --help with KRYPTON_ALLOW_UNLOCKED_MEMORY=1 (build only)"
  KRYPTON_ALLOW_UNLOCKED_MEMORY=1 node --secure-heap=65536 "$MAIN" --help >/dev/null
fi
echo "install-krypton: staged in $DEST ($(du -sh "$DEST" | cut -f1)) in $((SECONDS - T0)) s"

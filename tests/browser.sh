#!/usr/bin/env bash
# Real-browser test of the playground (issue 12). Installs what it needs when it is missing
# (Debian's chromium through apt-get, playwright-core from npm into target/browser-node, which
# drives that Chromium: no browser download), starts the real `stance serve` on a free port with
# the shipped model, and runs tests/browser/playground.mjs against it. Screenshots go to
# target/browser/. With UPDATE_DOCS=1 it also rewrites docs/playground.png.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/browser
NODE_DIR=$ROOT/target/browser-node
PLAYWRIGHT_VERSION=1.65.1
mkdir -p "$OUT"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else echo "browser test: need root (or sudo) to run: $*" >&2; return 1
  fi
}

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "browser test: installing Debian's chromium" >&2
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
  CHROMIUM=$(command -v chromium)
fi
command -v node >/dev/null 2>&1 || {
  echo "browser test: installing node and npm" >&2
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    nodejs npm >/dev/null
}
if [ "$(node -p "try{require('$NODE_DIR/node_modules/playwright-core/package.json').version}catch(e){''}")" != "$PLAYWRIGHT_VERSION" ]; then
  echo "browser test: installing playwright-core $PLAYWRIGHT_VERSION into target/browser-node" >&2
  mkdir -p "$NODE_DIR"
  [ -f "$NODE_DIR/package.json" ] || echo '{"private": true}' >"$NODE_DIR/package.json"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error \
    "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi

# The binary the test suite builds (a no-op when it is fresh).
cargo build --locked --quiet --bin stance
BIN=$ROOT/target/debug/stance

LOG=$OUT/server.log
RUST_LOG=info "$BIN" serve --bind 127.0.0.1:0 --models "$ROOT/models" --workers 2 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
BASE=""
for _ in $(seq 1 200); do
  BASE=$(grep -o 'listening on http://[0-9.:]*' "$LOG" | head -1 | sed 's/listening on //' || true)
  [ -n "$BASE" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
[ -n "$BASE" ] || { echo "browser test: the server did not start" >&2; cat "$LOG" >&2; exit 1; }

STANCE_URL=$BASE CHROMIUM=$CHROMIUM PW_DIR=$NODE_DIR OUT_DIR=$OUT \
  ESSAY=$ROOT/../shared/reference/reference-essay.txt DOCS_DIR=$ROOT/docs \
  node --test --test-reporter=spec tests/browser/playground.mjs

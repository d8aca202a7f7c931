#!/usr/bin/env bash
# The browser test of the drawing page: installs Debian's chromium and playwright-core (npm) if
# missing, builds the serve example, writes the static page (`serve --static`, its assets from
# `web/build.sh`), and draws test digits on both in headless Chromium (draw.mjs).
# Usage: bash tests/browser/run.sh [SCREENSHOT.png] [DIGITS]   (as root, for apt-get)
set -euo pipefail
cd "$(dirname "$0")/../.."
screenshot="${1:-${TMPDIR:-/tmp}/mnist-lab-serve-page.png}"
digits="${2:-100}"
command -v chromium >/dev/null || apt-get install -y -qq chromium >/dev/null
[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm install --silent --no-audit --no-fund)
# The feature set of CI's other builds (.ci/run), so this one reuses them.
cargo build --quiet --features ndarray,wgpu,serve,onnx --example serve
target="${CARGO_TARGET_DIR:-target}"
weights=tests/data/networks/simple_cnn_augmented/model.safetensors
bash web/build.sh
site="$(mktemp -d)"
trap 'rm -rf "$site"' EXIT
"$target/debug/examples/serve" --weights "$weights" --static "$site" --assets web/dist
node tests/browser/draw.mjs "$target/debug/examples/serve" "$weights" tests/data/mnist-slice "$screenshot" "$digits" "$site"

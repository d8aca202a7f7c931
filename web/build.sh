#!/usr/bin/env bash
# The static drawing page's assets in web/dist: mnist-lab's `mnist_style` compiled to
# WebAssembly (this crate; rustup's wasm32-unknown-unknown target, added if missing) and
# onnxruntime-web's single-threaded WebAssembly build from npm (pinned in package.json, ~15 MB).
# Then: cargo run --features serve,onnx --example serve -- --weights FILE --static DIR
set -euo pipefail
cd "$(dirname "$0")"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo build --quiet --release --target wasm32-unknown-unknown
target="${CARGO_TARGET_DIR:-target}"
[ -d node_modules/onnxruntime-web ] || npm install --silent --no-audit --no-fund
mkdir -p dist
cp "$target/wasm32-unknown-unknown/release/mnist_style_wasm.wasm" dist/mnist_style.wasm
for f in ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
    cp "node_modules/onnxruntime-web/dist/$f" dist/
done
echo "web/dist: $(ls dist | tr '\n' ' ')"

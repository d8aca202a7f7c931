#!/usr/bin/env bash
# ONNX Runtime checks the networks mnist-lab exports: a Python environment with onnx and
# onnxruntime from PyPI (pinned; ~60 MB, kept in ~/.cache between runs), the export test writing
# each network's .onnx and our log-probabilities of the committed test images, then check.py.
# Usage: bash tests/onnx/run.sh [cargo features, default onnx]
set -euo pipefail
cd "$(dirname "$0")/../.."
features="${1:-onnx}"
venv="${MNIST_LAB_ONNX_VENV:-$HOME/.cache/mnist-lab/onnx-venv}"
if ! "$venv/bin/python" -c 'import onnx, onnxruntime' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
MNIST_LAB_ONNX_CHECK="$out" cargo test --quiet --features "$features" --test onnx -- \
    every_network_exports --nocapture >/dev/null
"$venv/bin/python" tests/onnx/check.py "$out" tests/data/mnist-slice

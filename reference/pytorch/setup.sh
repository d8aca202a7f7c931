#!/usr/bin/env bash
# Makes reference/pytorch/.venv with PyTorch and numpy from the default PyPI (~5.4 GB).
# Only the default PyPI is reachable here, and its Linux torch wheel is the CUDA build: it pulls
# ~4 GB of CUDA libraries. `pip install --no-deps torch` was tried (2026-11-25, torch 2.15.0):
# `import torch` then fails (libcudart.so.13 / libcublasLt not found), so the full install it is.
# Where download.pytorch.org is reachable, TORCH_INDEX=https://download.pytorch.org/whl/cpu
# installs the ~200 MB CPU wheel instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m venv "$here/.venv"
pip="$here/.venv/bin/pip"
"$pip" install -q --upgrade pip
index=()
[ -n "${TORCH_INDEX:-}" ] && index=(--index-url "$TORCH_INDEX")
"$pip" install -q "${index[@]}" "torch==${TORCH_VERSION:-2.15.0}"
"$pip" install -q numpy safetensors
"$here/.venv/bin/python" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'

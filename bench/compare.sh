#!/usr/bin/env bash
# mnist-lab against PyTorch on this machine: runs examples/throughput.rs and the PyTorch twin
# (reference/pytorch/mnist_reference.py throughput) alternately, model by model, ROUNDS times
# each, with the same thread count, then prints the medians and the ratios (ours / PyTorch).
#
#   reference/pytorch/setup.sh          # once: the PyTorch virtualenv
#   bench/compare.sh > results/performance-raw.txt
#
# Environment: THREADS (2), ROUNDS (3), BACKEND (flex), MODELS (all five), MNIST_DIR, and
# BASELINE: the path of another build of examples/throughput (e.g. of an earlier commit, built
# with its own CARGO_TARGET_DIR) to run in the same rounds, for before/after ratios.
# CARGO_FLAGS: more flags for the build, e.g. for what a CPU with AVX2 only gets, measured on
# one with AVX-512 (gemm's AVX2 kernels, ours, and PyTorch's):
#   CARGO_TARGET_DIR=target-avx2 CARGO_FLAGS="--no-default-features --features flex,tui" \
#   MNIST_LAB_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 bench/compare.sh
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
rounds=${ROUNDS:-3}
backend=${BACKEND:-flex}
models=${MODELS:-"simple_fc complex_mlp simple_cnn provided_cnn complex_cnn"}
features=()
[ "$backend" != flex ] && features=(--features "$backend")
bin=$(build_example throughput "${features[@]}")

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
echo "# $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$threads, rounds=$rounds"
echo "# torch $("$py" -c 'import torch; print(torch.__version__)'), $(describe_build)${MNIST_LAB_SIMD:+ MNIST_LAB_SIMD=$MNIST_LAB_SIMD}${ATEN_CPU_CAPABILITY:+ ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY}"
for model in $models; do
    for _ in $(seq "$rounds"); do
        if [ -n "${BASELINE:-}" ]; then
            RAYON_NUM_THREADS=$threads "$BASELINE" --model "$model" --backend "$backend" --data-dir "$data" |
                sed 's/backend=[^ ]*/&-baseline/' | tee -a "$lines"
        fi
        RAYON_NUM_THREADS=$threads "$bin" --model "$model" --backend "$backend" --data-dir "$data" | tee -a "$lines"
        OMP_NUM_THREADS=$threads "$py" reference/pytorch/mnist_reference.py throughput \
            --model "$model" --threads "$threads" --data-dir "$data" | tee -a "$lines"
    done
done
python3 - "$lines" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split())
    runs.setdefault((f["model"], f["backend"]), []).append(f)
def med(rows, key):
    vals = [float(r[key]) for r in rows if r.get(key, "unknown") != "unknown"]
    return statistics.median(vals) if vals else float("nan")
print()
baseline = any(b.endswith("-baseline") for _, b in runs)
head = ("| model | ours train img/s | PyTorch train img/s | train ratio | ours infer img/s | PyTorch infer img/s | infer ratio"
        " | ours batch-1 p50 / p99 ms | PyTorch batch-1 p50 / p99 ms | ours peak RSS MB | PyTorch peak RSS MB |")
if baseline:
    head += " baseline train img/s | ours / baseline, train | baseline infer img/s | ours / baseline, infer |"
print(head)
print("|---" * (head.count("|") - 1) + "|")
for model in dict.fromkeys(m for m, _ in runs):
    ours = next(v for (m, b), v in runs.items() if m == model and b != "torch" and not b.endswith("-baseline"))
    torch = runs[(model, "torch")]
    t, tt = med(ours, "train_img_s"), med(torch, "train_img_s")
    i, ti = med(ours, "infer_img_s"), med(torch, "infer_img_s")
    lat = lambda rows: f"{med(rows, 'latency_p50_ms'):.3f} / {med(rows, 'latency_p99_ms'):.3f}"
    row = (f"| {model} | {t:,.0f} | {tt:,.0f} | **{t / tt:.2f}x** | {i:,.0f} | {ti:,.0f} | **{i / ti:.2f}x** | "
           f"{lat(ours)} | {lat(torch)} | {med(ours, 'peak_rss_mb'):.0f} | {med(torch, 'peak_rss_mb'):.0f} |")
    if baseline:
        base = next(v for (m, b), v in runs.items() if m == model and b.endswith("-baseline"))
        bt, bi = med(base, "train_img_s"), med(base, "infer_img_s")
        row += f" {bt:,.0f} | **{t / bt:.2f}x** | {bi:,.0f} | **{i / bi:.2f}x** |"
    print(row)
PY

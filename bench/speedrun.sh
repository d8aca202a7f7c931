#!/usr/bin/env bash
# The speedrun against its PyTorch twin on this machine: examples/speedrun.rs and
# `mnist_reference.py speedrun` (the same network, optimizer, batches and one-cycle schedule)
# alternately for each seed, each timed from the start of its process to its exit by
# /usr/bin/time (data loading, training, evaluation; PyTorch's `import torch` included), then
# the table of accuracies and wall times with the median ratio.
#
#   reference/pytorch/setup.sh          # once: the PyTorch virtualenv
#   bench/speedrun.sh
#
# Environment: THREADS (2), SEEDS ("1 2 3"), MNIST_DIR, BASELINE (another build of
# examples/speedrun to run in the same rounds, for before/after ratios), CARGO_FLAGS (more
# flags for the build, as bench/compare.sh takes them).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
seeds=${SEEDS:-"1 2 3"}
bin=$(build_example speedrun)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# `NAME SEED COMMAND...`: one line `NAME seed=S accuracy=A wall_s=W`.
timed() {
    local name=$1 seed=$2
    shift 2
    local line
    line=$(/usr/bin/time -f "wall_s=%e" "$@" 2>"$out/time" | grep '^speedrun: [0-9]')
    echo "$name seed=$seed accuracy=$(echo "$line" | sed 's/^speedrun: \([0-9.]*\)%.*/\1/') $(tail -1 "$out/time")"
}
echo "# $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$threads"
echo "# torch $("$py" -c 'import torch; print(torch.__version__)'), $(describe_build)"
for seed in $seeds; do
    if [ -n "${BASELINE:-}" ]; then
        RAYON_NUM_THREADS=$threads timed baseline "$seed" "$BASELINE" --data-dir "$data" --seed "$seed" --out "$out/base" | tee -a "$out/lines"
    fi
    RAYON_NUM_THREADS=$threads timed ours "$seed" "$bin" --data-dir "$data" --seed "$seed" --out "$out/ours" | tee -a "$out/lines"
    OMP_NUM_THREADS=$threads timed torch "$seed" "$py" reference/pytorch/mnist_reference.py speedrun \
        --seed "$seed" --threads "$threads" --data-dir "$data" | tee -a "$out/lines"
done
python3 - "$out/lines" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *fields = line.split()
    f = dict(kv.split("=", 1) for kv in fields)
    rows.setdefault(name, []).append((float(f["accuracy"]), float(f["wall_s"])))
print()
print("| run | accuracies (%) | min accuracy | wall s | median wall s |")
print("|---|---|---|---|---|")
for name, runs in rows.items():
    acc = ", ".join(f"{a:.2f}" for a, _ in runs)
    wall = ", ".join(f"{w:.2f}" for _, w in runs)
    print(f"| {name} | {acc} | {min(a for a, _ in runs):.2f} | {wall} | {statistics.median(w for _, w in runs):.2f} |")
med = {name: statistics.median(w for _, w in runs) for name, runs in rows.items()}
print(f"\nours is {med['torch'] / med['ours']:.2f}x faster than PyTorch (median wall times)")
if "baseline" in med:
    print(f"ours is {med['baseline'] / med['ours']:.2f}x faster than the baseline")
PY

#!/usr/bin/env bash
# The main job against PyTorch's recipe on this machine: `examples/complex_cnn` (the report's
# complex CNN, 2 epochs at 0.01 then 2 at 0.001) and `mnist_reference.py train --model
# complex_cnn --stages 2@0.01,2@0.001`, each timed by /usr/bin/time from the start of its
# process to its exit, in pairs run ABBA (ours, PyTorch, PyTorch, ours, ...) so that a drift
# of the machine's speed falls on both; then each pair's ratio and the medians.
#
#   reference/pytorch/setup.sh          # once: the PyTorch virtualenv
#   bench/main_job.sh                   # a pair: ~6 min on 2 cores of a Zen 5, ~19 on a Zen 3
#
# Environment: THREADS (2), PAIRS (5), MNIST_DIR, CARGO_FLAGS (more flags for the build), and
# LIMIT_TRAIN (both sides on the first N training images: for a quick check of the script).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
pairs=${PAIRS:-5}
bin=$(build_example complex_cnn)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
limit=()
[ -n "${LIMIT_TRAIN:-}" ] && limit=(--limit-train "$LIMIT_TRAIN")

# `NAME COMMAND...`: one line `NAME accuracy=A wall_s=W`, A the last test accuracy printed.
timed() {
    local name=$1 acc
    shift
    /usr/bin/time -f "wall_s=%e" -o "$out/time" "$@" >"$out/log" 2>&1 ||
        { echo "error: $name failed:" >&2; tail -20 "$out/log" >&2; exit 1; }
    if [ "$name" = ours ]; then
        acc=$(grep '^stage [0-9]' "$out/log" | tail -1 | sed 's/^stage [0-9]* ([^)]*): \([0-9.]*\)%.*/\1/')
    else
        acc=$(grep '^Accuracy of the network' "$out/log" | tail -1 | sed 's/.*: \([0-9.]*\)%.*/\1/')
    fi
    echo "$name accuracy=$acc $(tail -1 "$out/time")"
}
ours() { RAYON_NUM_THREADS=$threads timed ours "$bin" --data-dir "$data" --out "$out/ours" "${limit[@]}"; }
torch() {
    OMP_NUM_THREADS=$threads timed torch "$py" reference/pytorch/mnist_reference.py train \
        --model complex_cnn --stages 2@0.01,2@0.001 --threads "$threads" --data-dir "$data" \
        --out "$out/torch" "${limit[@]}"
}

echo "# $(date -u '+%F %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs)), threads=$threads, pairs=$pairs${LIMIT_TRAIN:+, LIMIT_TRAIN=$LIMIT_TRAIN}"
echo "# torch $("$py" -c 'import torch; print(torch.__version__)'), $(describe_build)"
for pair in $(seq "$pairs"); do
    if [ $((pair % 2)) = 1 ]; then
        ours | tee -a "$out/lines"
        torch | tee -a "$out/lines"
    else
        torch | tee -a "$out/lines"
        ours | tee -a "$out/lines"
    fi
done
python3 - "$out/lines" <<'PY'
import statistics, sys
rows = {"ours": [], "torch": []}
for line in open(sys.argv[1]):
    name, *fields = line.split()
    f = dict(kv.split("=", 1) for kv in fields)
    rows[name].append((f["accuracy"], float(f["wall_s"])))
ratios = [t[1] / o[1] for o, t in zip(rows["ours"], rows["torch"])]
print()
print("| pair | ours: accuracy %, wall s | PyTorch: accuracy %, wall s | PyTorch / ours |")
print("|---|---|---|---|")
for i, ((oa, ow), (ta, tw), r) in enumerate(zip(rows["ours"], rows["torch"], ratios), 1):
    print(f"| {i} | {oa}, {ow:.1f} | {ta}, {tw:.1f} | {r:.2f}x |")
om = statistics.median(w for _, w in rows["ours"])
tm = statistics.median(w for _, w in rows["torch"])
print(f"\nmedians: ours {om:.1f} s, PyTorch {tm:.1f} s: **{tm / om:.2f}x**; "
      f"median pair {statistics.median(ratios):.2f}x, pairs at 1.5x or more: "
      f"{sum(r >= 1.5 for r in ratios)} of {len(ratios)}")
PY

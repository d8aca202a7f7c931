#!/usr/bin/env bash
# mnist-lab on a GPU: every network's training and inference speed on `--backend wgpu` beside
# `flex` on the same machine, and the main job (examples/complex_cnn) on wgpu, in one table.
#
# A GPU machine may have no network and no Rust toolchain, so this runs in two steps:
#
#   bench/gpu.sh bundle [DIR]     # here, where cargo is (default DIR: target/gpu-bundle)
#   DIR/gpu.sh run                # there: prints the table (a few minutes on a GPU)
#
# `bundle` builds examples/gpu_bench in release with `--features wgpu` (flex and wgpu in one
# binary; `gpu_bench throughput` is examples/throughput, `gpu_bench complex-cnn` the main job
# examples/complex_cnn), strips it, and packs it into DIR/payload.tar.gz with the four
# MNIST files ($MNIST_DIR, default ../shared/data/mnist), the committed slice of them
# (tests/data/mnist-slice, for QUICK below) and Debian's Vulkan loader: `apt-get
# download libvulkan1`, unpacked here with `dpkg-deb -x`, of which only libvulkan.so.1 and its
# copyright file are kept (the GPU's own Vulkan driver comes with its NVIDIA/AMD driver; the loader
# is what a bare image may lack). DIR also gets this script and BUILD-INFO (commit, host, date);
# it stays under 64 MiB. Copy DIR to the GPU machine, or carry it there (it is under target/,
# which git ignores).
#
# `run` unpacks the payload into a temporary folder, puts the bundled loader first on
# LD_LIBRARY_PATH, and pins the adapter, so a machine whose GPU Vulkan cannot reach fails with
# the adapters it found instead of quietly measuring a software renderer. Environment:
#   ICD       the Vulkan driver's manifest (default: the first nvidia_icd.json, then any *.json,
#             under /usr/share/vulkan/icd.d, /etc/vulkan/icd.d, /usr/local/nvidia/share/...)
#   ADAPTER   which adapter wgpu takes, as CUBECL_WGPU_DEFAULT_DEVICE reads it (default
#             `DiscreteGpu(0)`; `Cpu` for lavapipe)
#   MODELS    the networks (default: all five)
#   MAIN      the backends the main job runs on (default `wgpu`; `wgpu flex` adds the CPU)
#   QUICK=1   small sizes, to check a bundle without a GPU: 2 windows of 2 batches, 10 latency
#             samples, the main job on 100 training images for one epoch per stage, tested on
#             the committed slice's 1,000 test images (tests/data/mnist-slice, in the bundle
#             too), cubecl's autotune at `minimal`. On lavapipe (~25 minutes on 2 cores):
#     ICD=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json ADAPTER=Cpu QUICK=1 target/gpu-bundle/gpu.sh run
# The log of every step is kept in DIR/logs; the exit status is non-zero when one failed.
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

bundle() {
    local root dir data
    root=$(cd "$(dirname "$0")/.." && pwd)
    cd "$root"
    dir=${1:-target/gpu-bundle}
    data=${MNIST_DIR:-../shared/data/mnist}
    # DIR is replaced as a whole: never a folder that holds anything but an earlier bundle.
    if [ -e "$dir" ] && [ ! -f "$dir/payload.tar.gz" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        echo "error: $dir exists and is not a bundle (no payload.tar.gz): name a new or empty folder" >&2
        exit 1
    fi
    for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
        [ -s "$data/$f" ] || { echo "error: $data/$f is missing: set MNIST_DIR to the folder of the four MNIST files" >&2; exit 1; }
    done
    cargo build --release --features wgpu --example gpu_bench >&2
    local bins="${CARGO_TARGET_DIR:-target}/release/examples"

    # Global, for the EXIT trap.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/payload/bin" "$tmp/payload/lib" "$tmp/payload/data/mnist" "$tmp/payload/data/mnist-slice" "$tmp/deb"
    strip -o "$tmp/payload/bin/gpu_bench" "$bins/gpu_bench"
    cp "$data"/*-ubyte.gz "$tmp/payload/data/mnist/"
    cp tests/data/mnist-slice/*-ubyte.gz "$tmp/payload/data/mnist-slice/"
    (cd "$tmp/deb" && apt-get download libvulkan1 >&2) ||
        { echo "error: apt-get download libvulkan1 failed: this step needs Debian's package mirror" >&2; exit 1; }
    dpkg-deb -x "$tmp"/deb/libvulkan1_*.deb "$tmp/deb/root"
    cp -P "$tmp"/deb/root/usr/lib/x86_64-linux-gnu/libvulkan.so.1* "$tmp/payload/lib/"
    cp "$tmp/deb/root/usr/share/doc/libvulkan1/copyright" "$tmp/payload/lib/libvulkan1.copyright"

    # Written beside DIR, then moved in place: an interrupted bundle leaves the old one whole.
    local new="$tmp/bundle"
    mkdir -p "$new"
    tar -C "$tmp/payload" -czf "$new/payload.tar.gz" .
    cp "$0" "$new/gpu.sh"
    {
        echo "mnist-lab $(git describe --always --dirty 2>/dev/null || echo '?'), built $(date -u +%F) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
        echo "features: wgpu (with the default flex); $(basename "$tmp"/deb/libvulkan1_*.deb)"
    } >"$new/BUILD-INFO"
    local size
    size=$(du -sm "$new" | cut -f1)
    if [ "$size" -ge 64 ]; then
        echo "error: the bundle would be $size MiB, over the 64 MiB a GPU machine is sent; $dir is left as it was" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir"
    mv "$new" "$dir"
    echo "bundle: $dir ($size MiB): gpu.sh, BUILD-INFO, payload.tar.gz" >&2
}

# The first Vulkan driver manifest found: NVIDIA's, else any.
find_icd() {
    local dirs="/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d /usr/local/share/vulkan/icd.d"
    local d f
    for d in $dirs; do
        [ -f "$d/nvidia_icd.json" ] && { echo "$d/nvidia_icd.json"; return; }
    done
    for d in $dirs; do
        for f in "$d"/*.json; do
            [ -f "$f" ] && { echo "$f"; return; }
        done
    done
}

# `report_failure WHAT LOG`: the first error of a failed step, on stderr (a GPU that wgpu cannot
# reach is a panic in cubecl's device thread, which lists the adapters it found).
report_failure() {
    echo "failed: $1 (log: $2)" >&2
    grep -m1 -A1 -E 'panicked at|^error' "$2" >&2 || tail -5 "$2" >&2
}

# `field NAME LINE`: the value of NAME=... in a throughput line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

run() {
    local dir quick icd adapter models main_backends failed=0
    dir=$(cd "$(dirname "$0")" && pwd)
    [ -f "$dir/payload.tar.gz" ] || { echo "error: no payload.tar.gz beside $0: run \`bench/gpu.sh bundle\` where cargo is, and run the bundle's gpu.sh" >&2; exit 1; }
    # Unpacked outside DIR (110 MB), so that DIR stays small enough to send again.
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    tar -C "$work" -xzf "$dir/payload.tar.gz"
    mkdir -p "$dir/logs"
    quick=${QUICK:-0}
    models=${MODELS:-"simple_fc complex_mlp simple_cnn provided_cnn complex_cnn"}
    main_backends=${MAIN:-wgpu}
    adapter=${ADAPTER:-"DiscreteGpu(0)"}
    icd=${ICD:-$(find_icd)}
    [ -n "$icd" ] || { echo "error: no Vulkan driver manifest (*.json) found under the usual icd.d folders: is the GPU's driver installed? Set ICD to its manifest" >&2; exit 1; }
    [ -f "$icd" ] || { echo "error: ICD=$icd is not a file: name the Vulkan driver's manifest (a .json under an icd.d folder)" >&2; exit 1; }
    export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"
    export CUBECL_WGPU_DEFAULT_DEVICE="$adapter"
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
    local data="$work/data/mnist" job_data="$work/data/mnist"
    local plan=() job=()
    if [ "$quick" = 1 ]; then
        # cubecl's autotune tries every kernel variant once per shape: minutes on a software
        # renderer (CI's setting for lavapipe too). A GPU run keeps cubecl's default.
        export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"
        plan=(--warmup 2 --windows 2 --window-batches 2 --latency-samples 10)
        job_data="$work/data/mnist-slice"
        job=(--limit-train 100 --stages "1@0.01,1@0.001")
    fi

    echo "# $(date -u '+%F %H:%M') UTC; $(head -1 "$dir/BUILD-INFO" 2>/dev/null || echo 'mnist-lab ?')"
    echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads for flex"
    if command -v nvidia-smi >/dev/null; then
        echo "# GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
    fi
    echo "# Vulkan: driver manifest $icd, adapter $adapter, loader $(basename "$(readlink -f "$work/lib/libvulkan.so.1")")${QUICK:+, QUICK=$QUICK}"

    # Throughput: one process per model and backend (peak memory is that run's).
    local lines="$dir/logs/throughput.txt"
    : >"$lines"
    local model backend log
    for model in $models; do
        for backend in flex wgpu; do
            log="$dir/logs/throughput-$model-$backend.log"
            if "$work/bin/gpu_bench" throughput --model "$model" --backend "$backend" --data-dir "$data" "${plan[@]}" >"$log" 2>&1; then
                grep '^model=' "$log" >>"$lines"
            else
                echo "model=$model backend=$backend failed (see $log)" >>"$lines"
                failed=1
                report_failure "$model on $backend" "$log"
            fi
        done
    done

    # The main job, process start to exit.
    local jobs="$dir/logs/main-job.txt" t0 t1 acc
    : >"$jobs"
    for backend in $main_backends; do
        log="$dir/logs/complex_cnn-$backend.log"
        t0=$(date +%s.%N)
        if "$work/bin/gpu_bench" complex-cnn --backend "$backend" --data-dir "$job_data" --out "$work/complex_cnn-$backend" "${job[@]}" >"$log" 2>&1; then
            t1=$(date +%s.%N)
            # Its summary stays; checkpoints and pictures (~40 MB) go with the unpacked bundle.
            cp "$work/complex_cnn-$backend/summary.json" "$dir/logs/complex_cnn-$backend.summary.json"
            acc=$(grep '^stage [0-9]' "$log" | tail -1 | sed 's/^stage [0-9]* ([^)]*): \([0-9.]*\)%.*/\1/')
            echo "$backend $acc $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $(sed -n 's/.*; \([0-9]*\) training images\/s;.*/\1/p' "$log")" >>"$jobs"
        else
            echo "$backend failed" >>"$jobs"
            failed=1
            report_failure "the main job on $backend" "$log"
        fi
    done

    echo
    echo "| model | flex train img/s | wgpu train img/s | wgpu / flex | flex infer img/s | wgpu infer img/s | wgpu / flex | flex batch-1 p50 / p99 ms | wgpu batch-1 p50 / p99 ms |"
    echo "|---|---|---|---|---|---|---|---|---|"
    local f w
    for model in $models; do
        f=$(grep "^model=$model backend=flex " "$lines" || true)
        w=$(grep "^model=$model backend=wgpu " "$lines" || true)
        awk -v m="$model" -v ft="$(field train_img_s "$f")" -v wt="$(field train_img_s "$w")" \
            -v fi="$(field infer_img_s "$f")" -v wi="$(field infer_img_s "$w")" \
            -v fp="$(field latency_p50_ms "$f") / $(field latency_p99_ms "$f")" \
            -v wp="$(field latency_p50_ms "$w") / $(field latency_p99_ms "$w")" '
            function n(x) { return x == "" ? "failed" : sprintf("%.0f", x) }
            function r(a, b) { return (a == "" || b == "" || a == 0) ? "-" : sprintf("**%.3gx**", b / a) }
            BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m, n(ft), n(wt), r(ft, wt), n(fi), n(wi), r(fi, wi), fp, wp }'
    done
    echo
    echo "| main job (examples/complex_cnn) | test accuracy | wall s, process start to exit | training images/s |"
    echo "|---|---|---|---|"
    while read -r backend acc wall rate; do
        if [ "$acc" = failed ]; then
            echo "| $backend | failed | | |"
        else
            printf '| %s | %s%% | %.1f | %s |\n' "$backend" "$acc" "$wall" "$rate"
        fi
    done <"$jobs"
    return $failed
}

case "${1:-}" in
    bundle) shift; bundle "$@" ;;
    run) shift; run "$@" ;;
    *) usage ;;
esac

# Sourced by bench/compare.sh, bench/speedrun.sh and bench/main_job.sh (each one's header lists
# its environment): the repository root as the working directory, the thread count, the data,
# PyTorch's virtualenv, and the release build of one example.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
threads=${THREADS:-2}
data=${MNIST_DIR:-../shared/data/mnist}
py=reference/pytorch/.venv/bin/python
if [ ! -x "$py" ]; then
    echo "error: no PyTorch virtualenv; run reference/pytorch/setup.sh first" >&2
    exit 1
fi

# `build_example NAME [CARGO FLAGS...]`: builds examples/NAME in release (with $CARGO_FLAGS too)
# and prints the binary's path.
build_example() {
    local name=$1
    shift
    # shellcheck disable=SC2086 # word splitting of the flags is meant
    cargo build --release --example "$name" "$@" ${CARGO_FLAGS:-} >&2
    echo "${CARGO_TARGET_DIR:-target}/release/examples/$name"
}

# `describe_build`: this checkout's commit and the build flags, for a results header.
describe_build() {
    echo "mnist-lab $(git describe --always --dirty 2>/dev/null || echo '?')${CARGO_FLAGS:+ ($CARGO_FLAGS)}"
}

#!/usr/bin/env python3
"""Makes the PyTorch interop fixtures under tests/data/pytorch/ (run from the repository root).

  reference/pytorch/.venv/bin/python reference/pytorch/make_fixtures.py [MODEL...]

With model names, only those fixtures are made, and expected.json keeps the others' entries.

For each of the report's five networks and the benchmark table's two (classes and attribute
names from mnist_reference.py; the MLP with its default 800 hidden units, the conv net in
LeNet-5's layout):
seed 0, 20 SGD steps (batch 50, lr 0.01, momentum 0.9) on the committed training slice, so that
weights and BatchNorm running statistics are far from their initial values; then

  <model>.pt           torch.save(model.state_dict(), ...)
  <model>.safetensors  safetensors.torch.save_file(model.state_dict(), ...) (not for complex_cnn
                       and mlp: their 7 and 2.5 MB are committed once, as .pt)
  expected.json        the first 8 test images of the slice (raw pixels and labels) and each
                       model's eval-mode log-probabilities for them, as exact float32 values

The complex MLP is evaluated without the report's dropout-at-test quirk, so its outputs are
deterministic. The files are reproducible on one host with one torch version, but not across
CPUs: PyTorch's kernels round differently (on a Zen 3 with the same torch 2.15.0, the report's
networks came out 2e-7 to 2e-6 apart, and the complex CNN, whose batch norm amplifies it over
20 steps, 0.16). So make only the fixtures you add (the MLP's and the conv net's were made apart
from the others', on 2026-12-07), and leave the committed ones alone.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_reference import MODELS, MEAN, STD, find, read_idx  # noqa: E402

SLICE = "tests/data/mnist-slice"
OUT = "tests/data/pytorch"
STEPS, BATCH, BATCH_EVAL = 20, 50, 8
FIXTURES = ("simple_fc", "complex_mlp", "simple_cnn", "provided_cnn", "complex_cnn", "mlp", "conv_net")
SAFETENSORS = ("simple_fc", "complex_mlp", "simple_cnn", "provided_cnn", "conv_net")


def normalize(pixels):
    return ((torch.from_numpy(pixels.astype("float32")) / 255.0 - MEAN) / STD).unsqueeze(1)


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    train_x = read_idx(find(SLICE, "train-images-idx3-ubyte"))
    train_y = torch.from_numpy(read_idx(find(SLICE, "train-labels-idx1-ubyte")).astype("int64"))
    test_x = read_idx(find(SLICE, "t10k-images-idx3-ubyte"))[:BATCH_EVAL]
    test_y = read_idx(find(SLICE, "t10k-labels-idx1-ubyte"))[:BATCH_EVAL]
    x, batch = normalize(train_x), normalize(test_x)

    only = sys.argv[1:]
    unknown = [name for name in only if name not in FIXTURES]
    if unknown:
        sys.exit(f"no fixture {unknown}: expected some of {', '.join(FIXTURES)}")
    expected = {
        "torch_version": torch.__version__,
        "pixels": test_x.reshape(BATCH_EVAL, -1).tolist(),
        "labels": test_y.tolist(),
        "log_probs": {},
    }
    if only:
        with open(os.path.join(OUT, "expected.json")) as f:
            expected["log_probs"] = json.load(f)["log_probs"]
    for name in only or FIXTURES:
        cls = MODELS[name]
        torch.manual_seed(0)
        model = cls(dropout_at_test=False) if name == "complex_mlp" else cls()
        optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model.train()
        for step in range(STEPS):
            i = step * BATCH
            optim.zero_grad()
            F.nll_loss(model(x[i:i + BATCH]), train_y[i:i + BATCH]).backward()
            optim.step()
        model.eval()
        with torch.no_grad():
            out = model(batch)
        # float32 -> Python float is exact, and json writes the shortest repr that reads back
        # to the same double, hence the same float32.
        expected["log_probs"][name] = out.tolist()
        state = model.state_dict()
        torch.save(state, os.path.join(OUT, f"{name}.pt"))
        if name in SAFETENSORS:
            save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(OUT, f"{name}.safetensors"))
        print(f"{name}: {len(state)} tensors, {sum(v.numel() for v in state.values())} values")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


if __name__ == "__main__":
    main()

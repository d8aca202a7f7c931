#!/usr/bin/env python3
"""PyTorch twin of mnist-lab, for comparison only (the crate never needs Python).

The report's five networks with the report's attribute names, the benchmark table's MLP and conv net, the same data (IDX files, raw or
gzipped), normalization (0.1307, 0.3081), batch sizes (50 train, reshuffled each epoch; 100 test),
SGD momentum 0.9 (dampening 0) and stages as the Rust examples.

  python mnist_reference.py train --model complex_cnn --stages 2@0.01,2@0.001 --data-dir DIR --out DIR
      trains and writes summary.json with the fields of mnist-lab's RunSummary.
  python mnist_reference.py throughput --model complex_cnn --threads 2 --data-dir DIR
      prints `model=... backend=torch threads=... train_img_s=... infer_img_s=... latency_p50_ms=...
      latency_p99_ms=... peak_rss_mb=...`,
      measured as examples/throughput.rs measures (see there).
  python mnist_reference.py speedrun --seed 1 --data-dir DIR
      examples/speedrun.rs's recipe (Preset::speedrun); prints the test accuracy and the seconds
      since the interpreter started.
  python mnist_reference.py evaluate --model complex_cnn --weights FILE --data-dir DIR
      loads a state_dict (.pt) or safetensors file (e.g. `import_pytorch --export`) into the
      report's class, strictly, and prints the report's accuracy line on the 10,000 test images.
"""
import argparse
import gzip
import json
import math
import os
import resource
import statistics
import sys
import time

PROCESS_STARTED = time.time()  # before `import torch`, which takes a while

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081


# --- data -----------------------------------------------------------------------------------

def read_idx(path):
    """An IDX file, raw or gzipped (sniffed by content), as a numpy array."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(data_dir, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    sys.exit(f"error: no {stem}[.gz] in {data_dir}")


def load_split(data_dir, prefix):
    images = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte"))
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - MEAN) / STD
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


# --- the report's networks (attribute names as in its code) ---------------------------------

class SimpleFC(nn.Module):
    def __init__(self):
        super().__init__()
        self.fcl = nn.Linear(784, 10)

    def forward(self, x):
        return F.log_softmax(self.fcl(x.view(-1, 784)), dim=1)


class ComplexMLP(nn.Module):
    """The report's quirk: F.dropout without training=self.training stays on at test time."""

    def __init__(self, dropout_at_test=True):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)
        self.dropout_at_test = dropout_at_test

    def forward(self, x):
        on = self.training or self.dropout_at_test
        x = F.dropout(F.relu(self.fc1(x.view(-1, 784))), 0.2, training=on)
        x = F.dropout(F.relu(self.fc2(x)), 0.2, training=on)
        return F.log_softmax(self.fc3(x), dim=1)


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(320, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return F.log_softmax(self.fc1(x.view(-1, 320)), dim=1)


class ProvidedCNN(nn.Module):
    """PyTorch's classic MNIST example without Dropout2d, as the report's text says."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(x.view(-1, 320)))
        x = F.dropout(x, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


class ComplexCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 7 * 7, 512)
        self.bn4 = nn.BatchNorm1d(512)
        self.fc2 = nn.Linear(512, 256)
        self.bn5 = nn.BatchNorm1d(256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(F.max_pool2d(self.bn2(self.conv2(x)), 2))
        x = F.relu(F.max_pool2d(self.bn3(self.conv3(x)), 2))
        x = x.view(-1, 64 * 7 * 7)
        x = F.dropout(F.relu(self.bn4(self.fc1(x))), 0.5, training=self.training)
        x = F.dropout(F.relu(self.bn5(self.fc2(x))), 0.5, training=self.training)
        return F.log_softmax(self.fc3(x), dim=1)


class SpeedrunCNN(nn.Module):
    """mnist-lab's `Preset::speedrun` network: the provided CNN with 12 then 24 channels,
    kernels 5 and 3, hidden 256, and without dropout; pooling before the ReLU, as there."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, kernel_size=5)
        self.conv2 = nn.Conv2d(12, 24, kernel_size=3)
        self.fc1 = nn.Linear(600, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(x.view(-1, 600)))
        return F.log_softmax(self.fc2(x), dim=1)


class MLP(nn.Module):
    """mnist-lab's `Mlp` (the MNIST benchmark table's networks): ReLU hidden layers of any
    widths, Simard et al.'s 800 by default, in an nn.ModuleList named `layers`."""

    def __init__(self, hidden=(800,), dropout=0.0):
        super().__init__()
        widths = [784, *hidden, 10]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.dropout = dropout

    def forward(self, x):
        x = x.view(-1, 784)
        for layer in self.layers[:-1]:
            x = F.dropout(F.relu(layer(x)), self.dropout, training=self.training)
        return F.log_softmax(self.layers[-1](x), dim=1)


class ConvNet(nn.Module):
    """mnist-lab's `ConvNet`: convolutions (channels, kernel, stride, padding, pool or None),
    each followed by max pooling if any and the activation, then hidden layers; LeNet-5's layout
    by default, in nn.ModuleLists named `convs` and `fcs`."""

    LENET5 = ((6, 5, 1, 2, 2), (16, 5, 1, 0, 2))
    SIMARD = ((5, 5, 2, 1, None), (50, 5, 2, 0, None))

    def __init__(self, convs=LENET5, hidden=(120, 84), tanh=False, side=28, dropout=0.0):
        super().__init__()
        self.pools = [pool for *_, pool in convs]
        self.convs, channels = nn.ModuleList(), 1
        for out, kernel, stride, padding, pool in convs:
            self.convs.append(nn.Conv2d(channels, out, kernel, stride=stride, padding=padding))
            channels, side = out, (side + 2 * padding - kernel) // stride + 1
            side = side // pool if pool else side
        widths = [channels * side * side, *hidden, 10]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.act = torch.tanh if tanh else F.relu
        self.dropout = dropout

    def forward(self, x):
        for conv, pool in zip(self.convs, self.pools):
            x = conv(x)
            x = self.act(F.max_pool2d(x, pool) if pool else x)
        x = x.flatten(1)
        for fc in self.fcs[:-1]:
            x = F.dropout(self.act(fc(x)), self.dropout, training=self.training)
        return F.log_softmax(self.fcs[-1](x), dim=1)


MODELS = {
    "simple_fc": SimpleFC,
    "complex_mlp": ComplexMLP,
    "simple_cnn": SimpleCNN,
    "provided_cnn": ProvidedCNN,
    "complex_cnn": ComplexCNN,
    "speedrun": SpeedrunCNN,
    "mlp": MLP,
    "conv_net": ConvNet,
}


def parse_stages(text):
    stages = []
    for spec in text.split(","):
        epochs, lr = spec.strip().split("@")
        stages.append((int(epochs), float(lr)))
    return stages


# --- training -------------------------------------------------------------------------------

def evaluate(model, x, y, batch=100):
    model.eval()
    correct, loss = 0, 0.0
    confusion = np.zeros((10, 10), dtype=np.int64)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += F.nll_loss(out, y[i:i + batch], reduction="sum").item()
            pred = out.argmax(dim=1)
            correct += (pred == y[i:i + batch]).sum().item()
            for t, p in zip(y[i:i + batch].tolist(), pred.tolist()):
                confusion[t][p] += 1
    return correct, loss / len(x), confusion


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "t10k")
    if args.limit_train:
        x_train, y_train = x_train[:args.limit_train], y_train[:args.limit_train]
    model = MODELS[args.model]()
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    stages, results, images, train_seconds = parse_stages(args.stages), [], 0, 0.0
    started = time.time()
    generator = torch.Generator().manual_seed(args.seed)
    epoch = 0
    for epochs, lr in stages:
        for group in optim.param_groups:
            group["lr"] = lr
        recent = []
        for _ in range(epochs):
            epoch += 1
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            t0 = time.time()
            for b, i in enumerate(range(0, len(order), args.batch_size)):
                idx = order[i:i + args.batch_size]
                optim.zero_grad()
                loss = F.nll_loss(model(x_train[idx]), y_train[idx])
                loss.backward()
                optim.step()
                recent = (recent + [loss.item()])[-100:]
                seen = min(i + args.batch_size, len(order))
                if (b + 1) % 100 == 0:
                    print(f"Train Epoch: {epoch} [{seen}/{len(order)} ({100 * seen // len(order)}%)]  Loss: {loss.item():.6f}")
            train_seconds += time.time() - t0
            images += len(order)
        correct, test_loss, confusion = evaluate(model, x_test, y_test)
        total = len(x_test)
        print(f"Accuracy of the network on the test images: {100 * correct / total:.3f}%; correct: {correct} out of {total}")
        per_class = [100.0 * confusion[c][c] / max(1, confusion[c].sum()) for c in range(10)]
        results.append({
            "epochs": epochs, "learning_rate": lr, "test_accuracy": 100.0 * correct / total,
            "correct": correct, "total": total, "final_loss": sum(recent) / max(1, len(recent)),
            "test_loss": test_loss, "per_class_accuracy": per_class, "confusion": confusion.tolist(),
        })
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary = {
        "model": args.model, "backend": "torch", "params": params, "stages": results,
        "train_images_per_sec": images / train_seconds, "wall_seconds": time.time() - started,
        "seed": args.seed, "train_images": len(x_train), "test_images": len(x_test),
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if args.save_state_dict:
        torch.save(model.state_dict(), args.save_state_dict)


# --- the speedrun -----------------------------------------------------------------------------

def one_cycle(peak, step, steps, warmup=0.25, initial_div=10.0, final_div=100.0):
    """mnist_lab::train::LrSchedule::OneCycle::learning_rate, line for line: linear from
    peak/initial_div up to peak over round(warmup * steps) steps, then linear down to
    peak/final_div at the last step."""
    last = max(steps - 1, 0)
    top = min(max(int(math.floor(warmup * steps + 0.5)), 1), max(last, 1))
    low, end = peak / initial_div, peak / final_div
    if step < top:
        return low + (peak - low) * step / top
    if last > top:
        return peak + (end - peak) * (min(step, last) - top) / (last - top)
    return peak


def speedrun(args):
    """`cargo run --release --example speedrun`'s recipe: SpeedrunCNN, Adam (betas 0.7, 0.9,
    eps 1e-5 as burn's), batches of 128 reshuffled each epoch, one learning-rate cycle per step;
    prints the test accuracy and the seconds since the interpreter started."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "t10k")
    model = SpeedrunCNN()
    optim = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.7, 0.9), eps=1e-5)
    generator = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    steps = args.epochs * steps_per_epoch
    t0 = time.time()
    step = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), args.batch_size):
            for group in optim.param_groups:
                group["lr"] = one_cycle(args.lr, step, steps)
            idx = order[i:i + args.batch_size]
            optim.zero_grad()
            F.nll_loss(model(x_train[idx]), y_train[idx]).backward()
            optim.step()
            step += 1
    train_seconds = time.time() - t0
    correct, _, _ = evaluate(model, x_test, y_test)
    since_start = time.time() - PROCESS_STARTED
    print(f"speedrun: {100 * correct / len(x_test):.2f}% ({correct}/{len(x_test)}) on the test images, "
          f"{since_start:.2f} s since the interpreter started ({train_seconds:.2f} s training, "
          f"{len(x_train) * args.epochs / train_seconds:.0f} training images/s), torch {torch.__version__}")


# --- evaluate saved weights -----------------------------------------------------------------

def load_weights(model, path):
    """A state_dict from torch.save (.pt/.pth) or a safetensors file (mnist-lab's export), into
    the report's class, strictly: a missing or extra key is an error."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)


def evaluate_weights(args):
    torch.set_num_threads(args.threads)
    x_test, y_test = load_split(args.data_dir, "t10k")
    model = MODELS[args.model]()
    load_weights(model, args.weights)
    correct, _, _ = evaluate(model, x_test, y_test)
    total = len(x_test)
    print(f"Accuracy of the network on the test images: {100 * correct / total:.3f}%; correct: {correct} out of {total}")


# --- throughput -----------------------------------------------------------------------------

def throughput(args):
    """Training img/s at batch 50 (median of windows after warm-up) and inference img/s at
    batch 100, on real images; the latency of one image alone (p50, p99 of single forward
    passes after 20 untimed); peak RSS of the process."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x, y = load_split(args.data_dir, "train")
    model = MODELS[args.model]()
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batch = 50

    def train_batches(n, start):
        for b in range(n):
            i = ((start + b) * batch) % (len(x) - batch)
            optim.zero_grad()
            F.nll_loss(model(x[i:i + batch]), y[i:i + batch]).backward()
            optim.step()

    model.train()
    train_batches(args.warmup, 0)
    rates = []
    for w in range(args.windows):
        t0 = time.perf_counter()
        train_batches(args.window_batches, args.warmup + w * args.window_batches)
        rates.append(args.window_batches * batch / (time.perf_counter() - t0))
    model.eval()
    infer = []
    with torch.no_grad():
        for w in range(args.windows + 1):
            t0 = time.perf_counter()
            for b in range(args.window_batches):
                i = (b * 100) % (len(x) - 100)
                model(x[i:i + 100])
            if w > 0:  # the first window warms up
                infer.append(args.window_batches * 100 / (time.perf_counter() - t0))
        latencies = []
        for i in range(20 + args.latency_samples):
            t0 = time.perf_counter()
            model(x[i % 20:i % 20 + 1])
            if i >= 20:
                latencies.append((time.perf_counter() - t0) * 1e3)
    latencies.sort()
    # Nearest rank, as mnist_lab::experiment::throughput::percentile.
    rank = lambda q: latencies[max(1, math.ceil(q * len(latencies))) - 1]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model={args.model} backend=torch threads={torch.get_num_threads()} "
          f"train_img_s={statistics.median(rates):.1f} infer_img_s={statistics.median(infer):.1f} "
          f"latency_p50_ms={rank(0.5):.3f} latency_p99_ms={rank(0.99):.3f} peak_rss_mb={peak_mb:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "throughput", "evaluate", "speedrun"):
        p = sub.add_parser(name)
        p.add_argument("--model", choices=sorted(MODELS), required=name != "speedrun")
        p.add_argument("--data-dir", default=os.environ.get("MNIST_DIR", "../shared/data/mnist"))
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--threads", type=int, default=2)
    t = sub.choices["train"]
    t.add_argument("--stages", required=True)
    t.add_argument("--batch-size", type=int, default=50)
    t.add_argument("--limit-train", type=int)
    t.add_argument("--out", default="runs/pytorch")
    t.add_argument("--save-state-dict", help="also torch.save(model.state_dict(), PATH)")
    h = sub.choices["throughput"]
    h.add_argument("--warmup", type=int, default=10, help="batches before timing")
    h.add_argument("--windows", type=int, default=5)
    h.add_argument("--window-batches", type=int, default=20)
    h.add_argument("--latency-samples", type=int, default=300, help="single images timed one by one")
    r = sub.choices["speedrun"]
    r.set_defaults(model="speedrun")
    r.add_argument("--epochs", type=int, default=2)
    r.add_argument("--lr", type=float, default=0.01, help="the one cycle's peak")
    r.add_argument("--batch-size", type=int, default=128)
    e = sub.choices["evaluate"]
    e.add_argument("--weights", required=True, help="a state_dict (.pt/.pth) or a .safetensors file")
    args = parser.parse_args()
    {"train": train, "throughput": throughput, "evaluate": evaluate_weights,
     "speedrun": speedrun}[args.command](args)


if __name__ == "__main__":
    main()

"""Cuts the committed test slice from the official MNIST files.

Usage: python3 tests/data/make_slice.py SRC DST [TRAIN TEST]
  python3 tests/data/make_slice.py ../shared/data/mnist tests/data/mnist-slice
  python3 tests/data/make_slice.py /usr/share/datasets/fashion-mnist tests/data/fashion-mnist-slice 500 200
Keeps the first TRAIN (default 2,000) training and the first TEST (default 1,000) test images,
gzipped IDX, same file names. Works for any set in MNIST's format (Fashion-MNIST too).
"""
import gzip
import struct
import sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
n_train, n_test = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (2000, 1000)
dst.mkdir(parents=True, exist_ok=True)
for split, n in (("train", n_train), ("t10k", n_test)):
    for kind, rank, item in (("images-idx3-ubyte", 3, 784), ("labels-idx1-ubyte", 1, 1)):
        name = f"{split}-{kind}.gz"
        raw = gzip.decompress((src / name).read_bytes())
        header = 4 + 4 * rank
        dims = list(struct.unpack(f">{rank}I", raw[4:header]))
        dims[0] = n
        out = raw[:4] + struct.pack(f">{rank}I", *dims) + raw[header : header + n * item]
        # mtime=0 keeps the bytes reproducible
        (dst / name).write_bytes(gzip.compress(out, compresslevel=9, mtime=0))

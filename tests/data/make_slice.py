"""Cuts the committed test slice from the official MNIST files.

Usage: python3 tests/data/make_slice.py ../shared/data/mnist tests/data/mnist-slice
Keeps the first 2,000 training and the first 1,000 test images, gzipped IDX, same file names.
"""
import gzip
import struct
import sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for split, n in (("train", 2000), ("t10k", 1000)):
    for kind, rank, item in (("images-idx3-ubyte", 3, 784), ("labels-idx1-ubyte", 1, 1)):
        name = f"{split}-{kind}.gz"
        raw = gzip.decompress((src / name).read_bytes())
        header = 4 + 4 * rank
        dims = list(struct.unpack(f">{rank}I", raw[4:header]))
        dims[0] = n
        out = raw[:4] + struct.pack(f">{rank}I", *dims) + raw[header : header + n * item]
        # mtime=0 keeps the bytes reproducible
        (dst / name).write_bytes(gzip.compress(out, compresslevel=9, mtime=0))

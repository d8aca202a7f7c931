"""Writes a few real test digits of the committed slice as PNG files in the shapes users send.

Usage: python3 tests/data/make_digits.py tests/data/mnist-slice tests/data/digits
Each file is named `<label>-<rendering>.png`: test digit 0 as it is (28x28, light on black),
test digit 1 dark on a white 200x150 canvas at 3x, test digit 2 inverted at 4x off-centre.
"""
import gzip
import struct
import sys
import zlib
from pathlib import Path


def png(path, width, height, rows):
    """A grayscale 8-bit PNG of `rows` (lists of 0..255)."""
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
images = gzip.decompress((src / "t10k-images-idx3-ubyte.gz").read_bytes())[16:]
labels = gzip.decompress((src / "t10k-labels-idx1-ubyte.gz").read_bytes())[8:]
digit = lambda i: [list(images[i * 784 + r * 28:i * 784 + (r + 1) * 28]) for r in range(28)]

d = digit(0)
png(dst / f"{labels[0]}-as-is.png", 28, 28, d)

d, s = digit(1), 3
canvas = [[255] * 200 for _ in range(150)]
for y in range(28 * s):
    for x in range(28 * s):
        canvas[30 + y][110 + x] = 255 - d[y // s][x // s]
png(dst / f"{labels[1]}-dark-on-a-canvas.png", 200, 150, canvas)

d, s = digit(2), 4
canvas = [[255] * 160 for _ in range(130)]
for y in range(28 * s):
    for x in range(28 * s):
        canvas[10 + y][40 + x] = 255 - d[y // s][x // s]
png(dst / f"{labels[2]}-inverted-4x-off-centre.png", 160, 130, canvas)

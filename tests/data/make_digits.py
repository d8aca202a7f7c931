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



def dark_on_white(d, scale, width, height, left, top):
    """Digit `d` inverted and enlarged `scale` times (nearest), at (left, top) on a white canvas."""
    canvas = [[255] * width for _ in range(height)]
    for y in range(28 * scale):
        for x in range(28 * scale):
            canvas[top + y][left + x] = 255 - d[y // scale][x // scale]
    return canvas


png(dst / f"{labels[0]}-as-is.png", 28, 28, digit(0))
png(dst / f"{labels[1]}-dark-on-a-canvas.png", 200, 150, dark_on_white(digit(1), 3, 200, 150, 110, 30))
png(dst / f"{labels[2]}-inverted-4x-off-centre.png", 160, 130, dark_on_white(digit(2), 4, 160, 130, 40, 10))

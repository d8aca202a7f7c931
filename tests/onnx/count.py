"""How many test images an exported network classifies right in ONNX Runtime.

python tests/onnx/count.py MODEL.onnx MNIST_DIR   (the official t10k files, gzipped IDX)
Feeds the images as the model's metadata says; prints `correct/total (accuracy%)`.
"""

import gzip
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def idx(path, header):
    return np.frombuffer(gzip.open(path).read(), np.uint8, offset=header)


def main(model_path, data_dir):
    meta = {p.key: p.value for p in onnx.load(model_path).metadata_props}
    mean = np.array(json.loads(meta["mnist_lab.mean"]), np.float32).reshape(1, -1, 1, 1)
    std = np.array(json.loads(meta["mnist_lab.std"]), np.float32).reshape(1, -1, 1, 1)
    labels = idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz", 8)
    pixels = idx(f"{data_dir}/t10k-images-idx3-ubyte.gz", 16).reshape(len(labels), 1, 28, 28)
    images = (pixels.astype(np.float32) / 255.0 - mean) / std
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    classes = np.concatenate(
        [session.run(None, {"images": images[i : i + 1000]})[0].argmax(1) for i in range(0, len(images), 1000)]
    )
    correct = int((classes == labels).sum())
    print(f"{correct}/{len(labels)} ({100 * correct / len(labels):.2f}%)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

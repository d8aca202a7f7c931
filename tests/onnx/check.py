"""ONNX Runtime on the networks mnist-lab exported (tests/onnx/run.sh sets it up and runs it).

For each NAME.onnx in DIR: onnx's full checker passes; the input is fed as the model's own
metadata says (pixel / 255 - mnist_lab.mean) / mnist_lab.std, from the committed test images
read here from their IDX file; ONNX Runtime's log-probabilities of all 1,000 images in one
batch are within 1e-4 of ours (NAME.logprobs) and give the same class for every image; a
batch of 7 gives the same rows (the batch axis is symbolic). Exit status 1 on any failure.
"""

import gzip
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-4


def idx_images(path):
    data = gzip.open(path).read()
    count, rows, cols = (int.from_bytes(data[4 * i : 4 * i + 4], "big") for i in (1, 2, 3))
    return np.frombuffer(data, np.uint8, offset=16).reshape(count, 1, rows, cols)


def main(out_dir, slice_dir):
    pixels = idx_images(slice_dir / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    models = sorted(out_dir.glob("*.onnx"))
    if not models:
        print(f"no .onnx files in {out_dir}")
        return 1
    failed = 0
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    print(f"{'network':<14} {'images':>6} {'max |diff|':>11} {'same class':>10} {'batch 7':>8}")
    for path in models:
        name = path.stem
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        meta = {p.key: p.value for p in model.metadata_props}
        mean = np.array(json.loads(meta["mnist_lab.mean"]), np.float32).reshape(1, -1, 1, 1)
        std = np.array(json.loads(meta["mnist_lab.std"]), np.float32).reshape(1, -1, 1, 1)
        classes = json.loads(meta["mnist_lab.class_names"])
        images = (pixels - mean) / std
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        [inp], [out] = session.get_inputs(), session.get_outputs()
        assert (inp.name, out.name) == ("images", "log_probs"), (inp.name, out.name)
        assert inp.shape == ["N", 1, 28, 28] and out.shape == ["N", len(classes)], (inp.shape, out.shape)
        theirs = session.run(None, {"images": images})[0]
        ours = np.fromfile(out_dir / f"{name}.logprobs", "<f4").reshape(theirs.shape)
        diff = float(np.abs(theirs - ours).max())
        same = int((theirs.argmax(1) == ours.argmax(1)).sum())
        small = session.run(None, {"images": images[:7]})[0]
        batch7 = float(np.abs(small - theirs[:7]).max())
        ok = diff <= TOLERANCE and same == len(images) and batch7 <= TOLERANCE
        failed += not ok
        print(f"{name:<14} {len(images):>6} {diff:>11.2e} {same:>10} {batch7:>8.1e}" + ("" if ok else "  FAILED"))
    print(f"{len(models) - failed} of {len(models)} networks agree with ONNX Runtime")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))

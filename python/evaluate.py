"""Evaluates a Gossamer run's model on the Fashion-MNIST test set with PyTorch alone.

    /usr/bin/python3 python/evaluate.py RUN_DIR [--weights FILE] [--data DIR] [--limit N]

Builds the run's architecture from RUN_DIR/config.toml ([model] name, hidden, width) with
gossamer_models.py, loads RUN_DIR/model.pt (the deployed model a run writes at its end) or
--weights FILE (a Gossamer checkpoint, whose ["model"] is taken, or any state_dict) with
load_state_dict(strict=True), reads the gzipped IDX test files, normalises them as Gossamer does
((pixel / 255 - 0.2860) / 0.3530, float32), and prints

    accuracy 0.8731 (8731/10000 test images), loss 0.3612

The first data.test_limit images are used when the run's config sets it (as Gossamer's evaluation
does), unless --limit says otherwise. When RUN_DIR/model_masks.pt is there and the weights are the
run's model.pt, every weight off its mask is checked to be zero and the sparsity is printed.
"""

import argparse
import gzip
import os
import sys
import tomllib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gossamer_models  # noqa: E402

# Mean and standard deviation of the 60k training images: src/data/fashion_mnist.cpp.
MEAN = 0.2860
STD = 0.3530


def read_idx(path):
    """A gzipped IDX file (unsigned bytes) as a numpy array of its dimensions."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_test_set(data_dir, limit):
    """(images [n, 1, 28, 28] float32 normalised, labels [n] int64), the first `limit` if limit > 0."""
    images = torch.from_numpy(read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")).copy())
    labels = torch.from_numpy(read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")).copy())
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    x = images.to(torch.float32).div(255.0).sub(MEAN).div(STD).unsqueeze(1).contiguous()
    return x, labels.to(torch.int64)


def evaluate(model, x, y, batch_size):
    """(accuracy, mean cross-entropy) of `model` in eval mode, batch by batch as Gossamer evaluates."""
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(x[start:start + batch_size])
            target = y[start:start + batch_size]
            loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
            correct += int((logits.argmax(1) == target).sum())
    return correct, loss_sum / max(1, len(y))


def check_masks(model, masks_path):
    """Checks that every weight off its mask is zero; returns the pruned layers' sparsity."""
    masks = torch.load(masks_path)
    params = dict(model.named_parameters())
    pruned, total = 0, 0
    for name, mask in masks.items():
        kept = params[name].detach()[mask]
        off = params[name].detach()[~mask]
        if off.numel() and off.abs().max().item() != 0:
            raise SystemExit(f"{name}: weights off the mask in {masks_path} are not zero")
        pruned += off.numel()
        total += off.numel() + kept.numel()
    return pruned / max(1, total), len(masks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run's output.dir (holds config.toml and model.pt)")
    parser.add_argument("--weights", help="weights to load instead of RUN_DIR/model.pt: a checkpoint or a state_dict")
    parser.add_argument("--data", help="Fashion-MNIST folder (default: the run's data.path)")
    parser.add_argument("--limit", type=int, help="evaluate the first N test images (default: the run's data.test_limit)")
    args = parser.parse_args()

    with open(os.path.join(args.run_dir, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    m = cfg.get("model", {})
    name = m.get("name", "lenet5")
    sizes = {k: m[k] for k in gossamer_models.TRANSFORMER_KEYS if k in m} if name in ("vit", "ceit") else {}
    model = gossamer_models.build(name, hidden=m.get("hidden", (300, 100)), width=m.get("width", 16), **sizes)
    weights = args.weights or os.path.join(args.run_dir, "model.pt")
    model.load_state_dict(gossamer_models.state_dict_of(torch.load(weights)))

    masks_path = os.path.join(args.run_dir, "model_masks.pt")
    if args.weights is None and os.path.exists(masks_path):
        sparsity, layers = check_masks(model, masks_path)
        print(f"sparsity {sparsity:.4f} over {layers} pruned layers ({masks_path})")

    data = cfg.get("data", {})
    limit = args.limit if args.limit is not None else int(data.get("test_limit", 0))
    x, y = load_test_set(args.data or data.get("path", "/usr/share/datasets/fashion-mnist"), limit)
    batch = int(cfg.get("train", {}).get("eval_batch_size", 1000))
    correct, loss = evaluate(model, x, y, batch)
    print(f"weights {weights}")
    print(f"accuracy {correct / len(y):.4f} ({correct}/{len(y)} test images), loss {loss:.4f}")


if __name__ == "__main__":
    main()

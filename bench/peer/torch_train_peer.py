#!/usr/bin/python3
"""Peer baseline for bench/train_throughput: the same model, batch, optimizer and threads as
`gossamer train`, written as the usual PyTorch loop (Debian's python3-torch 1.13.1). LeNet-5 trains
with SGD (momentum 0.9, Nesterov, weight decay 5e-4) as examples/fashion_lenet.toml; vit and ceit
with AdamW (lr 1e-3, weight decay 0.05) as examples/fashion_vit.toml and fashion_ceit.toml.

Run with /usr/bin/python3 (the python3 first on PATH may lack torch). Prints one JSON line.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The same modules that Python loads a Gossamer run into (python/gossamer_models.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import gossamer_models  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, _, ndim = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--warmup-steps", type=int, default=20)
    ap.add_argument("--model", default="lenet5", choices=["lenet5", "vit", "ceit"])
    ap.add_argument("--lr", type=float, help="default: 0.05 for lenet5 (SGD), 0.001 for vit and ceit (AdamW)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    images = read_idx(f"{args.data}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{args.data}/train-labels-idx1-ubyte.gz")
    x_all = torch.from_numpy(images.astype(np.float32) / 255.0).sub_(0.2860).div_(0.3530).unsqueeze(1)
    y_all = torch.from_numpy(labels.astype(np.int64))

    model = gossamer_models.build(args.model)
    if args.model == "lenet5":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr or 0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr or 0.001, weight_decay=0.05)
    n = x_all.shape[0]
    perm = torch.randperm(n)

    def step(k):
        idx = perm[(k * args.batch_size) % (n - args.batch_size):][: args.batch_size]
        xb, yb = x_all.index_select(0, idx), y_all.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for k in range(args.warmup_steps):
        step(k)
    t0 = time.perf_counter()
    for k in range(args.steps):
        step(args.warmup_steps + k)
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "model": args.model, "threads": args.threads, "batch_size": args.batch_size,
                      "steps": args.steps, "seconds": dt, "samples_per_s": args.steps * args.batch_size / dt}))


if __name__ == "__main__":
    main()

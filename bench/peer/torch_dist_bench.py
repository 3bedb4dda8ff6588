#!/usr/bin/python3
"""torch.distributed (Gloo) reference for bench/micro/comm_collectives.cpp.

allreduce and a ring neighbour average (isend/irecv to both neighbours, then (l + x + r) / 3),
4 bytes and 64 MiB, 2/4/8 processes spawned with torch.multiprocessing on one machine over
127.0.0.1 (Debian's python3-torch: run with /usr/bin/python3). Prints one line per case with the
time per call on rank 0 and the payload bandwidth, and can write CSV.

    /usr/bin/python3 bench/peer/torch_dist_bench.py [--workers 2 4 8] [--csv out.csv]
"""
import argparse
import csv
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SMALL = 4
LARGE = 64 << 20
WARMUP = 2


def iterations(nbytes, n):
    # The same fixed counts as the C++ benchmark.
    if nbytes == SMALL:
        return 300 if n == 8 else 1000
    return 3 if n == 8 else 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def neighbor(x, left, right, mixed, rank, n, tag):
    l, r = (rank - 1) % n, (rank + 1) % n
    reqs = [dist.irecv(left, l, tag=tag)]
    if r != l:
        reqs.append(dist.irecv(right, r, tag=tag))
    reqs.append(dist.isend(x, r, tag=tag))
    if r != l:
        reqs.append(dist.isend(x, l, tag=tag))
    for q in reqs:
        q.wait()
    if r != l:
        torch.add(x, left, out=mixed).add_(right).div_(3)
    else:
        torch.add(x, left, out=mixed).div_(2)
    x.copy_(mixed)


def worker(rank, n, port, cases, queue):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=n)
    for op, nbytes in cases:
        numel = max(1, nbytes // 4)
        x = torch.ones(numel)
        left, right, mixed = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        iters = iterations(nbytes, n)
        step = 0

        def call():
            nonlocal step
            if op == "allreduce":
                dist.all_reduce(x)
            else:
                neighbor(x, left, right, mixed, rank, n, step % 1000000)
                step += 1

        for _ in range(WARMUP):
            call()
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            call()
        elapsed = time.perf_counter() - t0
        dist.barrier()
        if rank == 0:
            queue.put((op, n, nbytes, elapsed / iters))
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--sizes", type=int, nargs="+", default=[SMALL, LARGE])
    ap.add_argument("--ops", nargs="+", default=["allreduce", "neighbor_allreduce_ring"])
    ap.add_argument("--csv", help="also write the results here")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    print(f"torch {torch.__version__}, Gloo, processes on one machine over 127.0.0.1", flush=True)
    for n in args.workers:
        cases = [(op, b) for op in args.ops for b in args.sizes]
        queue = ctx.Queue()
        port = free_port()
        procs = [ctx.Process(target=worker, args=(r, n, port, cases, queue)) for r in range(n)]
        for p in procs:
            p.start()
        for _ in cases:
            op, n_, nbytes, sec = queue.get(timeout=600)
            gbs = nbytes / sec / 1e9
            rows.append({"op": op, "backend": "torch.distributed_gloo", "workers": n_, "bytes": nbytes,
                         "us_per_call": sec * 1e6, "GB_per_s": gbs})
            print(f"{op:24s} torch.distributed_gloo workers:{n_} bytes:{nbytes:>9d}  "
                  f"{sec * 1e6:12.1f} us/call  {gbs:8.3f} GB/s", flush=True)
        for p in procs:
            p.join(timeout=120)
            if p.exitcode != 0:
                print(f"worker exited with {p.exitcode}", file=sys.stderr)
                return 1
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

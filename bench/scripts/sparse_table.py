#!/usr/bin/env python3
"""Markdown table from bench_sparse_linear's or bench_sparse_conv's JSON
(--benchmark_out=FILE --benchmark_out_format=json).

One line per (op, shape, batch, pattern): dense best ms, ours best ms, speedup over dense,
fraction of the ideal 1/(1-s), and the same for LibTorch's CSR when it was measured. Several JSON
files may be given (repeated runs): the best time of each benchmark over all files is used.
--shape-label TEXT names the shape column (default "shape (out x in)").
"""
import json
import sys


def main(args):
    label = "shape (out x in)"
    if args[:1] == ["--shape-label"]:
        label, args = args[1], args[2:]
    paths = args
    best = {}
    sparsity = {}
    for path in paths:
        for b in json.load(open(path))["benchmarks"]:
            if b.get("error_occurred"):
                continue
            name = b["name"].split("/min_time")[0].replace("/manual_time", "")
            op, shape, batch, pattern, impl = name.split("/")[:5]
            key = (op, shape, batch, pattern, impl)
            ms = b.get("best_ms", b["real_time"])
            best[key] = min(ms, best.get(key, float("inf")))
            sparsity[pattern] = b.get("sparsity", 0.0)
    rows = sorted({k[:4] for k in best if k[3] != "dense"},
                  key=lambda k: (k[1], k[2], ["fwd", "bwd", "step"].index(k[0]), k[3]))
    torch_cols = any(k[4] == "torch_csr" for k in best)
    head = f"| op | {label} | batch | pattern | dense ms | ours ms | speedup | of ideal |"
    rule = "|---|---|---|---|---|---|---|---|"
    if torch_cols:
        head += " torch CSR ms | torch CSR speedup |"
        rule += "---|---|"
    print(head)
    print(rule)
    for op, shape, batch, pattern in rows:
        d = best.get((op, shape, batch, "dense", "dense"))
        o = best.get((op, shape, batch, pattern, "ours"))
        t = best.get((op, shape, batch, pattern, "torch_csr"))
        s = sparsity.get(pattern, 0.0)
        ideal = 1.0 / (1.0 - s) if s < 1 else float("inf")
        fmt = lambda v: f"{v:.3f}" if v is not None else "-"
        sp = d / o if d and o else None
        st = d / t if d and t else None
        line = (f"| {op} | {shape} | {batch[1:]} | {pattern} | {fmt(d)} | {fmt(o)} | "
                f"{(f'{sp:.2f}x' if sp else '-')} | {(f'{sp / ideal:.0%}' if sp else '-')} |")
        if torch_cols:
            line += f" {fmt(t)} | {(f'{st:.2f}x' if st else '-')} |"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])

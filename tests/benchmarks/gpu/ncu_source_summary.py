#!/usr/bin/env python3
"""Summarise an Nsight Compute source-view export (run_kernel_session.sh's ncu-MODEL-KERNEL-source.csv) by the
kernel's own source line.

The export lists, per source file, each CUDA line and its SASS instructions with their counters. Inlined helpers
(nvcc's headers, device_common.cuh, mma_tile.cuh) report their own lines, so every instruction is also credited to
the nearest preceding line of the kernel's file in address order (its "context"), which is the call site. Prints
the totals and the lines with the most warp-stall samples and the most excess shared-memory wavefronts (bank
conflicts), or, with --line N, every instruction of that context.
   ncu_source_summary.py FILE.csv [--kernel-file ssd_chunked.cu] [--top 25] [--line N]
"""
import argparse
import collections
import csv

KEYS = ["Warp Stall Sampling (All Samples)", "L1 Wavefronts Shared Excessive", "L1 Wavefronts Shared",
        "Instructions Executed", "L2 Theoretical Sectors Global Excessive"]


def num(x):
    try:
        return float(x)
    except ValueError:
        return 0.0


def read(path):
    rows, header, src_file, src_line = [], None, None, None
    with open(path, newline="") as f:
        for r in csv.reader(f):
            if not r:
                continue
            if r[0] == "File Path":
                src_file = r[1].split("/")[-1]
            elif r[0] == "Line No":
                header = r
            elif r[0] == "Function Name":
                continue
            elif r[0] != "":
                src_line = r[0]
            elif header and r[2] not in ("...", "-"):
                d = dict(zip(header[2:], r[2:]))
                d["where"] = f"{src_file}:{src_line}"
                d["file"] = src_file
                rows.append(d)
    rows.sort(key=lambda d: int(d["Address"], 16))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--kernel-file", help="the kernel's source file (default: the file with the most instructions)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--line", help="list the instructions of this context line")
    a = ap.parse_args()
    rows = read(a.csv)
    kfile = a.kernel_file or collections.Counter(d["file"] for d in rows).most_common(1)[0][0]
    ctx = "?"
    for d in rows:
        if d["file"] == kfile:
            ctx = d["where"]
        d["ctx"] = ctx
    tot = {k: sum(num(d[k]) for d in rows) for k in KEYS}
    print("totals: " + ", ".join(f"{k} {int(v)}" for k, v in tot.items()))
    if a.line:
        for d in rows:
            if d["ctx"] == f"{kfile}:{a.line}":
                print(d["Address"][-5:], f"{d['where']:24s}", f"{d['Source'][:56]:56s}", "shared excess",
                      d[KEYS[1]], "/", d[KEYS[2]], "stall samples", d[KEYS[0]])
        return
    agg = collections.defaultdict(collections.Counter)
    for d in rows:
        g = d["ctx"] if d["where"] == d["ctx"] else f"{d['ctx']} (in {d['where']})"
        for k in KEYS:
            agg[g][k] += num(d[k])
    for k in (KEYS[0], KEYS[1], KEYS[4]):
        print(f"== top by {k} (share of the kernel's total)")
        for g, c in sorted(agg.items(), key=lambda kv: -kv[1][k])[:a.top]:
            if c[k] == 0:
                break
            print(f"{100 * c[k] / max(1, tot[k]):6.1f}%  {g:56s} shared wavefronts {int(c[KEYS[1]])} excess of "
                  f"{int(c[KEYS[2]])}, instructions {int(c[KEYS[3]])}")


if __name__ == "__main__":
    main()

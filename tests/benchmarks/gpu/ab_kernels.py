#!/usr/bin/env python3
"""Same-run A/B of the CUDA kernels' environment switches on the benchmark models.

For every model folder in --workdir (bench_vs_transformers.py --workdir DIR --keep-models leaves them there, with
their token windows as NAME-windows.safetensors), each variant (a label and environment settings, e.g.
"scan1-generic:SHEDDER_SCAN1_GENERIC=1") runs `shedder-cli bench` (prefill tokens/s of --windows x --seq-len
tokens) in --rounds interleaved rounds — the variants' order rotates from round to round, so that clock and
thermal drift fall on all of them alike — and `shedder-cli eval` once (perplexity to every digit: a switch that
only changes the schedule must leave it unchanged, one that changes rounding shows by how much). Prints the
median tokens/s of each variant with its ratio to the first variant, and writes --json. A variant's setting CLI=PATH
runs that shedder-cli binary instead of --cli (another build of the tree: e.g. the kernels before a change, against
the change's build in the same run).
"""
import argparse
import json
import os
import statistics
import subprocess


def run_cli(cli, args, env):
    env = dict(env)
    cli = env.pop("CLI", cli)
    p = subprocess.run([cli] + args, capture_output=True, text=True, env={**os.environ, **env})
    if p.returncode != 0:
        raise RuntimeError(f"shedder-cli {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def parse_variants(text):
    out = []
    for item in text.split(";"):
        label, _, settings = item.partition(":")
        env = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
        out.append((label.strip(), env))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--variants", required=True, help='"base:;label:VAR=1,VAR2=0;..." (the first is the baseline)')
    ap.add_argument("--models", default="", help="comma-separated model folder names (default: all)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    variants = parse_variants(a.variants)
    report = {"variants": [{"label": l, "env": e} for l, e in variants], "rounds": a.rounds, "models": []}
    models = sorted(d for d in os.listdir(a.workdir) if os.path.isfile(os.path.join(a.workdir, d, "config.json")))
    if a.models:
        models = [m for m in models if m in a.models.split(",")]
    for name in models:
        mdir = os.path.join(a.workdir, name)
        tokens = os.path.join(a.workdir, name + "-windows.safetensors")
        bench = ["bench", mdir, "--device", "cuda", "--batch", str(a.windows), "--length", str(a.seq_len),
                 "--repeats", "3", "--warmup", "1", "--decode-tokens", "4", "--prompt", "4", "--json"]
        tps = {label: [] for label, _ in variants}
        for r in range(a.rounds):
            k = r % len(variants)
            for label, env in variants[k:] + variants[:k]:
                be = run_cli(a.cli, bench, env)
                be = be[0] if isinstance(be, list) else be.get("base", be)
                tps[label].append(be["prefill_tokens_per_s"])
        rows = []
        for label, env in variants:
            ev = {}
            if os.path.isfile(tokens):
                ev = run_cli(a.cli, ["eval", mdir, "--tokens", tokens, "--seq-len", str(a.seq_len), "--batch",
                                     str(a.windows), "--warmup", "1", "--device", "cuda", "--json"], env)
            rows.append({"label": label, "prefill_tokens_per_s": tps[label], "median": statistics.median(tps[label]),
                         "eval_s": ev.get("seconds"), "perplexity": ev.get("perplexity")})
        base = rows[0]
        for row in rows:
            row["ratio"] = row["median"] / base["median"]
            same = row["perplexity"] == base["perplexity"]
            rel = (abs(row["perplexity"] - base["perplexity"]) / base["perplexity"]) if row["perplexity"] else float("nan")
            print(f"{name:12s} {row['label']:16s} prefill {row['median']:10.0f} tok/s  x{row['ratio']:.3f}  "
                  f"eval {row['eval_s'] or float('nan'):.3f} s  ppl {row['perplexity']!r} "
                  f"({'same' if same else f'rel diff {rel:.2e}'})", flush=True)
        report["models"].append({"model": name, "variants": rows})
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(report, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()

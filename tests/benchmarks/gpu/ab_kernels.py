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
the change's build in the same run). --profile-scopes SCOPE,... adds, in every round, one more bench of each variant
under SHEDDER_PROFILE=1 and reports the median GPU time of those scopes (CUDA events around the operation): a
kernel's own time, which at small shapes (batch 1) the tokens/s of a whole prefill, with its fixed per-operation
costs, blurs.
"""
import argparse
import json
import os
import statistics
import subprocess


def run_cli(cli, args, env, want_stderr=False):
    env = dict(env)
    cli = env.pop("CLI", cli)
    p = subprocess.run([cli] + args, capture_output=True, text=True, env={**os.environ, **env})
    if p.returncode != 0:
        raise RuntimeError(f"shedder-cli {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return (out, p.stderr) if want_stderr else out


def profile_ms(stderr, scopes):
    """The milliseconds of each scope in SHEDDER_PROFILE's table ("scope  ms  calls  share" rows)."""
    ms = {}
    for line in stderr.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] in scopes:
            try:
                ms[f[0]] = float(f[1])
            except ValueError:
                pass
    missing = [s for s in scopes if s not in ms]
    if missing:
        raise RuntimeError(f"SHEDDER_PROFILE printed no scope {missing}:\n{stderr}")
    return ms


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
    ap.add_argument("--repeats", type=int, default=3, help="timed prefills per bench run (median)")
    ap.add_argument("--profile-scopes", default="", help="comma-separated SHEDDER_PROFILE scopes, e.g. scan")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    variants = parse_variants(a.variants)
    scopes = [x for x in a.profile_scopes.split(",") if x]
    report = {"variants": [{"label": l, "env": e} for l, e in variants], "rounds": a.rounds, "windows": a.windows,
              "repeats": a.repeats, "models": []}
    models = sorted(d for d in os.listdir(a.workdir) if os.path.isfile(os.path.join(a.workdir, d, "config.json")))
    if a.models:
        models = [m for m in models if m in a.models.split(",")]
    for name in models:
        mdir = os.path.join(a.workdir, name)
        tokens = os.path.join(a.workdir, name + "-windows.safetensors")
        bench = ["bench", mdir, "--device", "cuda", "--batch", str(a.windows), "--length", str(a.seq_len),
                 "--repeats", str(a.repeats), "--warmup", "1", "--decode-tokens", "4", "--prompt", "4", "--json"]
        tps = {label: [] for label, _ in variants}
        prof = {label: {sc: [] for sc in scopes} for label, _ in variants}
        for r in range(a.rounds):
            k = r % len(variants)
            for label, env in variants[k:] + variants[:k]:
                be = run_cli(a.cli, bench, env)
                be = be[0] if isinstance(be, list) else be.get("base", be)
                tps[label].append(be["prefill_tokens_per_s"])
                if scopes:
                    _, err = run_cli(a.cli, bench, {**env, "SHEDDER_PROFILE": "1"}, want_stderr=True)
                    for sc, v in profile_ms(err, scopes).items():
                        prof[label][sc].append(v)
        rows = []
        for label, env in variants:
            ev = {}
            if os.path.isfile(tokens):
                ev = run_cli(a.cli, ["eval", mdir, "--tokens", tokens, "--seq-len", str(a.seq_len), "--batch",
                                     str(a.windows), "--warmup", "1", "--device", "cuda", "--json"], env)
            rows.append({"label": label, "prefill_tokens_per_s": tps[label], "median": statistics.median(tps[label]),
                         "eval_s": ev.get("seconds"), "perplexity": ev.get("perplexity"),
                         "profile_ms": {sc: {"runs": v, "median": statistics.median(v)}
                                        for sc, v in prof[label].items()}})
        base = rows[0]
        for row in rows:
            row["ratio"] = row["median"] / base["median"]
            same = row["perplexity"] == base["perplexity"]
            rel = (abs(row["perplexity"] - base["perplexity"]) / base["perplexity"]) if row["perplexity"] else float("nan")
            print(f"{name:12s} {row['label']:16s} prefill {row['median']:10.0f} tok/s  x{row['ratio']:.3f}  "
                  f"eval {row['eval_s'] or float('nan'):.3f} s  ppl {row['perplexity']!r} "
                  f"({'same' if same else f'rel diff {rel:.2e}'})", flush=True)
            for sc, v in row["profile_ms"].items():
                b = base["profile_ms"][sc]["median"]
                print(f"{'':12s} {'':16s} {sc} {v['median']:.3f} ms (GPU, median of {len(v['runs'])})  "
                      f"x{b / v['median']:.3f} of the baseline's speed", flush=True)
        report["models"].append({"model": name, "variants": rows})
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(report, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()

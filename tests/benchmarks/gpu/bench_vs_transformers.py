#!/usr/bin/env python3
"""GPU benchmark of our engine against transformers' PyTorch path, in one run on one GPU.

For a mamba-130m-shape and a mamba-1.4b-shape Mamba-1, the matching Mamba-2 shapes and a Zamba2-1.2B shape
(38 Mamba-2 layers, a shared attention+MLP block used by every 6th; random weights, bfloat16), on the same token
windows and GPU:
  * evaluation: perplexity over W windows of L tokens, batch W (transformers: model(ids).logits + NLL;
    ours: shedder-cli eval --device cuda), tokens/s and the ratio;
  * one search step: every block removed in turn, calibration perplexity for each (transformers: the layer
    dropped from the ModuleList and a full forward, timed on a few candidates and multiplied by the number
    of candidates; ours: shedder-cli search --steps 1, the step's own time), and ours again with one candidate
    at a time (--candidate-batch 1) against the default stacked candidates, with and without --exhaustive;
  * forward throughput (shedder-cli bench: median of repeated prefill passes with logits) as model FLOP/s,
    2 x (matrix parameters incl. the LM head) x tokens, and its fraction of the bf16 matmul throughput that
    this GPU reaches, measured here on the model's own in_proj shape.
transformers uses its PyTorch path because the mamba_ssm / causal_conv1d kernels are not installed (checked).
Writes a JSON report (--json) and prints a table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch

SHAPES = [
    ("mamba-130m", "mamba", dict(hidden_size=768, num_hidden_layers=24, state_size=16, expand=2, vocab_size=50280)),
    ("mamba-1.4b", "mamba", dict(hidden_size=2048, num_hidden_layers=48, state_size=16, expand=2, vocab_size=50280)),
    ("mamba2-130m", "mamba2", dict(hidden_size=768, num_hidden_layers=24, state_size=128, expand=2, head_dim=64,
                                   num_heads=24, n_groups=1, vocab_size=50288, chunk_size=256)),
    ("mamba2-1.3b", "mamba2", dict(hidden_size=2048, num_hidden_layers=48, state_size=128, expand=2, head_dim=64,
                                   num_heads=64, n_groups=1, vocab_size=50288, chunk_size=256)),
    # Zyphra/Zamba2-1.2B's shape: hidden 2048, 38 layers, the shared block at layers 5, 11, ..., 35, 32 heads of 128,
    # MLP 8192, Mamba-2 with 64 heads of 64 and state 128.
    ("zamba2-1.2b", "zamba2", dict(hidden_size=2048, num_hidden_layers=38, hybrid=[5, 11, 17, 23, 29, 35],
                                   mamba_d_state=128, mamba_expand=2, mamba_headdim=64, n_mamba_heads=64,
                                   mamba_ngroups=1, num_attention_heads=32, num_key_value_heads=32,
                                   intermediate_size=8192, num_mem_blocks=1, vocab_size=32000, chunk_size=256,
                                   use_shared_attention_adapter=False, adapter_rank=128, use_mem_rope=True)),
]


def sync():
    torch.cuda.synchronize()


def timed(fn, repeats=1):
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    sync()
    return (time.perf_counter() - t0) / repeats, out


def matmul_tflops(m, k, n, repeats=50):
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    sec, _ = timed(lambda: a @ b, repeats)
    return 2.0 * m * k * n / sec / 1e12


def zamba2_config(cfg):
    import transformers
    cfg = dict(cfg)
    hybrid = cfg.pop("hybrid")
    n = cfg["num_hidden_layers"]
    for plain in ("mamba", "linear_attention"):
        try:
            c = transformers.Zamba2Config(layers_block_type=["hybrid" if i in hybrid else plain for i in range(n)],
                                          hidden_act="gelu", tie_word_embeddings=True, **cfg)
            break
        except Exception as e:
            print(f"Zamba2Config with '{plain}' layers: {e!r}"[:200])
    c._attn_implementation = "sdpa"
    return c


def make_model(arch, cfg):
    import transformers
    if arch == "zamba2":
        torch.manual_seed(0)
        with torch.device("cuda"):
            return transformers.Zamba2ForCausalLM(zamba2_config(cfg)).to(torch.bfloat16).eval()
    if arch == "mamba":
        config = transformers.MambaConfig(**cfg)
        cls = transformers.MambaForCausalLM
    else:
        config = transformers.Mamba2Config(**cfg)
        cls = transformers.Mamba2ForCausalLM
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = cls(config).to(torch.bfloat16).eval()
    return model


def matrix_params(arch, cfg, model=None):
    if arch == "zamba2":
        # Matrix parameters applied per token: every layer's (a hybrid layer's shared block counted at each use),
        # plus the LM head; the depthwise conv is not a matrix.
        n = sum(p.numel() for ly in model.model.layers for _, p in ly.named_parameters() if p.dim() == 2)
        return n + model.lm_head.weight.numel()
    h, L, d = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["expand"] * cfg["hidden_size"]
    n, v = cfg["state_size"], cfg["vocab_size"]
    if arch == "mamba":
        r = -(-h // 16)  # time_step_rank "auto"
        per = h * 2 * d + d * (r + 2 * n) + r * d + d * h
    else:
        heads, g = cfg["num_heads"], cfg["n_groups"]
        per = h * (2 * d + 2 * g * n + heads) + d * h
    return L * per + v * h


def hf_ppl(model, ids, batch):
    nll = []
    with torch.no_grad():
        for i in range(0, ids.shape[0], batch):
            x = ids[i:i + batch]
            logits = model(input_ids=x, use_cache=False).logits.float()
            lp = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                                   reduction="none").view(x.shape[0], -1).mean(1)
            nll.append(lp)
    return torch.exp(torch.cat(nll).mean()).item()


def run_cli(cli, args):
    p = subprocess.run([cli] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"shedder-cli {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--hf-candidates", type=int, default=2, help="transformers search-step candidates actually timed")
    ap.add_argument("--shapes", default=",".join(s[0] for s in SHAPES))
    ap.add_argument("--json", default="")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--keep-models", action="store_true", help="leave the model folders in --workdir")
    ap.add_argument("--skip-hf", action="store_true", help="only our side (for quick iterations; no ratios)")
    ap.add_argument("--no-stacking", action="store_true",
                    help="skip the search steps with one candidate at a time (--candidate-batch 1) and --exhaustive")
    a = ap.parse_args()

    import transformers
    from safetensors.torch import save_file
    from transformers.models.mamba import modeling_mamba
    from transformers.models.mamba2 import modeling_mamba2
    fast1 = getattr(modeling_mamba, "is_fast_path_available", None)
    fast2 = getattr(modeling_mamba2, "is_fast_path_available", None)
    gpu = torch.cuda.get_device_name(0)
    report = {"gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__,
              "hf_fast_path_available": {"mamba": bool(fast1), "mamba2": bool(fast2)},
              "windows": a.windows, "seq_len": a.seq_len, "results": []}
    print(f"GPU {gpu}; torch {torch.__version__}; transformers {transformers.__version__}; "
          f"transformers CUDA-kernel fast path available: mamba={bool(fast1)} mamba2={bool(fast2)}")
    work = a.workdir or tempfile.mkdtemp(prefix="shedder-gpu-bench-")
    os.makedirs(work, exist_ok=True)
    W, L = a.windows, a.seq_len
    wanted = a.shapes.split(",")
    for name, arch, cfg in SHAPES:
        if name not in wanted:
            continue
        mdir = os.path.join(work, name)
        model = make_model(arch, cfg)
        mparams = matrix_params(arch, cfg, model)
        model.save_pretrained(mdir, safe_serialization=True)
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, cfg["vocab_size"], (W, L), generator=g)
        tok_file = os.path.join(work, name + "-windows.safetensors")
        save_file({"windows": ids.contiguous()}, tok_file)
        ids = ids.cuda()
        n_layers = cfg["num_hidden_layers"]

        # transformers: evaluation (after one warm-up pass) and a search step's candidates.
        with torch.no_grad():
            model(input_ids=ids[:1, :64], use_cache=False)
        hf_eval_s, hf_ppl_val = timed(lambda: hf_ppl(model, ids, W)) if not a.skip_hf else (float("nan"), float("nan"))
        cand_s = []
        if arch == "zamba2":
            # A candidate is one evaluation with a layer removed; dropping a layer from a Zamba2 breaks its shared
            # blocks' bookkeeping, so a candidate is timed as a full evaluation (an upper bound by one layer).
            for _ in range(0 if a.skip_hf else max(1, a.hf_candidates)):
                s, _ = timed(lambda: hf_ppl(model, ids, W))
                cand_s.append(s)
        else:
            layers = model.backbone.layers
            for c in [0, n_layers // 2, n_layers - 1][:0 if a.skip_hf else max(1, a.hf_candidates)]:
                model.backbone.layers = torch.nn.ModuleList([m for i, m in enumerate(layers) if i != c])
                s, _ = timed(lambda: hf_ppl(model, ids, W))
                cand_s.append(s)
            model.backbone.layers = layers
        hf_step_s = sum(cand_s) / len(cand_s) * n_layers if cand_s else float("nan")
        del model
        torch.cuda.empty_cache()

        # Ours.
        common = ["--device", "cuda", "--json"]
        ev = run_cli(a.cli, ["eval", mdir, "--tokens", tok_file, "--seq-len", str(L), "--batch", str(W),
                             "--warmup", "1"] + common)
        out = os.path.join(work, name + "-search")
        search = ["search", mdir, "--calib-tokens", tok_file, "--seq-len", str(L), "--windows", str(W), "--batch", str(W),
                  "--steps", "1"] + common
        se = run_cli(a.cli, search + ["--out", out])
        # The same step with one candidate at a time (--candidate-batch 1), by default and exhaustive, in this run.
        stacking = {}
        for mode, extra in () if a.no_stacking else (("default", []), ("exhaustive", ["--exhaustive"])):
            got = {}
            for label, cb in (("stacked", "0"), ("one_at_a_time", "1")):
                rr = se if (mode, cb) == ("default", "0") else run_cli(a.cli, search + ["--candidate-batch", cb] + extra)
                got[label] = {"step_s": rr["steps"][0]["seconds"], "removed": rr["steps"][0]["removed"],
                              "candidate_batch": rr.get("candidate_batch", 1), "abandoned": rr.get("abandoned", 0)}
            got["speedup"] = got["one_at_a_time"]["step_s"] / got["stacked"]["step_s"]
            stacking[mode] = got
        be = run_cli(a.cli, ["bench", mdir, "--batch", str(W), "--length", str(L), "--decode-tokens", "16",
                             "--prompt", "16", "--repeats", "5", "--warmup", "2"] + common)
        bench = be[0] if isinstance(be, list) else be.get("base", be)
        fwd_tps = bench["prefill_tokens_per_s"]
        flops_per_token = 2.0 * mparams
        h = cfg["hidden_size"]
        if arch == "zamba2":
            d = cfg["mamba_expand"] * h
            in_rows = 2 * d + 2 * cfg["mamba_ngroups"] * cfg["mamba_d_state"] + cfg["n_mamba_heads"]
        else:
            d = cfg["expand"] * h
            in_rows = 2 * d if arch == "mamba" else 2 * d + 2 * cfg["n_groups"] * cfg["state_size"] + cfg["num_heads"]
        mm = matmul_tflops(W * L, h, in_rows)
        model_tflops = fwd_tps * flops_per_token / 1e12
        tokens = W * L
        r = {
            "shape": name, "arch": arch, "layers": n_layers, "hidden": cfg["hidden_size"],
            "matrix_params": mparams,
            "hf": {"eval_s": hf_eval_s, "eval_tokens_per_s": tokens / hf_eval_s, "ppl": hf_ppl_val,
                   "search_step_s_est": hf_step_s, "candidates_timed": len(cand_s), "candidate_s": cand_s},
            "ours": {"eval_s": ev["seconds"], "eval_tokens_per_s": tokens / ev["seconds"], "ppl": ev["perplexity"],
                     "search_step_s": se["steps"][0]["seconds"], "forward_tokens_per_s": fwd_tps,
                     "model_tflops": model_tflops},
            "matmul_tflops_bf16": mm,
            "fraction_of_matmul": model_tflops / mm,
            "eval_speedup": hf_eval_s / ev["seconds"],
            "search_step_speedup": hf_step_s / se["steps"][0]["seconds"],
            "stacked_candidates": stacking,
        }
        report["results"].append(r)
        print(f"{name:12s} eval: transformers {tokens / hf_eval_s:10.0f} tok/s (ppl {hf_ppl_val:.2f}), ours "
              f"{tokens / ev['seconds']:10.0f} tok/s (ppl {ev['perplexity']:.2f}) -> {r['eval_speedup']:.1f}x | "
              f"search step: transformers ~{hf_step_s:.2f} s, ours {se['steps'][0]['seconds']:.3f} s -> "
              f"{r['search_step_speedup']:.1f}x | forward {fwd_tps:.0f} tok/s = {model_tflops:.0f} TFLOP/s = "
              f"{100 * r['fraction_of_matmul']:.0f}% of bf16 matmul ({mm:.0f} TFLOP/s)", flush=True)
        for mode, got in stacking.items():
            st, one = got["stacked"], got["one_at_a_time"]
            print(f"{'':12s} search step ({mode}): {st['candidate_batch']} candidates stacked {st['step_s']:.3f} s, one at "
                  f"a time {one['step_s']:.3f} s -> {got['speedup']:.2f}x (abandoned {st['abandoned']} / "
                  f"{one['abandoned']}; same removal: {st['removed'] == one['removed']})", flush=True)
        if not a.keep_models:
            shutil.rmtree(mdir, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Loads our pruned Zamba2 exports back into transformers (run on the GPU machine, which has transformers).

For each removal set: `shedder-cli hybrid export` cuts the components out of tests/data/hybrid/zamba2-tiny, then
transformers' Zamba2ForCausalLM.from_pretrained reads the exported folder (float64, CPU, eager attention) and its
perplexity on the fixture's input_ids is compared with `shedder-cli hybrid eval` of the same export and with our
masked (unexported) model. Removal sets transformers cannot represent (an attention head or an SSM removed, shared
blocks of different MLP widths) are expected to be refused by its loader; the script prints what happened.
Usage: check_hybrid_export_transformers.py SHEDDER_CLI [WORKDIR]   (exit 1 when a loadable export disagrees)
"""
import json, math, os, subprocess, sys, tempfile

import torch
import transformers
from safetensors.torch import load_file

cli = sys.argv[1]
work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "hybrid", "zamba2-tiny")
ref = os.path.join(here, "hybrid", "zamba2_reference.safetensors")
ids = load_file(ref)["input_ids"]

def ours(args):
    p = subprocess.run([cli, "hybrid"] + args + ["--json"], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip())
    return json.loads(p.stdout)

def hf_ppl(folder):
    m = transformers.Zamba2ForCausalLM.from_pretrained(folder, attn_implementation="eager").eval().double()
    with torch.no_grad():
        logits = m(ids, use_cache=False).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                            reduction="none").view(ids.shape[0], -1).mean(1)
    return math.exp(nll.mean().item())

cases = ["", "layers.2", "layers.1.shared", "layers.0,layers.3.shared",
         "shared.0.mlp.channels.1,shared.1.mlp.channels.1", "shared.0.attn.heads.1", "layers.4.ssm"]
bad = 0
for spec in cases:
    tok = ["--tokens", ref + ":input_ids"]
    masked = ours(["eval", src] + tok + (["--remove", spec] if spec else []))["perplexity"]
    out = os.path.join(work, "export-" + (spec.replace(",", "+") or "none"))
    if spec:
        ours(["export", src, "--remove", spec, "--out", out, "--force"])
    else:
        out = src
    exported = ours(["eval", out] + tok)["perplexity"]
    try:
        hf = hf_ppl(out)
        rel = abs(hf - exported) / exported
        ok = rel < 1e-4 and abs(exported - masked) / masked < 1e-4
        bad += 0 if ok else 1
        print(f"{'OK  ' if ok else 'FAIL'} {spec or '(nothing removed)':48s} masked {masked:.6f}  export {exported:.6f}  "
              f"transformers {hf:.6f}  rel {rel:.1e}")
    except Exception as e:  # noqa: BLE001 - report what transformers says
        print(f"n/a  {spec:48s} masked {masked:.6f}  export {exported:.6f}  transformers cannot load it: "
              f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
sys.exit(1 if bad else 0)

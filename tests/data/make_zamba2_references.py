#!/usr/bin/env python3
# References for the Zamba2 search and the GPU path, made with Hugging Face `transformers` (5.x) on the GPU machine:
#
#   OUT/zamba2-search/   a small Zamba2 (8 layers: 4 uses of 2 shared blocks with LoRA adapters, RoPE; random
#                        weights with a visible signal, as make_hybrid_fixtures.py), calib.safetensors (windows
#                        [6, 48]) and reference.json: for each granularity (block, ssm, shared, head, channel) a
#                        3-step greedy perplexity search run on transformers' model in float64, every removal made
#                        by editing the weights (a throwaway patch of the model, never our code):
#                          layers.N          out_proj of its Mamba mixer and its shared-block linear zeroed
#                          layers.N.ssm      B/C rows of in_proj and their conv channels zeroed, D = 1 (y = conv x)
#                          layers.N.shared   the layer's linear zeroed (the shared block adds nothing)
#                          shared.K.attn.heads.G    o_proj columns of the KV group's query heads zeroed
#                          shared.K.mlp.channels.C  down_proj columns of the channel group zeroed
#                        Candidates, their order and the rules (a shared block keeps one head / channel group) are
#                        the workbench's; ties go to the first candidate. The test test_search_reference compares
#                        its picks and every candidate's perplexity.
#   OUT/zamba2-gpu/      a mid-size Zamba2 (float32 weights) and reference_logits.safetensors: input_ids [2, 128],
#                        logits (transformers float32 on CUDA), windows [8, 256], ppl_f32 and ppl_bf16 (transformers
#                        in float32 / bfloat16 on CUDA) for gpu_check (SHEDDER_GPU_HYBRID_DIR).
#   OUT/zamba2-24l/      a 24-layer Zamba2 (hidden 128, a shared block every 6th layer) for bench_search's prefix-cache
#                        benchmark (random init; not committed).
# Usage: python3 make_zamba2_references.py OUT
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import Zamba2Config, Zamba2ForCausalLM

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def config(layers, hybrid, **kw):
    types = ["hybrid" if i in hybrid else "mamba" for i in range(layers)]
    base = dict(num_hidden_layers=layers, layers_block_type=types, mamba_d_conv=4, mamba_expand=2,
                hidden_act="gelu", max_position_embeddings=4096, tie_word_embeddings=True, use_mem_rope=True)
    base.update(kw)
    try:
        c = Zamba2Config(**base)
    except Exception as e:  # some versions name the plain layers differently
        print("config:", repr(e)[:200], "- retrying with linear_attention")
        base["layers_block_type"] = ["hybrid" if i in hybrid else "linear_attention" for i in range(layers)]
        c = Zamba2Config(**base)
    c._attn_implementation = "eager"
    return c


def visible_signal(m, scale=1.0):
    with torch.no_grad():
        for n, p in m.named_parameters():
            R = torch.randn_like(p)
            if "norm" in n: p.copy_(1 + .2 * R)
            elif n.endswith("A_log"): p.copy_(torch.log(torch.rand_like(p) * 3 + .5))
            elif n.endswith(".D"): p.copy_(R)
            elif n.endswith("dt_bias"): p.copy_(R * .5 - 1)
            elif "embed_tokens" in n: p.copy_(R)
            elif p.dim() >= 2: p.copy_(R * scale / p.shape[1] ** .5)
            else: p.copy_(R * .1)


def save(m, path):
    m.save_pretrained(path, safe_serialization=True)
    for f in os.listdir(path):
        if f not in ("config.json", "model.safetensors"): os.remove(os.path.join(path, f))


def ppl(m, windows):
    with torch.no_grad():
        logits = m(input_ids=windows, use_cache=False).logits
        lp = torch.log_softmax(logits.double(), -1)
        nll = -lp[:, :-1].gather(-1, windows[:, 1:].unsqueeze(-1)).squeeze(-1).mean(1)
    return float(torch.exp(nll.mean()))


# ---- the search reference ------------------------------------------------------------------------------------------

def search_reference():
    torch.manual_seed(11)
    hybrid = [1, 3, 5, 7]
    c = config(8, hybrid, vocab_size=96, hidden_size=64, mamba_d_state=8, mamba_ngroups=2, n_mamba_heads=4,
               mamba_headdim=32, chunk_size=16, intermediate_size=64, num_attention_heads=4, num_key_value_heads=4,
               num_mem_blocks=2, use_shared_attention_adapter=True, adapter_rank=4)
    m = Zamba2ForCausalLM(c).eval()
    visible_signal(m)
    d = os.path.join(OUT, "zamba2-search")
    save(m, d + "/model")
    m = Zamba2ForCausalLM.from_pretrained(d + "/model", attn_implementation="eager").eval().double()
    windows = torch.randint(0, 96, (6, 48), generator=torch.Generator().manual_seed(5))
    save_file({"windows": windows.contiguous()}, d + "/calib.safetensors")
    cfg = m.config
    H, D = cfg.hidden_size, cfg.mamba_expand * cfg.hidden_size
    GN, nh = cfg.mamba_ngroups * cfg.mamba_d_state, cfg.n_mamba_heads
    heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads
    hd = cfg.attention_head_dim
    I = cfg.intermediate_size
    G = 16
    while G < 128 and G * 16 <= I: G *= 2
    layers = m.model.layers
    # Hybrid layer -> its shared block (blocks numbered in order of first use, as our loader numbers them). Every
    # hybrid layer holds its own module whose parameters are tied to its block's: a block is one weight storage.
    block_of, blocks, keys = {}, [], []
    for i, ly in enumerate(layers):
        st = getattr(ly, "shared_transformer", None)
        if st is None: continue
        key = st.self_attn.o_proj.weight.data_ptr()
        if key not in keys:
            keys.append(key)
            blocks.append(st)
        block_of[i] = keys.index(key)
    assert len(blocks) == cfg.num_mem_blocks, f"{len(blocks)} weight-distinct shared blocks, config says {cfg.num_mem_blocks}"
    orig = {k: v.clone() for k, v in m.state_dict().items()}

    def mixer(i):
        ly = layers[i]
        return ly.mamba_decoder.mamba if hasattr(ly, "mamba_decoder") else ly.mamba

    def apply(removed):
        m.load_state_dict(orig)
        with torch.no_grad():
            for rid in removed:
                p = rid.split(".")
                if p[0] == "layers":
                    i = int(p[1])
                    if len(p) == 2:
                        mixer(i).out_proj.weight.zero_()
                        if i in block_of: layers[i].linear.weight.zero_()
                    elif p[2] == "ssm":
                        mx = mixer(i)
                        rows = mx.in_proj.weight.shape[0]
                        d_mlp = (rows - 2 * D - 2 * GN - nh) // 2
                        b0 = 2 * d_mlp + D + D
                        mx.in_proj.weight[b0:b0 + 2 * GN].zero_()
                        mx.conv1d.weight[D:D + 2 * GN].zero_()
                        if mx.conv1d.bias is not None: mx.conv1d.bias[D:D + 2 * GN].zero_()
                        mx.D.fill_(1.0)
                    elif p[2] == "shared":
                        layers[i].linear.weight.zero_()
                else:  # shared.K....
                    blk = blocks[int(p[1])]
                    if p[2] == "attn":
                        g, rep = int(p[4]), heads // kv
                        blk.self_attn.o_proj.weight[:, g * rep * hd:(g + 1) * rep * hd].zero_()
                    else:
                        ch = int(p[4])
                        blk.feed_forward.down_proj.weight[:, ch * G:(ch + 1) * G].zero_()

    def candidates(g, removed):
        gone = set(removed)
        live = [i for i in range(len(layers)) if f"layers.{i}" not in gone]
        if g == "block": return [f"layers.{i}" for i in live]
        if g == "ssm": return [f"layers.{i}.ssm" for i in live if f"layers.{i}.ssm" not in gone]
        if g == "shared": return [f"layers.{i}.shared" for i in live if i in block_of and f"layers.{i}.shared" not in gone]
        out = []
        for k in range(len(blocks)):
            alive = any(block_of.get(i) == k and f"layers.{i}.shared" not in gone for i in live)
            if not alive: continue
            if g == "head":
                left = [h for h in range(kv) if f"shared.{k}.attn.heads.{h}" not in gone]
                if len(left) > 1: out += [f"shared.{k}.attn.heads.{h}" for h in left]
            else:
                left = [c for c in range((I + G - 1) // G) if f"shared.{k}.mlp.channels.{c}" not in gone]
                if len(left) > 1: out += [f"shared.{k}.mlp.channels.{c}" for c in left]
        return out

    apply([])
    ref = {"base_ppl": ppl(m, windows), "mlp_channel_group": G, "searches": {}}
    for g in ["block", "ssm", "shared", "head", "channel"]:
        removed, steps = [], []
        for step in range(3):
            scores = {}
            for cand in candidates(g, removed):
                apply(removed + [cand])
                scores[cand] = ppl(m, windows)
            if not scores: break
            pick = min(scores, key=lambda k: scores[k])  # first of the lowest: dicts keep the candidates' order
            removed.append(pick)
            steps.append({"removed": pick, "ppl": scores[pick], "candidates": scores})
            print(f"zamba2-search {g} step {step}: {pick} ppl {scores[pick]:.6f} ({len(scores)} candidates)", flush=True)
        ref["searches"][g] = {"steps": steps}
    with open(d + "/reference.json", "w") as f:
        json.dump(ref, f, indent=1)


# ---- the GPU reference ---------------------------------------------------------------------------------------------

def gpu_reference():
    torch.manual_seed(3)
    c = config(8, [2, 5], vocab_size=512, hidden_size=256, mamba_d_state=32, mamba_ngroups=1, n_mamba_heads=8,
               mamba_headdim=64, chunk_size=64, intermediate_size=512, num_attention_heads=8, num_key_value_heads=8,
               num_mem_blocks=1, use_shared_attention_adapter=True, adapter_rank=16)
    m = Zamba2ForCausalLM(c).eval()
    # Every weight matters, yet the logits stay in a trained model's range (perplexity in the hundreds, not 1e60), so
    # bfloat16 rounding is compared where it would be in use.
    visible_signal(m, scale=0.35)
    with torch.no_grad():
        m.model.embed_tokens.weight.mul_(0.12)
    d = os.path.join(OUT, "zamba2-gpu")
    save(m, d)
    m = Zamba2ForCausalLM.from_pretrained(d, attn_implementation="eager").eval().cuda()
    g = torch.Generator().manual_seed(9)
    ids = torch.randint(0, 512, (2, 128), generator=g)
    windows = torch.randint(0, 512, (8, 256), generator=g)
    with torch.no_grad():
        logits = m(input_ids=ids.cuda(), use_cache=False).logits.float().cpu()
    p32 = ppl(m, windows.cuda())
    mb = m.to(torch.bfloat16)
    p16 = ppl(mb, windows.cuda())
    print(f"zamba2-gpu: transformers ppl float32 {p32:.5f}, bfloat16 {p16:.5f}", flush=True)
    save_file({"input_ids": ids.contiguous(), "logits": logits.contiguous(), "windows": windows.contiguous(),
               "ppl_f32": torch.tensor([p32], dtype=torch.float64), "ppl_bf16": torch.tensor([p16], dtype=torch.float64)},
              d + "/reference_logits.safetensors")


def bench_model():
    torch.manual_seed(5)
    hybrid = [5, 11, 17, 23]
    c = config(24, hybrid, vocab_size=4096, hidden_size=128, mamba_d_state=16, mamba_ngroups=1, n_mamba_heads=4,
               mamba_headdim=64, chunk_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=4,
               num_mem_blocks=1, use_shared_attention_adapter=False, adapter_rank=8)
    m = Zamba2ForCausalLM(c).eval()
    save(m, os.path.join(OUT, "zamba2-24l"))


def hymba_tiny():
    """A random Hymba checkpoint in transformers' layout (the shapes of tests/unit/support/arch_models.cpp: meta
    tokens, a sliding window, global layers, K/V reuse) for gpu_check's CUDA-against-CPU checks."""
    torch.manual_seed(4)
    cfg = {"model_type": "hymba", "architectures": ["HymbaForCausalLM"], "vocab_size": 64, "hidden_size": 32,
           "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "mamba_expand": 2,
           "mamba_d_state": 4, "mamba_d_conv": 4, "mamba_dt_rank": 4, "mamba_conv_bias": True,
           "mamba_proj_bias": False, "mamba_inner_layernorms": True, "intermediate_size": 48,
           "mlp_hidden_act": "silu", "hidden_act": "silu", "rms_norm_eps": 1e-6, "num_memory_tokens": 3,
           "memory_tokens_interspersed_every": 0, "sliding_window": 5, "global_attn_idx": [0, 3],
           "kv_reuse_group": [[1, 2]], "kq_norm": "none", "rope": True, "rope_theta": 10000.0, "rope_type": "default",
           "max_position_embeddings": 128, "tie_word_embeddings": True, "num_experts": 1}
    H, D, N, R, K, I, V, L = 32, 64, 4, 4, 4, 48, 64, 4
    rnd = lambda *shape, s=1.0: torch.randn(*shape) * s
    norm = lambda n: 1 + .2 * torch.randn(n)
    t = {"model.embed_tokens.weight": rnd(V, H), "model.final_layernorm.weight": norm(H),
         "model.memory_tokens": rnd(3, H)}
    for l in range(L):
        p = f"model.layers.{l}."
        rows = 4 * 8 + (0 if l == 2 else 2 * (8 + 16)) + 2 * D
        t.update({p + "input_layernorm.weight": norm(H), p + "mamba.in_proj.weight": rnd(rows, H, s=H ** -.5),
                  p + "mamba.conv1d.weight": rnd(D, 1, K, s=.5), p + "mamba.conv1d.bias": rnd(D, s=.1),
                  p + "mamba.x_proj.0.weight": rnd(R + 2 * N, D, s=1 / 8), p + "mamba.dt_proj.0.weight": rnd(D, R, s=.5),
                  p + "mamba.dt_proj.0.bias": rnd(D, s=.5) - 1, p + "mamba.A_log.0": torch.log(torch.rand(D, N) * 3 + .5),
                  p + "mamba.D.0": rnd(D), p + "mamba.dt_layernorm.weight": norm(R),
                  p + "mamba.B_layernorm.weight": norm(N), p + "mamba.C_layernorm.weight": norm(N),
                  p + "mamba.pre_avg_layernorm1.weight": norm(D), p + "mamba.pre_avg_layernorm2.weight": norm(D),
                  p + "mamba.out_proj.weight": rnd(H, D, s=1 / 8), p + "pre_moe_layernorm.weight": norm(H),
                  p + "moe.experts.0.gate_proj.weight": rnd(I, H, s=H ** -.5),
                  p + "moe.experts.0.up_proj.weight": rnd(I, H, s=H ** -.5),
                  p + "moe.experts.0.down_proj.weight": rnd(H, I, s=I ** -.5)})
    d = os.path.join(OUT, "hymba-tiny")
    os.makedirs(d, exist_ok=True)
    save_file({k: v.contiguous() for k, v in t.items()}, d + "/model.safetensors")
    with open(d + "/config.json", "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    for fn in (search_reference, bench_model, hymba_tiny, gpu_reference):
        try:
            fn()
        except Exception as e:
            import traceback
            traceback.print_exc()
            print(f"FAILED: {fn.__name__}: {e!r}", flush=True)

# Makes the hybrid-model test fixtures in tests/data/hybrid from Hugging Face `transformers` 5.x (random weights):
#   zamba2-tiny      Zamba2ForCausalLM: 6 layers (3 hybrid uses of 2 shared attention+MLP blocks, ABA), MHA with
#                    per-use q/k/v LoRA adapters (transformers' adapters need num_key_value_heads == num_heads),
#                    per-use MLP adapters, 2 SSM groups, 3 SSD chunks of 16 over 37 tokens
#   zamba2-tiny-gqa  4 layers, one shared block used twice, GQA (4 query heads, 2 KV heads), no attention adapters
# and zamba2[-gqa]_reference.safetensors: input_ids [2, 37] int64, logits (float32 run of the torch path,
# use_cache=False) and for zamba2-tiny also logits_f64 (the same model in float64) and hidden_states (every
# layer's input, then the final normed state). RoPE is on when this transformers version can run it.
# Usage: python3 make_hybrid_fixtures.py OUT_DIR
import os, sys, torch
from safetensors.torch import save_file
from transformers import Zamba2Config as C, Zamba2ForCausalLM as M

o = sys.argv[1]
ids = torch.randint(0, 96, (2, 37), generator=torch.Generator().manual_seed(7))


def build(name, kv, adapters, types, blocks, seed):
    for extra in ({"use_mem_rope": True}, {"use_mem_rope": True, "head_dim": 16}, {"use_mem_rope": False}):
        try:
            torch.manual_seed(seed)
            c = C(vocab_size=96, hidden_size=32, num_hidden_layers=len(types), layers_block_type=types,
                  mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_ngroups=2, n_mamba_heads=4, chunk_size=16,
                  intermediate_size=64, hidden_act="gelu", num_attention_heads=4, num_key_value_heads=kv,
                  num_mem_blocks=blocks, use_shared_attention_adapter=adapters, adapter_rank=4,
                  max_position_embeddings=128, tie_word_embeddings=True, **extra)
            c._attn_implementation = "eager"
            m = M(c).eval()
            with torch.no_grad():  # random weights with a visible signal everywhere
                for n, p in m.named_parameters():
                    R = torch.randn_like(p)
                    if "norm" in n: p.copy_(1 + .2 * R)
                    elif n.endswith("A_log"): p.copy_(torch.log(torch.rand_like(p) * 3 + .5))
                    elif n.endswith(".D"): p.copy_(R)
                    elif n.endswith("dt_bias"): p.copy_(R * .5 - 1)
                    elif "embed_tokens" in n: p.copy_(R)
                    elif p.dim() >= 2: p.copy_(R / p.shape[1] ** .5)
                    else: p.copy_(R * .1)
            with torch.no_grad(): m(ids, use_cache=False)
            break
        except Exception as e:
            print(name, extra, "fails:", repr(e)[:160])
    print(name, "runs with", extra)
    z = o + "/" + name
    m.save_pretrained(z, safe_serialization=True)
    for f in os.listdir(z):
        if f not in ("config.json", "model.safetensors"): os.remove(z + "/" + f)
    q = M.from_pretrained(z, attn_implementation="eager").eval()
    with torch.no_grad():
        a = m(ids, use_cache=False).logits
        b = q(ids, use_cache=False, output_hidden_states=True)
        d = M.from_pretrained(z, attn_implementation="eager").eval().double()(ids, use_cache=False).logits
    print(name, "reload", (a - b.logits).abs().max().item(), "f32-f64", (b.logits.double() - d).abs().max().item(),
          "max", d.abs().max().item())
    t = {"input_ids": ids.contiguous(), "logits": b.logits.float().contiguous()}
    if adapters:
        t["logits_f64"] = d.contiguous()
        t["hidden_states"] = torch.stack([h.float() for h in b.hidden_states]).contiguous()
    save_file(t, o + "/" + name.replace("-tiny", "") + "_reference.safetensors")


build("zamba2-tiny", 4, True, ["mamba", "hybrid"] * 3, 2, 1234)
build("zamba2-tiny-gqa", 2, False, ["mamba", "hybrid"] * 2, 1, 99)

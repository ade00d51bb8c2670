"""Makes tests/data/transformers_fp64/*.fp64.safetensors: logits of the shared hf-tiny fixtures computed by
`transformers` itself on the CPU in float64 (no TF32), so tests can check our float32 forward far more tightly
than the TF32 fixture logits allow. Run with torch + transformers:  python3 make_fp64_reference.py SHARED_FIXTURES OUT_DIR"""
import torch, sys
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
torch.backends.cuda.matmul.allow_tf32 = False
for n in ["mamba1-tiny", "mamba1-tiny-untied", "mamba2-tiny"]:
    d = f"{sys.argv[1]}/hf-tiny/{n}"
    ids = load_file(f"{d}/reference_logits.safetensors")["input_ids"]
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float64).eval()
    with torch.no_grad():
        lg = m(input_ids=ids, use_cache=False).logits.float()
    ref = load_file(f"{d}/reference_logits.safetensors")["logits"]
    print(n, "fp64-cpu vs fixture max", (lg - ref).abs().max().item())
    save_file({"logits": lg.contiguous()}, f"{sys.argv[2]}/{n}.fp64.safetensors")

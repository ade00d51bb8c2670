"""Makes tests/data/mamba_ssm/mamba1-tiny: the shared fixture mamba1-tiny rewritten in the original
mamba_ssm layout (config.json with d_model/n_layer/ssm_cfg, pytorch_model.bin written by torch.save,
keys backbone.embedding.*, lm_head.weight sharing storage with the embedding as MambaLMHeadModel ties it).
Run once with PyTorch available:  python3 make_mamba_ssm_fixture.py SRC_DIR OUT_DIR
The vocabulary is written as 297 with pad_vocab_size_multiple 4, so the loader must pad it to 300 rows."""
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
cfg = json.loads((src / "config.json").read_text())
sd = load_file(str(src / "model.safetensors"))
new = {}
for k, v in sd.items():
    new[k.replace("backbone.embeddings.", "backbone.embedding.")] = v.clone()
new["lm_head.weight"] = new["backbone.embedding.weight"]  # tied: same storage
torch.save(new, str(out / "pytorch_model.bin"))
ssm_cfg = {"d_state": cfg["state_size"], "d_conv": cfg["conv_kernel"], "expand": cfg["expand"],
           "dt_rank": cfg["time_step_rank"], "bias": cfg["use_bias"], "conv_bias": cfg["use_conv_bias"]}
mcfg = {"d_model": cfg["hidden_size"], "n_layer": cfg["num_hidden_layers"], "vocab_size": cfg["vocab_size"] - 3,
        "ssm_cfg": ssm_cfg, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
        "pad_vocab_size_multiple": 4}
(out / "config.json").write_text(json.dumps(mcfg, indent=2) + "\n")
print("wrote", out)

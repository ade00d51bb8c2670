# Run on the GPU machine from the project root (needs transformers): python3 tests/data/check_demo_models_transformers.py
# Loads the shipped demo models with transformers and computes the test-split perplexity the way shedder-cli
# eval does (documents joined with EOS, non-overlapping 256-token windows, mean over windows of the mean NLL).
import json, math, sys, torch
from transformers import AutoModelForCausalLM
from tokenizers import Tokenizer
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
for name in ["mamba1", "mamba2"]:
    d = f"resources/demo/{name}"
    tok = Tokenizer.from_file(f"{d}/tokenizer.json")
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    model.eval()
    eos = tok.token_to_id("<|endoftext|>")
    ids = []
    for line in open("resources/demo/corpus/test.jsonl"):
        if ids: ids.append(eos)
        ids.extend(tok.encode(json.loads(line)["text"]).ids)
    W = len(ids) // 256
    x = torch.tensor(ids[: W * 256]).view(W, 256)
    nll = []
    with torch.no_grad():
        for i in range(0, W, 32):
            b = x[i:i+32]
            logits = model(b).logits.float()
            lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, b[:, 1:, None])[..., 0]
            nll.extend((-lp.mean(1)).tolist())
    print(name, type(model).__name__, "windows", W, "perplexity", math.exp(sum(nll) / len(nll)))

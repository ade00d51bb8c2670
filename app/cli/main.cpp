// shedder-cli entry point: dispatches to the subcommands and turns every error into one line on
// stderr and a non-zero exit code.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "util/error.h"

namespace {

void usage(std::ostream& os) {
  os << "shedder-cli " << SHEDDER_VERSION << " - Mamba Shedder Workbench, headless\n"
     << "\n"
     << "usage: shedder-cli COMMAND [options]\n"
     << "\n"
     << "commands:\n"
     << "  info MODEL [--json]                          architecture, config, parameters, layer tree\n"
     << "  tokenize MODEL --text STRING [--json]         token ids of a string\n"
     << "  eval MODEL (--text FILE... | --tokens FILE.safetensors[:TENSOR])\n"
     << "       [--seq-len N] [--max-windows N] [--batch N] [--warmup N] [--remove block:I,J|ssm:I ...]\n"
     << "       [--pruning-config FILE] [--json]        perplexity, optionally with components removed\n"
     << "  search MODEL --granularity block|ssm --steps N (--calib-text FILE... | --calib-tokens FILE[:T])\n"
     << "       [--metric ppl|cosine|accuracy] [--target-params-pct P] [--max-ppl X] [--seq-len N] [--windows N]\n"
     << "       [--seed S] [--batch N] [--remove ...] [--pruning-config F] [--no-prefix-cache]\n"
     << "       [--cache-every K] [--cache-memory-mb M] [--out DIR [--resume]] [--json]\n"
     << "       [--task F [--accuracy-norm]] [--eval-task F... | --eval-demo-tasks] [--max-items N]\n"
     << "       [--world-size N --rank R --master ADDR:PORT] [--dist-backend auto|nccl|gloo|store]\n"
     << "       [--dist-timeout S]  (distributed: or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, see launch)\n"
     << "       [--bench [--bench-batch B] [--bench-length L] [--bench-decode-tokens N] [--bench-repeats R]]\n"
     << "                                               greedy Mamba-Shedder search\n"
     << "  export MODEL (--remove ... | --pruning-config F | --journal F --step K) --out DIR [--force]\n"
     << "       [--eval-text FILE... | --eval-tokens F] [--seq-len N]   write the pruned checkpoint\n"
     << "  create-model DIR --arch mamba|mamba2 [--layers N] [--hidden N] [--state N] [--expand E]\n"
     << "       [--head-dim N] [--groups N] [--tokenizer tokenizer.json] [--seed S] [--force]\n"
     << "                                               a small random model (byte-level tokenizer by default)\n"
     << "  tune MODEL --train-text FILE... --out DIR [--valid-text FILE...] [--steps N] [--lr X] [--lora R]\n"
     << "       [--lora-alpha A] [--batch N] [--accumulate N] [--seq-len N] [--warmup N] [--min-lr-ratio X]\n"
     << "       [--clip X] [--weight-decay X] [--seed S] [--eval-every K] [--valid-windows N]\n"
     << "       [--checkpoint-every K] [--remove ... | --pruning-config F] [--save-dtype F32|BF16|F16]\n"
     << "       [--resume | --force] [--keep-checkpoint] [--device cpu|cuda|auto] [--json]\n"
     << "                                               recovery tuning (or training from scratch)\n"
     << "  build-corpus --out DIR [--fortunes DIR] [--kjv FILE] [--valid-pct P] [--test-pct P]\n"
     << "       [--calibration-docs N] [--seed S] [--force] build the demo corpus from Debian packages\n"
     << "  train-tokenizer --text FILE... --vocab-size N [--min-frequency F] --out FILE [--force] [--json]\n"
     << "                                               train a byte-level BPE tokenizer.json\n"
     << "  accuracy MODEL (--task FILE.jsonl... | --demo-tasks) [--max-items N] [--max-length N] [--batch N]\n"
     << "       [--no-share-context] [--remove ...] [--pruning-config F] [--json]\n"
     << "                                               zero-shot accuracy (lm-evaluation-harness scoring)\n"
     << "  generate MODEL --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K] [--seed S]\n"
     << "       [--no-stop] [--remove ...] [--json]     text generation (recurrent step mode)\n"
     << "  bench MODEL [--batch B] [--length L] [--prompt P] [--decode-tokens N] [--repeats R] [--warmup W]\n"
     << "       [--remove ...] [--no-baseline] [--json] prefill tokens/s, decode ms/token, peak memory\n"
     << "  make-demo-tasks TEXT... --out DIR [--seed S] [--items N] [--choices C] [--split-on LINE] [--force]\n"
     << "                                               built-in demo tasks from held-out text\n"
     << "  convert-task FORMAT EXPORT --out FILE.jsonl [--force]\n"
     << "                                               a Hugging Face export of lambada_openai, hellaswag,\n"
     << "                                               piqa, arc_easy, arc_challenge, winogrande, openbookqa\n"
     << "  launch --nproc N [--master-port P] [--] COMMAND ARGS...\n"
     << "                                               N copies of a command as one distributed group on this\n"
     << "                                               host (sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)\n"
     << "  hybrid info|eval|search|export MODEL [--tokens F[:T] | --text FILE... [--seq-len N]] [--max-windows N]\n"
     << "       [--batch N] [--remove ID,...] [--granularity block|ssm|shared|attn|mlp|head|channel|ssm-head]\n"
     << "       [--steps N] [--channel-group G] [--reorder-channels] [--mlp-tail-groups] [--out DIR [--resume]] [--force]\n"
     << "                                               Zamba2 / Hymba hybrid models (CPU): components by id\n"
     << "\n"
     << "common options: --threads N (default: all cores), --device cpu|cuda[:N]|auto, --dtype auto|float32|bfloat16|float16\n"
     << "                (compute dtype on a GPU; the CPU computes in float32), --json\n"
     << "MODEL is a folder with config.json, weights (*.safetensors or pytorch_model.bin) and tokenizer.json.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    usage(words.empty() ? std::cerr : std::cout);
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version" || words[0] == "version") {
    std::cout << "shedder-cli " << SHEDDER_VERSION << "\n";
    return 0;
  }
  const std::string cmd = words[0];
  std::vector<std::string> rest(words.begin() + 1, words.end());
  try {
    if (cmd == "info") return shedder::cli::cmd_info(rest);
    if (cmd == "tokenize") return shedder::cli::cmd_tokenize(rest);
    if (cmd == "eval") return shedder::cli::cmd_eval(rest);
    if (cmd == "search") return shedder::cli::cmd_search(rest);
    if (cmd == "export") return shedder::cli::cmd_export(rest);
    if (cmd == "create-model") return shedder::cli::cmd_create_model(rest);
    if (cmd == "train-tokenizer") return shedder::cli::cmd_train_tokenizer(rest);
    if (cmd == "tune") return shedder::cli::cmd_tune(rest);
    if (cmd == "build-corpus") return shedder::cli::cmd_build_corpus(rest);
    if (cmd == "accuracy") return shedder::cli::cmd_accuracy(rest);
    if (cmd == "generate") return shedder::cli::cmd_generate(rest);
    if (cmd == "bench") return shedder::cli::cmd_bench(rest);
    if (cmd == "make-demo-tasks") return shedder::cli::cmd_make_demo_tasks(rest);
    if (cmd == "convert-task") return shedder::cli::cmd_convert_task(rest);
    if (cmd == "launch") return shedder::cli::cmd_launch(rest);
    if (cmd == "hybrid") return shedder::cli::cmd_hybrid(rest);
    std::cerr << "shedder-cli: unknown command '" << cmd << "' (see shedder-cli --help)\n";
    return 2;
  } catch (const shedder::Cancelled&) {
    std::cerr << "shedder-cli: cancelled\n";
    return 130;
  } catch (const shedder::Error& e) {
    std::cerr << "shedder-cli: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    std::cerr << "shedder-cli: internal error: " << msg << "\n";
    return 3;
  }
}

// `shedder-cli tune MODEL --train-text FILE... --out DIR ...`: recovery tuning of a (pruned) model, full or
// LoRA, and training from scratch of a model made by create-model. With --remove / --pruning-config the
// components are first removed physically (as `export` does) and the pruned model is tuned.
// Ctrl-C stops at the next step with a checkpoint in DIR/checkpoint; --resume continues it.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "export/exporter.h"
#include "shed/search.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder::cli {

namespace {

CancelToken g_cancel;
extern "C" void on_tune_sigint(int) { g_cancel.cancel(); }

}  // namespace

const CommandSpec& tune_spec() {
  static const CommandSpec spec{
      "tune", "MODEL", "recovery tuning of a (pruned) model, full or LoRA, or training from scratch",
      "With --remove / --pruning-config the components are first removed physically (as export does) and the pruned "
      "model is tuned. AdamW with decoupled weight decay (matrices only; betas 0.9/0.95), linear warm-up and cosine "
      "decay to --min-lr-ratio x lr, global gradient-norm clipping; training windows are visited in a seeded "
      "per-epoch permutation.\n\n"
      "Checkpoints go to OUT/checkpoint (every --checkpoint-every steps and on Ctrl-C); running the same command "
      "with --resume continues bit-identically. The result is a model folder in OUT with tune_report.json.",
      join({multi("train-text", "FILE...", "training text or JSONL files (required)"),
            multi("valid-text", "FILE...", "validation text or JSONL files (perplexity at start, end and every "
                                           "--eval-every steps)"),
            opt("out", "DIR", "", "the tuned model folder (required)"),
            opt("steps", "N", "200", "optimizer steps"),
            opt("lr", "X", "1e-3", "peak learning rate"),
            opt("min-lr-ratio", "X", "0.1", "the cosine decay ends at this fraction of --lr, in [0, 1]"),
            opt("warmup", "N", "5 % of --steps", "linear warm-up steps"),
            opt("batch", "N", "8", "windows per micro-batch"),
            opt("accumulate", "N", "1", "micro-batches per optimizer step"),
            opt("seq-len", "N", "256", "tokens per training window"),
            opt("clip", "X", "1.0", "global gradient-norm clipping; <= 0: off"),
            opt("weight-decay", "X", "0.1", "AdamW weight decay (matrices only)"),
            opt("seed", "S", "0", "seed of the window order (and LoRA initialisation)"),
            opt("lora", "R", "0", "train rank-R adapters on the architecture's targets (Mamba: every in_proj and out_proj; "
                                  "Zamba2: the shared blocks' q/k/v/o and down projections; Hymba: the MLPs' "
                                  "gate/up/down), merged when saving; 0: full fine-tuning"),
            opt("lora-alpha", "A", "0", "LoRA scale numerator (scale A/R); 0: R"),
            opt("eval-every", "K", "50", "validation perplexity every K steps; 0: at start and end only"),
            opt("valid-windows", "N", "32", "at most this many validation windows"),
            opt("checkpoint-every", "K", "50", "checkpoint every K steps; 0: only on Ctrl-C"),
            opt("log-every", "K", "10", "progress line every K steps"),
            opt("save-dtype", "F32|BF16|F16", "the source's", "dtype of the saved weights")},
           join(join(removal_options(), model_options()),
                {flag("resume", "continue from OUT/checkpoint"),
                 flag("force", "replace an existing OUT"),
                 flag("keep-checkpoint", "keep OUT/checkpoint after the run")}))};
  return spec;
}

int cmd_tune(const Args& args) {
  const CommonOptions common = apply_common(args);
  std::string dir = model_arg(args, "tune");
  if (common.dtype != "auto" && common.dtype != "float32" && common.dtype != "fp32" && common.dtype != "f32")
    throw Error("tune: training computes in float32, --dtype " + common.dtype +
                " does not apply (the saved weights' dtype is --save-dtype F32|BF16|F16)");

  TuneOptions o;
  o.train_files = args.all("train-text");
  o.valid_files = args.all("valid-text");
  o.out_dir = args.get("out");
  o.steps = args.get_int("steps");
  o.lr = args.get_double("lr");
  o.min_lr_ratio = args.get_double("min-lr-ratio");
  if (args.has("warmup")) o.warmup = args.get_int("warmup");  // else TuneOptions' 5 % of the steps
  o.batch = args.get_int("batch");
  o.accumulate = args.get_int("accumulate");
  o.seq_len = args.get_int("seq-len");
  o.clip = args.get_double("clip");
  o.weight_decay = args.get_double("weight-decay");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.lora.rank = args.get_int("lora");
  o.lora.alpha = args.get_double("lora-alpha");
  o.eval_every = args.get_int("eval-every");
  o.valid_windows = args.get_int("valid-windows");
  o.checkpoint_every = args.get_int("checkpoint-every");
  o.log_every = args.get_int("log-every");
  if (args.has("save-dtype")) o.dtype = args.get("save-dtype");  // else the source's
  o.resume = args.flag("resume");
  o.force = args.flag("force");
  o.keep_checkpoint = args.flag("keep-checkpoint");
  o.device = common.device;
  if (o.resume && o.force) throw Error("tune: --resume and --force exclude each other");
  if (o.out_dir.empty()) throw Error("tune: missing --out DIR");
  if (o.train_files.empty()) throw Error("tune: missing --train-text FILE...");
  if (o.eval_every < 0 || o.valid_windows < 1 || o.checkpoint_every < 0 || o.log_every < 1)
    throw Error("tune: --eval-every/--checkpoint-every must be >= 0, --valid-windows/--log-every >= 1");
  if (o.min_lr_ratio < 0 || o.min_lr_ratio > 1) throw Error("tune: --min-lr-ratio must be in [0, 1]");
  o.args = nlohmann::json::object();
  o.args["model"] = dir;
  for (const auto& w : args.words()) o.args["argv"].push_back(w);

  // Components to remove first: exported (physically removed) into a scratch folder beside --out.
  std::string scratch;
  if (args.has("remove") || args.has("pruning-config")) {
    CommonOptions on_cpu = common;  // the export reads the stored weights; the model only resolves the removal set
    on_cpu.device = "cpu";
    on_cpu.dtype = "auto";
    auto model = load_model(dir, on_cpu, &args);
    const RemovalSet removed = removal_from_args(*model, args);
    const fs::path outp = fs::absolute(o.out_dir).lexically_normal();
    // A stable name: the checkpoint records the model folder, so a --resume must find the same path.
    scratch = (outp.parent_path() / ("." + outp.filename().string() + ".pruned-input")).string();
    ExportOptions eo;
    eo.out_dir = scratch;
    eo.force = true;
    eo.pruning_extra = removal_context(*model, removed);
    export_pruned(*model, removed, eo);
    std::string ids;
    for (const auto& id : removed.ids()) ids += (ids.empty() ? "" : ", ") + id;
    std::fprintf(stderr, "tune: removed %s before tuning\n", ids.empty() ? "nothing" : ids.c_str());
    dir = scratch;
  }

  TuneCallbacks cb;
  const bool tty = isatty(STDERR_FILENO) != 0;
  cb.on_log = [&](const TuneLog& l) {
    if (common.json) {
      std::cerr << l.to_json().dump() << "\n";
      return;
    }
    std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s", tty ? "\r" : "",
                 static_cast<long long>(l.step), static_cast<long long>(l.steps), l.loss, l.lr, l.grad_norm,
                 l.tokens_per_s);
    if (l.valid_ppl) std::fprintf(stderr, "  valid ppl %.4f", *l.valid_ppl);
    if (l.eta_s >= 0) std::fprintf(stderr, "  ETA %.0fs", l.eta_s);
    std::fprintf(stderr, "   \n");
  };
  install_cancel_signals(on_tune_sigint);
  TuneResult r;
  try {
    r = run_tuning(dir, o, cb, &g_cancel);
  } catch (const Cancelled&) {
    restore_cancel_signals();
    if (!scratch.empty()) remove_tree(scratch);
    std::cerr << "tune: cancelled; the last checkpoint is in " << o.out_dir
              << "/checkpoint (run the same command with --resume to continue)\n";
    return 130;
  } catch (...) {
    restore_cancel_signals();
    if (!scratch.empty()) remove_tree(scratch);
    throw;
  }
  restore_cancel_signals();
  if (!scratch.empty()) remove_tree(scratch);
  if (common.json) {
    std::cout << r.report.dump(2) << "\n";
  } else {
    std::printf("tuned model: %s (%s, %lld trainable parameters)\n", o.out_dir.c_str(),
                o.lora.rank > 0 ? "LoRA merged" : "full fine-tuning", static_cast<long long>(r.trainable_params));
    if (r.valid_ppl_before && r.valid_ppl_after)
      std::printf("validation perplexity: %.4f -> %.4f\n", *r.valid_ppl_before, *r.valid_ppl_after);
    std::printf("time: %.1f s (%lld tokens in this process)\n", r.seconds, static_cast<long long>(r.tokens_seen));
  }
  return 0;
}

}  // namespace shedder::cli

// Recovery tuning (and training from scratch, which is tuning a freshly initialised model): AdamW with
// warm-up + cosine schedule, gradient clipping and accumulation, full fine-tuning or LoRA, validation
// perplexity every K steps, atomic checkpoints in OUT/checkpoint that a cancelled or crashed run resumes
// from, and the tuned model folder written into OUT at the end. Progress and cancel work as for the search.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/progress.h"
#include "train/trainable_model.h"

namespace shedder {

struct TuneOptions {
  std::vector<std::string> train_files;   // text / JSONL (read_documents)
  std::vector<std::string> valid_files;   // empty: no validation
  std::string out_dir;
  int64_t steps = 200;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;   // cosine decays to lr * this
  int64_t warmup = -1;         // < 0: 5% of the steps
  int64_t batch = 8;           // windows per micro-batch
  int64_t accumulate = 1;      // micro-batches per optimizer step
  int64_t seq_len = 256;
  double clip = 1.0;           // global gradient norm (<= 0: off)
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95;
  uint64_t seed = 0;
  LoraOptions lora;
  int64_t eval_every = 50;     // validation perplexity every K steps (and at start and end); 0: start/end only
  int64_t valid_windows = 32;  // at most this many validation windows
  int64_t checkpoint_every = 50;
  int64_t log_every = 10;
  std::string device = "cpu";  // "cpu", "cuda", "cuda:1", "auto"
  std::string dtype;           // saved weights: "" = the source's, or F32/BF16/F16
  bool resume = false;         // continue OUT/checkpoint
  bool force = false;          // replace an existing OUT
  bool keep_checkpoint = false;
  nlohmann::json args;         // recorded in the report
};

struct TuneLog {
  int64_t step = 0, steps = 0;
  double loss = 0;             // mean training loss over the steps since the last log
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;
  double elapsed_s = 0;
  double eta_s = -1;
  std::optional<double> valid_ppl;  // set on validation steps
  nlohmann::json to_json() const;
};

struct TuneCallbacks {
  ProgressFn progress;                          // stage "tune", done/total = steps
  std::function<void(const TuneLog&)> on_log;   // every log_every steps and on every validation
};

struct TuneResult {
  std::optional<double> valid_ppl_before, valid_ppl_after;
  int64_t steps_done = 0;        // total steps, including those of a resumed run
  int64_t resumed_from = 0;      // step the run continued from (0: fresh)
  int64_t trainable_params = 0;
  int64_t tokens_seen = 0;       // in this process
  double seconds = 0;
  std::vector<TuneLog> history;  // whole run (resumed part included)
  nlohmann::json report;         // OUT/tune_report.json
};

// Tunes the model folder `model_dir`. Throws shedder::Cancelled when `cancel` is set (a checkpoint of the
// last finished step is in OUT/checkpoint; --resume continues it), shedder::Error on bad input or divergence.
TuneResult run_tuning(const std::string& model_dir, const TuneOptions& opts, const TuneCallbacks& cb = {},
                      const CancelToken* cancel = nullptr);

}  // namespace shedder

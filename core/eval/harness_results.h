// Accuracy results in lm-evaluation-harness's results-file layout (v0.4, `--output_path`): results_<timestamp>.json
// with "results" → task → "acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none", "perplexity,none"
// ("alias" too), "n-samples", "n-shot", "versions", "higher_is_better" and "config", so that tools that read harness
// output read ours. Standard errors are the harness's for mean metrics: the sample standard deviation (n − 1) over
// √n. The harness bootstraps perplexity's standard error with Python's random module; that is not reproduced, and
// "perplexity_stderr,none" is "N/A", as the harness writes when it computes none.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/accuracy.h"

namespace shedder {

// The harness's mean_stderr: sqrt(Σ(x − mean)² / (n − 1)) / √n. NaN when n < 2.
double mean_stderr(const std::vector<double>& xs);

struct HarnessRunInfo {
  std::string model_dir;
  std::vector<std::string> removed;  // components removed for this evaluation (in "config")
  int64_t batch = 1;
  int64_t limit = 0;  // --max-items (0: none)
  std::string device = "cpu";
  double seconds = 0;
};

// The results file of `tasks`; every task needs its per-item details (AccuracyOptions::keep_items).
nlohmann::json harness_results(const std::vector<TaskResult>& tasks, const HarnessRunInfo& info);

// results_<YYYY-MM-DDTHH-MM-SS.ffffff>.json for the current time, as the harness names it.
std::string harness_results_file_name();

}  // namespace shedder

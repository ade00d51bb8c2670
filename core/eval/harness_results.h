// Accuracy results in lm-evaluation-harness's results-file layout (v0.4, `--output_path`): results_<timestamp>.json
// with "results" → task → "acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none", "perplexity,none"
// ("alias" too), "n-samples", "n-shot", "versions", "higher_is_better" and "config", so that tools that read harness
// output read ours; "task_hashes" as the harness writes it (filled when samples are logged, see harness_samples.h).
// Standard errors are the harness's for mean metrics: the sample standard deviation (n − 1) over
// √n. The harness bootstraps perplexity's standard error with Python's random module; that is not reproduced, and
// "perplexity_stderr,none" is "N/A", as the harness writes when it computes none.
//
// read_harness_results reads such a file back — ours or one the harness wrote — for comparisons and model cards.
#pragma once

#include <nlohmann/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/accuracy.h"

namespace shedder {

// The harness's mean_stderr: sqrt(Σ(x − mean)² / (n − 1)) / √n. NaN when n < 2.
double mean_stderr(const std::vector<double>& xs);
// mean_stderr of n scores that are each 0 or 1 with mean p (acc, acc_norm), from p and n alone:
// sqrt(p (1 − p) / (n − 1)). NaN when n < 2. What a summary without per-item records (a search journal) allows.
double binary_mean_stderr(double p, int64_t n);

struct HarnessRunInfo {
  std::string model_dir;
  std::vector<std::string> removed;  // components removed for this evaluation (in "config")
  int64_t batch = 1;
  int64_t limit = 0;  // --max-items (0: none)
  std::string device = "cpu";
  double seconds = 0;
  std::map<std::string, std::string> task_hashes;  // with logged samples: task → harness_task_hash
};

// The results file of `tasks`; every task needs its per-item details (AccuracyOptions::keep_items).
nlohmann::json harness_results(const std::vector<TaskResult>& tasks, const HarnessRunInfo& info);

// The harness's date_id of the current local time: datetime.now().isoformat() with ':' → '-'
// ("2024-06-01T10-20-30.123456"; no fraction when the microseconds are 0, as isoformat writes it).
std::string harness_date_id();
// results_<date_id>.json, as the harness names it (the results file and the samples files of a run share date_id).
std::string harness_results_file_name(const std::string& date_id);
std::string harness_results_file_name();  // for the current time

// One task of a harness results file. A metric is read from "<metric>,none" (else the first "<metric>,<filter>" key
// of the task, else a bare "<metric>" as v0.3 wrote) and its standard error from "<metric>_stderr,<same filter>";
// absent, null, "N/A" or NaN values are nullopt.
struct HarnessTaskScores {
  std::string task;
  std::optional<double> acc, acc_stderr, acc_norm, acc_norm_stderr, perplexity;
  int64_t n_samples = 0;  // "n-samples" → task → "effective" (0 when absent)
};
struct HarnessResultsFile {
  std::string model;  // config.model_args "pretrained=..." value, else config.model_name, else the file's folder name
  std::string path;
  std::vector<HarnessTaskScores> tasks;  // in the file's order of "results"
};
// Throws shedder::Error naming `path` when it is not a harness results file.
// (model_args may be the harness's "k=v,k=v" string or a {"pretrained": ...} object; the top-level "model_name"
// that the harness's tracker writes is taken after config.model_name.) A results file is a JSON object with a
// non-empty "results" object of task objects; a metric of another type than a number or "N/A" is refused too.
HarnessResultsFile read_harness_results(const std::string& path);

}  // namespace shedder

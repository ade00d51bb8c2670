// Results in lm-evaluation-harness's layout (see harness_results.h).
#include "eval/harness_results.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

#include "util/error.h"

namespace shedder {

namespace {

nlohmann::json stderr_value(double v) {
  if (std::isfinite(v)) return v;
  return "N/A";
}

}  // namespace

double mean_stderr(const std::vector<double>& xs) {
  const size_t n = xs.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= static_cast<double>(n);
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(n - 1)) / std::sqrt(static_cast<double>(n));
}

nlohmann::json harness_results(const std::vector<TaskResult>& tasks, const HarnessRunInfo& info) {
  nlohmann::json results = nlohmann::json::object(), samples = nlohmann::json::object(),
                 shots = nlohmann::json::object(), versions = nlohmann::json::object(),
                 better = nlohmann::json::object();
  for (const TaskResult& t : tasks) {
    if (static_cast<int64_t>(t.details.size()) != t.items)
      throw InternalError("harness_results: task '" + t.name + "' was scored without its per-item details");
    std::vector<double> acc, acc_norm;
    for (const ItemResult& it : t.details) {
      acc.push_back(it.correct ? 1.0 : 0.0);
      acc_norm.push_back(it.correct_norm ? 1.0 : 0.0);
    }
    nlohmann::json r;
    r["alias"] = t.name;
    r["acc,none"] = t.acc;
    r["acc_stderr,none"] = stderr_value(mean_stderr(acc));
    nlohmann::json hib = {{"acc", true}};
    if (t.acc_norm) {
      r["acc_norm,none"] = *t.acc_norm;
      r["acc_norm_stderr,none"] = stderr_value(mean_stderr(acc_norm));
      hib["acc_norm"] = true;
    }
    if (t.perplexity) {
      r["perplexity,none"] = *t.perplexity;
      r["perplexity_stderr,none"] = "N/A";
      hib["perplexity"] = false;
    }
    results[t.name] = r;
    samples[t.name] = {{"original", t.items}, {"effective", t.items}};
    shots[t.name] = 0;
    versions[t.name] = std::string("shedder-") + task_kind_name(t.kind);
    better[t.name] = hib;
  }
  std::string removed;
  for (const std::string& id : info.removed) removed += (removed.empty() ? "" : ",") + id;
  nlohmann::json config = {
      {"model", "mamba-shedder"},
      {"model_args", "pretrained=" + info.model_dir + (removed.empty() ? "" : ",remove=" + removed)},
      {"batch_size", info.batch},
      {"limit", info.limit > 0 ? nlohmann::json(info.limit) : nlohmann::json(nullptr)},
      {"device", info.device}};
  return {{"results", results},
          {"n-samples", samples},
          {"n-shot", shots},
          {"versions", versions},
          {"higher_is_better", better},
          {"config", config},
          {"model_name", info.model_dir},
          {"date", static_cast<double>(std::time(nullptr))},
          {"total_evaluation_time_seconds", std::to_string(info.seconds)}};
}

std::string harness_results_file_name() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "results_%s.%06lld.json", buf, static_cast<long long>(micros));
  return out;
}

}  // namespace shedder

// Results in lm-evaluation-harness's layout (see harness_results.h).
#include "eval/harness_results.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>

#include "util/error.h"
#include "util/file_util.h"
#include "util/json_util.h"

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

double binary_mean_stderr(double p, int64_t n) {
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(std::max(0.0, p * (1.0 - p)) / static_cast<double>(n - 1));
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
  // model_args is the harness's "k=v,k=v" text: the removed ids are joined with ';' so that it still parses.
  std::string removed;
  for (const std::string& id : info.removed) removed += (removed.empty() ? "" : ";") + id;
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
          {"task_hashes", info.task_hashes},
          {"total_evaluation_time_seconds", std::to_string(info.seconds)}};
}

std::string harness_date_id() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%S", &tm);
  if (micros == 0) return buf;
  char out[96];
  std::snprintf(out, sizeof out, "%s.%06lld", buf, static_cast<long long>(micros));
  return out;
}

std::string harness_results_file_name(const std::string& date_id) { return "results_" + date_id + ".json"; }

std::string harness_results_file_name() { return harness_results_file_name(harness_date_id()); }

namespace {

// The filter under which `metric` is reported in task `t` ("none" first, else the first "<metric>,<filter>" key in
// the file's order); "" for a bare "<metric>" key (v0.3); nullopt when the task has no such metric.
std::optional<std::string> metric_filter(const nlohmann::ordered_json& t, const std::string& metric) {
  if (t.contains(metric + ",none")) return std::string("none");
  for (const auto& [key, v] : t.items())
    if (key.size() > metric.size() + 1 && key.compare(0, metric.size() + 1, metric + ",") == 0)
      return key.substr(metric.size() + 1);
  if (t.contains(metric)) return std::string();
  return std::nullopt;
}

// A metric value: a number (NaN: nullopt), "N/A" or null (nullopt); anything else is refused.
std::optional<double> metric_value(const nlohmann::ordered_json& t, const std::string& key, const std::string& path,
                                   const std::string& task) {
  if (!t.contains(key)) return std::nullopt;
  const nlohmann::ordered_json& v = t[key];
  if (v.is_null() || (v.is_string() && v.get<std::string>() == "N/A")) return std::nullopt;
  double x = 0;
  if (v.is_number() && !v.is_boolean()) {
    x = v.get<double>();
  } else {
    try {
      x = json_float(nlohmann::json::parse(v.dump()), key);
    } catch (const Error&) {
      throw Error(path + ": task \"" + task + "\": \"" + key + "\" is not a number (got " + v.dump() + ")");
    }
  }
  if (std::isnan(x)) return std::nullopt;
  return x;
}

std::string model_of(const nlohmann::ordered_json& j, const std::string& path) {
  if (j.contains("config") && j["config"].is_object()) {
    const auto& c = j["config"];
    if (c.contains("model_args")) {
      const auto& a = c["model_args"];
      if (a.is_object() && a.contains("pretrained") && a["pretrained"].is_string())
        return a["pretrained"].get<std::string>();
      if (a.is_string()) {
        const std::string s = a.get<std::string>();
        size_t start = 0;
        while (start <= s.size()) {
          const size_t end = std::min(s.find(',', start), s.size());
          const std::string kv = s.substr(start, end - start);
          if (kv.rfind("pretrained=", 0) == 0 && kv.size() > 11) return kv.substr(11);
          start = end + 1;
        }
      }
    }
    if (c.contains("model_name") && c["model_name"].is_string() && !c["model_name"].get<std::string>().empty())
      return c["model_name"].get<std::string>();
  }
  if (j.contains("model_name") && j["model_name"].is_string() && !j["model_name"].get<std::string>().empty())
    return j["model_name"].get<std::string>();
  return std::filesystem::absolute(path).parent_path().filename().string();
}

}  // namespace

HarnessResultsFile read_harness_results(const std::string& path) {
  const nlohmann::ordered_json j = parse_ordered_json_lenient(read_file_bytes(path), path);
  if (!j.is_object() || !j.contains("results") || !j["results"].is_object())
    throw Error(path + ": not an lm-evaluation-harness results file (no \"results\" object)");
  if (j["results"].empty()) throw Error(path + ": the harness results file has no tasks in \"results\"");
  HarnessResultsFile f;
  f.path = path;
  f.model = model_of(j, path);
  const nlohmann::ordered_json no_counts = nlohmann::ordered_json::object();
  const nlohmann::ordered_json& counts =
      j.contains("n-samples") && j["n-samples"].is_object() ? j["n-samples"] : no_counts;
  for (const auto& [name, t] : j["results"].items()) {
    if (!t.is_object())
      throw Error(path + ": \"results\" → \"" + name + "\" is not an object of metrics (not a harness results file)");
    HarnessTaskScores s;
    s.task = name;
    auto read = [&](const std::string& metric, std::optional<double>* value, std::optional<double>* se) {
      const std::optional<std::string> filter = metric_filter(t, metric);
      if (!filter) return;
      const std::string suffix = filter->empty() ? "" : "," + *filter;
      *value = metric_value(t, metric + suffix, path, name);
      if (se) *se = metric_value(t, metric + "_stderr" + suffix, path, name);
    };
    read("acc", &s.acc, &s.acc_stderr);
    read("acc_norm", &s.acc_norm, &s.acc_norm_stderr);
    read("perplexity", &s.perplexity, nullptr);
    if (counts.contains(name) && counts[name].is_object() && counts[name].contains("effective")) {
      const auto& e = counts[name]["effective"];
      if (!e.is_number_integer() || e.get<int64_t>() < 0)
        throw Error(path + ": \"n-samples\" → \"" + name + "\" → \"effective\" is not a count (got " + e.dump() +
                    ")");
      s.n_samples = e.get<int64_t>();
    }
    f.tasks.push_back(std::move(s));
  }
  return f;
}

}  // namespace shedder

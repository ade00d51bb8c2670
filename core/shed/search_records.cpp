// The search's records (see search.h): metric names, the pick rule, steps and results as JSON (journal and
// search_result.json) and the reference tool's pruning configs.
#include "shed/search.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::Perplexity: return "ppl";
    case Metric::Cosine: return "cosine";
    case Metric::Accuracy: return "accuracy";
  }
  return "?";
}

std::optional<Metric> parse_metric(const std::string& s) {
  if (s == "ppl" || s == "perplexity") return Metric::Perplexity;
  if (s == "cosine" || s == "cos" || s == "block-influence") return Metric::Cosine;
  if (s == "accuracy" || s == "acc") return Metric::Accuracy;
  return std::nullopt;
}

namespace {

// The reference tool's name of a granularity in its file names ("mamba_block", "ssm"); ours for the others.
std::string target_name(Granularity g) { return g == Granularity::Block ? "mamba_block" : granularity_name(g); }

// A score that is not a finite number (a removal that breaks the model) is written as null with the reason.
void put_score(nlohmann::json& j, const char* field, double v) {
  if (std::isfinite(v)) {
    j[field] = v;
  } else {
    j[field] = nullptr;
    j["invalid"] = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  }
}

double get_score(const nlohmann::json& j, const char* field) {
  const nlohmann::json& v = j.at(field);
  if (!v.is_null()) return v.get<double>();
  const std::string why = j.value("invalid", std::string("nan"));
  return why == "inf" ? std::numeric_limits<double>::infinity()
                      : why == "-inf" ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
}

const char* candidate_field(Metric m) {
  return m == Metric::Perplexity ? "ppl" : m == Metric::Accuracy ? "acc" : "score";
}

}  // namespace

nlohmann::json accuracy_to_json(const std::vector<TaskResult>& acc) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& t : acc) j[t.name] = t.to_json();
  return j;
}

std::vector<TaskResult> accuracy_from_json(const nlohmann::json& j, const std::string& label) {
  std::vector<TaskResult> out;
  if (!j.is_object()) throw Error(label + ": malformed accuracy record");
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(TaskResult::from_json(it.key(), it.value(), label));
  return out;
}

void measurements_to_json(nlohmann::json& j, const std::optional<BenchResult>& bench, const std::vector<TaskResult>& acc) {
  if (bench) j["bench"] = bench->to_json();
  if (!acc.empty()) j["accuracy"] = accuracy_to_json(acc);
}

std::optional<size_t> best_candidate(const std::vector<double>& scores, const std::vector<double>& logliks, Metric m) {
  std::optional<size_t> best;
  for (size_t k = 0; k < scores.size(); ++k) {
    if (!std::isfinite(scores[k])) continue;  // never wins
    if (!best) {
      best = k;
    } else if (m == Metric::Accuracy) {
      // Highest accuracy; ties: the higher gold log-likelihood, then the lowest index.
      const size_t b = *best;
      if (scores[k] > scores[b] || (scores[k] == scores[b] && logliks[k] > logliks[b])) best = k;
    } else if (scores[k] < scores[*best]) {
      best = k;  // strict: ties go to the lowest index, as the reference
    }
  }
  return best;
}

nlohmann::json step_to_json(const SearchStep& s, Metric m) {
  nlohmann::json j;
  j["step"] = s.step;
  j["removed"] = s.id;
  j["index"] = s.index;
  j["ppl"] = s.ppl;
  j["score"] = s.score;
  j["params_removed"] = s.params_removed;
  j["params_removed_pct"] = s.params_removed_pct;
  j["seconds"] = s.seconds;
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& c : s.candidates) {
    nlohmann::json cj{{"index", c.index}, {"id", c.id}};
    put_score(cj, c.lower_bound ? "ppl_at_least" : candidate_field(m), c.score);
    if (m == Metric::Accuracy) cj["gold_loglik"] = c.loglik;
    cands.push_back(cj);
  }
  j["candidates"] = cands;
  measurements_to_json(j, s.bench, s.accuracy);
  return j;
}

SearchStep step_from_json(const nlohmann::json& j, Metric m, const std::string& label) {
  try {
    SearchStep s;
    s.step = j.at("step").get<int64_t>();
    s.id = ComponentId::parse(j.at("removed").get<std::string>()).str();
    s.index = j.at("index").get<int64_t>();
    s.ppl = j.at("ppl").is_null() ? std::numeric_limits<double>::quiet_NaN() : j.at("ppl").get<double>();
    s.score = j.at("score").get<double>();
    s.params_removed = j.at("params_removed").get<int64_t>();
    s.params_removed_pct = j.at("params_removed_pct").get<double>();
    s.seconds = j.value("seconds", 0.0);
    for (const auto& c : j.at("candidates")) {
      const bool bound = m == Metric::Perplexity && c.contains("ppl_at_least");
      s.candidates.push_back({c.at("index").get<int64_t>(), c.value("id", std::string()),
                              get_score(c, bound ? "ppl_at_least" : candidate_field(m)), c.value("gold_loglik", 0.0), bound});
    }
    if (j.contains("bench")) s.bench = BenchResult::from_json(j["bench"]);
    if (j.contains("accuracy")) s.accuracy = accuracy_from_json(j["accuracy"], label);
    return s;
  } catch (const std::exception& e) {
    throw Error(label + ": malformed step record: " + e.what());
  }
}

nlohmann::json SearchResult::to_json(Granularity g, Metric m) const {
  nlohmann::json j;
  j["granularity"] = granularity_name(g);
  j["metric"] = metric_name(m);
  j["base_ppl"] = base_ppl;
  j["total_params"] = total_params;
  j["steps"] = nlohmann::json::array();
  for (const auto& s : steps) j["steps"].push_back(step_to_json(s, m));
  j["evaluations"] = evaluations;
  j["blocks_run"] = layers_run;
  j["abandoned"] = abandoned;
  j["candidate_batch"] = candidate_batch;
  j["resumed_steps"] = resumed_steps;
  j["seconds"] = seconds;
  j["stop_reason"] = stop_reason;
  j["removed"] = removed.to_json();
  if (base_bench) j["base_bench"] = base_bench->to_json();
  if (!base_accuracy.empty()) j["base_accuracy"] = accuracy_to_json(base_accuracy);
  return j;
}

nlohmann::json removal_context(const Model& model, Granularity g) {
  nlohmann::json j = nlohmann::json::object();
  if (g == Granularity::SsmState) j["state_step"] = model.state_step();
  if (g == Granularity::MlpChannels || g == Granularity::MixerChannels) {
    j["mlp_channel_group"] = model.mlp_channel_group();
    if (model.mlp_channels_reordered()) j["mlp_channels_reordered"] = true;
    if (model.mlp_tail_groups()) j["mlp_tail_groups"] = true;
  }
  return j;
}

nlohmann::json removal_context(const Model& model, const RemovalSet& removed) {
  nlohmann::json j = nlohmann::json::object();
  for (const ComponentId& c : removed.items) {
    const nlohmann::json one = removal_context(model, c.kind);  // named: items() must not outlive its object
    for (auto& [k, v] : one.items()) j[k] = v;
  }
  return j;
}

void write_step_config(const std::string& dir, const RemovalSet& removed, Granularity g, int64_t step,
                       const nlohmann::json& extra) {
  const fs::path sub = fs::path(dir) / "pruned_model_configs";
  create_folder(sub.string());
  const std::string name = "config." + target_name(g) + "." + std::to_string(step) + ".json";
  write_file_atomic((sub / name).string(), removed.to_json(extra).dump(4) + "\n");
}

void write_pruning_configs(const std::string& dir, const SearchResult& result, Granularity g,
                           const nlohmann::json& extra) {
  // Rebuild the cumulative set step by step: the initial set is what is removed minus the searched steps.
  RemovalSet cumulative = result.removed;
  cumulative.items.resize(cumulative.items.size() - std::min(cumulative.items.size(), result.steps.size()));
  for (const auto& s : result.steps) {
    cumulative.add(ComponentId::parse(s.id));
    write_step_config(dir, cumulative, g, s.step, extra);
  }
  write_file_atomic((fs::path(dir) / "pruning_config.json").string(), result.removed.to_json(extra).dump(4) + "\n");
}

void write_search_outputs(const std::string& dir, const SearchResult& result, Granularity g, Metric m,
                          const nlohmann::json& extra) {
  write_pruning_configs(dir, result, g, extra);
  write_file_atomic((fs::path(dir) / "search_result.json").string(), result.to_json(g, m).dump(2) + "\n");
}

}  // namespace shedder

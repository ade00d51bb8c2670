// Model card and recipe of an export (see model_card.h).
#include "export/model_card.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "eval/harness_results.h"
#include "model/model.h"
#include "shed/journal.h"
#include "shed/search.h"
#include "util/error.h"
#include "util/number_format.h"
#include "util/json_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

constexpr const char* kRecipeFormat = "mamba-shedder-recipe";

// A YAML double-quoted scalar.
std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A word safe for sh without quotes, else single-quoted.
std::string sh_quoted(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    plain = plain &&
            (std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-,:=+@%").find(c) != std::string::npos);
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string with_commas(int64_t n) {
  std::string d = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return n < 0 ? "-" + out : out;
}


// The source's hub id when config.json names one ("_name_or_path": "state-spaces/mamba-130m-hf"), else the folder's
// name.
std::string base_model_name(const nlohmann::json& report, const nlohmann::json& config) {
  const std::string p = config.is_object() ? config.value("_name_or_path", std::string()) : std::string();
  const bool hub_id = !p.empty() && p.find('/') != std::string::npos && p.find('/') == p.rfind('/') && p[0] != '/' &&
                      p[0] != '.' && p.find(' ') == std::string::npos;
  if (hub_id) return p;
  return fs::path(report.value("source", std::string("model"))).filename().string();
}

// One task's row of the report's "accuracy": `metric`_before/_after (and _stderr_ when both are known).
void put(nlohmann::json& row, const std::string& metric, const std::optional<double>& before,
         const std::optional<double>& after) {
  if (!before || !after) return;
  row[metric + "_before"] = *before;
  row[metric + "_after"] = *after;
}

// The card's rows for the report's "accuracy": "| task metric | before | after |", values with 4 decimals and
// "± stderr" where the results files gave one.
std::string accuracy_rows(const nlohmann::json& accuracy) {
  std::string out;
  for (const auto& t : accuracy) {
    const std::string task = t.value("task", std::string("task"));
    for (const char* m : {"acc", "acc_norm", "perplexity"}) {
      const std::string b = std::string(m) + "_before", a = std::string(m) + "_after";
      if (!t.contains(b) || !t.contains(a)) continue;
      auto cell = [&](const std::string& key, const std::string& se) {
        std::string c = format_fixed(t[key].get<double>(), 4);
        if (t.contains(se)) c += " ± " + format_fixed(t[se].get<double>(), 4);
        return c;
      };
      out += "| " + task + " " + m + " | " + cell(b, std::string(m) + "_stderr_before") + " | " +
             cell(a, std::string(m) + "_stderr_after") + " |\n";
    }
  }
  return out;
}

nlohmann::json accuracy_from_results(const std::string& before_path, const std::string& after_path) {
  const HarnessResultsFile before = read_harness_results(before_path), after = read_harness_results(after_path);
  nlohmann::json rows = nlohmann::json::array();
  for (const HarnessTaskScores& b : before.tasks) {
    for (const HarnessTaskScores& a : after.tasks) {
      if (a.task != b.task) continue;
      nlohmann::json row = {{"task", b.task}};
      if (a.n_samples > 0) row["items"] = a.n_samples;
      put(row, "acc", b.acc, a.acc);
      put(row, "acc_stderr", b.acc_stderr, a.acc_stderr);
      put(row, "acc_norm", b.acc_norm, a.acc_norm);
      put(row, "acc_norm_stderr", b.acc_norm_stderr, a.acc_norm_stderr);
      put(row, "perplexity", b.perplexity, a.perplexity);
      if (row.contains("acc_before") || row.contains("acc_norm_before") || row.contains("perplexity_before"))
        rows.push_back(row);
    }
  }
  if (rows.empty())
    throw Error(before_path + " and " + after_path + ": the two harness results files share no task with scores");
  return {{"accuracy", rows},
          {"accuracy_measured_on", "lm-evaluation-harness results files " + before_path + " (before, " +
                                       before.model + ") and " + after_path + " (after, " + after.model + ")"}};
}

nlohmann::json accuracy_from_journal(const std::string& path, int64_t step) {
  const JournalContents c = Journal::read(path);
  std::vector<TaskResult> before, after;
  for (const auto& rec : c.records) {
    const std::string type = rec.value("type", "");
    if (type == "base" && rec.contains("accuracy")) before = accuracy_from_json(rec["accuracy"], path);
    if (type == "step" && rec.value("step", int64_t(-1)) == step && rec.contains("accuracy"))
      after = accuracy_from_json(rec["accuracy"], path);
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const TaskResult& b : before) {
    for (const TaskResult& a : after) {
      if (a.name != b.name) continue;
      nlohmann::json row = {{"task", b.name}, {"items", a.items}, {"acc_before", b.acc}, {"acc_after", a.acc}};
      // The journal keeps each task's mean and item count: the harness's standard error of 0/1 scores follows.
      auto se = [](std::optional<double> p, int64_t n) -> std::optional<double> {
        if (!p || n < 2) return std::nullopt;
        return binary_mean_stderr(*p, n);
      };
      put(row, "acc_stderr", se(b.acc, b.items), se(a.acc, a.items));
      put(row, "acc_norm", b.acc_norm, a.acc_norm);
      put(row, "acc_norm_stderr", se(b.acc_norm, b.items), se(a.acc_norm, a.items));
      put(row, "perplexity", b.perplexity, a.perplexity);
      rows.push_back(row);
    }
  }
  if (rows.empty()) return nlohmann::json::object();
  return {{"accuracy", rows},
          {"accuracy_measured_on", "the search's --eval-task measurements before the first step and after step " +
                                       std::to_string(step) + " (" + path + ")"}};
}

}  // namespace

nlohmann::json export_accuracy(const std::string& journal, int64_t step, const std::string& results_before,
                               const std::string& results_after) {
  if (results_before.empty() != results_after.empty())
    throw Error("export: --results-before and --results-after go together (harness results files of the source and "
                "of the pruned model)");
  if (!results_before.empty()) return accuracy_from_results(results_before, results_after);
  if (!journal.empty()) return accuracy_from_journal(journal, step);
  return nlohmann::json::object();
}

std::string export_command(const std::string& source_dir, const std::vector<std::string>& ids,
                           const std::string& out_dir) {
  std::string joined;
  for (const std::string& id : ids) joined += (joined.empty() ? "" : ",") + id;
  return "shedder-cli export " + sh_quoted(source_dir) + " --remove " + sh_quoted(joined) + " --out " +
         sh_quoted(out_dir);
}

std::string model_card(const nlohmann::json& r, const nlohmann::json& config) {
  const std::string base = base_model_name(r, config);
  const std::string arch = r.value("architecture", std::string("mamba"));
  const bool loadable = r.value("transformers_loadable", false);
  const std::vector<std::string> removed = r.value("removed", std::vector<std::string>{});
  const int64_t before = r.value("parameters_before", int64_t(0)), after = r.value("parameters_after", int64_t(0));
  std::ostringstream o;
  o << "---\n"
    << "base_model: " << yaml_quoted(base) << "\n"
    << "library_name: " << (loadable ? "transformers" : "mamba-shedder") << "\n"
    << "pipeline_tag: text-generation\n"
    << "tags:\n- pruned\n- mamba-shedder\n- " << arch << "\n"
    << "---\n\n";
  o << "# " << base << ", pruned\n\n"
    << base << " with " << removed.size() << " component(s) removed by the Mamba Shedder Workbench: structured, "
    << "training-free removal of whole components (after *Mamba-Shedder*, Muñoz, Yuan, Jain, NAACL 2025). "
    << "No weights were retrained for this export.\n\n";
  o << "| | before | after |\n|---|---|---|\n"
    << "| parameters | " << with_commas(before) << " | " << with_commas(after) << " (−"
    << format_fixed(r.value("parameters_removed_pct", 0.0), 2) << " %) |\n"
    << "| layers | " << r.value("layers_before", int64_t(0)) << " | " << r.value("layers_after", int64_t(0)) << " |\n";
  if (r.contains("perplexity_before") && r.contains("perplexity_after"))
    o << "| perplexity | " << format_fixed(r["perplexity_before"].get<double>(), 4) << " | "
      << format_fixed(r["perplexity_after"].get<double>(), 4) << " |\n";
  if (r.contains("accuracy") && r["accuracy"].is_array()) o << accuracy_rows(r["accuracy"]);
  o << "| weights | " << r.value("dtype", std::string("F32")) << " | " << r.value("dtype", std::string("F32"))
    << " |\n";
  if (r.contains("perplexity_measured_on"))
    o << "\nPerplexity measured on " << r["perplexity_measured_on"].get<std::string>() << ".\n";
  if (r.contains("accuracy_measured_on"))
    o << "\nTask rows: zero-shot accuracy by lm-evaluation-harness's log-likelihood scoring (a task's perplexity row "
      << "is its target perplexity), from " << r["accuracy_measured_on"].get<std::string>() << ".\n";
  o << "\n## Removed components, in order\n\n";
  for (size_t i = 0; i < removed.size(); ++i) o << i + 1 << ". `" << removed[i] << "`\n";
  o << "\n## Loading\n\n";
  if (loadable)
    o << "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
      << "model = AutoModelForCausalLM.from_pretrained(\"PATH\")\ntokenizer = "
         "AutoTokenizer.from_pretrained(\"PATH\")\n```\n";
  else
    o << "`transformers` cannot load this folder as written ("
      << r.value("note", std::string("see shedding_report.json"))
      << "); `shedder-cli` and the workbench can, e.g. `shedder-cli eval PATH --text FILE`.\n";
  o << "\n## Reproduce\n\n```sh\n"
    << export_command(r.value("source", std::string("MODEL")), removed, "OUT_DIR") << "\n"
    << "# or, from the recipe written beside this card:\n"
    << "shedder-cli export " << sh_quoted(r.value("source", std::string("MODEL")))
    << " --recipe shedding_recipe.json --out OUT_DIR\n```\n\n"
    << "`shedding_report.json` has the details (layer map, pruning config), `pruning_config.json` the reference "
    << "tool's format.\n";
  return o.str();
}

nlohmann::json shedding_recipe(const nlohmann::json& r) {
  nlohmann::json j;
  j["format"] = kRecipeFormat;
  j["version"] = 1;
  j["source"] = r.value("source", std::string());
  j["architecture"] = r.value("architecture", std::string());
  j["removed"] = r.value("removed", nlohmann::json::array());
  j["parameters_after"] = r.value("parameters_after", int64_t(0));
  return j;
}

Recipe read_recipe(const std::string& path, const Model& model) {
  const nlohmann::json j = read_json_file_lenient(path);
  const JsonFields f(j, path);
  if (f.string("format", "") != kRecipeFormat)
    throw Error(path + ": not a shedding recipe (no \"format\": \"" + std::string(kRecipeFormat) + "\")");
  const std::string arch = f.string("architecture", "");
  if (arch != model.arch())
    throw Error(path + ": a recipe for a " + arch + " model; " + model.dir() + " is " + model.arch());
  if (!j.contains("removed") || !j["removed"].is_array() || j["removed"].empty())
    throw Error(path + ": field \"removed\" must be a non-empty list of component ids");
  Recipe rec;
  for (const auto& v : j["removed"]) {
    if (!v.is_string()) throw Error(path + ": field \"removed\" holds a value that is not a component id");
    rec.removed.add(ComponentId::parse(v.get<std::string>()));
  }
  model.plan(rec.removed, path);  // every id exists in this model
  if (f.has("parameters_after")) rec.parameters_after = f.integer("parameters_after", 0, 1);
  return rec;
}

}  // namespace shedder

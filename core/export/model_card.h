// What an exported folder says about itself: README.md, a Hugging Face model card (YAML front matter with
// base_model, library_name, pipeline_tag and tags including "pruned"; the removed components in order, parameters
// and layers before/after, perplexity and zero-shot accuracy per task before/after when measured, how to load it,
// and the exact command that reproduces the export), and shedding_recipe.json, which `shedder-cli export MODEL --recipe FILE --out DIR`
// replays (the same components removed, checked against the recipe's parameter count).
#pragma once

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "model/removal.h"

namespace shedder {

class Model;

// The model card of an export: `report` is its shedding_report.json, `source_config` the source's config.json.
std::string model_card(const nlohmann::json& report, const nlohmann::json& source_config);

// The accuracy fields of shedding_report.json, which the card shows: {"accuracy": [{"task", "items", "acc_before",
// "acc_after", and when measured "acc_norm_before/after", "perplexity_before/after", "acc_stderr_before/after",
// "acc_norm_stderr_before/after"}, ...], "accuracy_measured_on": "..."}, for the tasks measured both before and
// after. From lm-evaluation-harness results files of the source and of the pruned model (read_harness_results)
// when both paths are given, else from a search journal's base record and its step `step` (its --eval-task
// measurements); an empty object when neither holds any. Throws shedder::Error naming the files when two results
// files share no task, or when only one of them is given.
nlohmann::json export_accuracy(const std::string& journal, int64_t step, const std::string& results_before,
                               const std::string& results_after);

// shedding_recipe.json of an export (its shedding_report.json).
nlohmann::json shedding_recipe(const nlohmann::json& report);

// A recipe read back for `model`: the components it removes. Throws shedder::Error naming `path` when the file is not
// a recipe, was made for another architecture or names a component the model does not have.
struct Recipe {
  RemovalSet removed;
  std::optional<int64_t> parameters_after;  // what the export must come to
};
Recipe read_recipe(const std::string& path, const Model& model);

// The command that writes this export again (shell-quoted).
std::string export_command(const std::string& source_dir, const std::vector<std::string>& ids,
                           const std::string& out_dir);

}  // namespace shedder

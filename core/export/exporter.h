// Physical removal of masked components and writing of a model folder that loads again, for every architecture:
// the architecture cuts its tensors and config (Model::pruned_checkpoint: removed layers dropped and the rest
// renumbered, removed SSMs without their dead weights, heads and channels cut out of the matrices); this file adds
// the reference tool's pruning_config.json, shedding_report.json, a model card (README.md) with the recipe that
// replays the export (shedding_recipe.json, see model_card.h) and the tokenizer, and writes the folder
// atomically. Weights keep the checkpoint's dtype (a model loaded on a GPU or in another dtype is exported from
// its stored weights' dtype, not its compute dtype).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "runtime/progress.h"
#include "model/removal.h"

namespace shedder {

class Model;

struct ExportOptions {
  std::string out_dir;
  bool force = false;                  // replace an existing out_dir
  std::optional<double> ppl_before;    // recorded in shedding_report.json when known
  std::optional<double> ppl_after;
  std::string ppl_source;              // what the perplexities were measured on
  nlohmann::json report_extra = nlohmann::json::object();  // more fields of shedding_report.json (e.g. export_accuracy)
  nlohmann::json pruning_extra = nlohmann::json::object();  // extra fields of pruning_config.json (e.g. the channel group)
  std::optional<int64_t> expect_params_after;  // a recipe's count: a different result is refused before writing
  const CancelToken* cancel = nullptr; // checked between tensors: shedder::Cancelled, out_dir untouched
};

struct ExportResult {
  int64_t params_before = 0;
  int64_t params_after = 0;
  int64_t layers_after = 0;
  std::vector<std::string> files;      // names written into out_dir
  nlohmann::json report;               // shedding_report.json
};

// Throws shedder::Error naming the folder/file; on any failure out_dir is left as it was.
ExportResult export_pruned(const Model& model, const RemovalSet& removed, const ExportOptions& opts);

}  // namespace shedder

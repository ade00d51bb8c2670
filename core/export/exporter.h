// Physical removal of masked components and writing of a model folder that loads again:
// removed blocks are dropped and the remaining layers renumbered (a plain MambaForCausalLM /
// Mamba2ForCausalLM checkpoint); removed SSMs lose their dead weights (Mamba-2: also the B/C/dt rows of
// in_proj and their conv channels) and the config lists them in "shedder_layers_without_ssm".
// Weights keep their stored dtype. The folder is written atomically.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "runtime/progress.h"
#include "shed/removal_set.h"

namespace shedder {

class MambaModel;

struct ExportOptions {
  std::string out_dir;
  bool force = false;                  // replace an existing out_dir
  std::optional<double> ppl_before;    // recorded in shedding_report.json when known
  std::optional<double> ppl_after;
  std::string ppl_source;              // what the perplexities were measured on
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
ExportResult export_pruned(const MambaModel& model, const RemovalSet& removed, const ExportOptions& opts);

}  // namespace shedder

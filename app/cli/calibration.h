// Calibration / evaluation input shared by `eval`, `search` and `export`: text files or pre-tokenized windows,
// and the removal set options (--remove, --pruning-config) with their table entries.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "model/model.h"
#include "options.h"
#include "model/removal.h"

namespace shedder::cli {

// Windows from --<prefix>text FILE... or --<prefix>tokens FILE[:TENSOR] (exactly one), cut to --seq-len,
// then --windows of them sampled with --seed (when `sample`) or the first --max-windows.
at::Tensor load_windows(const Model& model, const Args& args, const std::string& prefix, int64_t seq_len,
                        int64_t max_windows, bool sample, uint64_t seed, std::string* label);

// The table entries of --remove SPEC... and --pruning-config FILE.
std::vector<OptionSpec> removal_options();
// --remove SPEC... and --pruning-config FILE, validated against the model (Model::plan).
RemovalSet removal_from_args(const Model& model, const Args& args);

}  // namespace shedder::cli

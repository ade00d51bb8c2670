// Export of pruned checkpoints (see exporter.h).
#include "export/exporter.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <tuple>

#include "export/model_card.h"
#include "io/model_folder.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "util/error.h"
#include "util/file_util.h"
#include "util/json_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

at::ScalarType stored_scalar_type(const std::string& st) {
  if (st == "BF16") return at::kBFloat16;
  if (st == "F16") return at::kHalf;
  if (st == "F64") return at::kDouble;
  return at::kFloat;
}

// CPU tensors in the checkpoint's dtype (an architecture that cuts tensors it holds in memory hands them over in
// its compute dtype, possibly on a GPU). A tensor stored under several names (Zamba2's shared blocks, written in
// every layer that uses them, as transformers writes them) is converted once and counted once: the unique
// parameters of the exported model are returned.
int64_t to_stored_form(PrunedCheckpoint& ck, const Model& model) {
  const at::ScalarType st = stored_scalar_type(model.source_dtype());
  std::map<std::tuple<const void*, int64_t, std::vector<int64_t>>, at::Tensor> seen;
  int64_t unique = 0;
  for (auto& [name, t] : ck.tensors) {
    if (!t.defined()) throw InternalError("export: tensor '" + name + "' is undefined");
    const auto key = std::make_tuple(t.data_ptr(), t.numel(), t.sizes().vec());
    auto it = seen.find(key);
    if (it != seen.end()) {
      t = it->second;
      continue;
    }
    at::Tensor u = t;
    if (ck.in_compute_dtype && at::isFloatingType(u.scalar_type()) && u.scalar_type() != st) u = u.to(st);
    if (!u.device().is_cpu()) u = u.cpu();
    seen.emplace(key, u);
    unique += u.numel();
    t = u;
  }
  return unique;
}

}  // namespace

ExportResult export_pruned(const Model& model, const RemovalSet& removed, const ExportOptions& opts) {
  if (opts.out_dir.empty()) throw Error("export: no output folder given (--out DIR)");
  const PlanPtr plan = model.plan(removed, "export: removal set");
  PrunedCheckpoint ck = model.pruned_checkpoint(*plan);  // refuses a removal that leaves no model
  check_export_target(opts.out_dir, model.dir(), opts.force);  // before anything is written
  ExportResult res;
  res.params_after = to_stored_form(ck, model);
  if (opts.expect_params_after && *opts.expect_params_after != res.params_after)
    throw Error("export: the recipe expects " + std::to_string(*opts.expect_params_after) +
                " parameters after the removal; this model gives " + std::to_string(res.params_after) +
                " (a different checkpoint than the recipe was made from?)");
  res.params_before = model.total_parameters();
  res.layers_after = ck.layers;
  const nlohmann::json pruning = removed.to_json(opts.pruning_extra);

  nlohmann::json rep;
  rep["source"] = fs::absolute(model.dir()).lexically_normal().string();
  rep["architecture"] = model.arch();
  rep["removed"] = removed.ids();
  rep["pruning_config"] = pruning;
  rep["layers_before"] = model.num_layers();
  rep["layers_after"] = ck.layers;
  rep["layer_map"] = ck.layer_map;
  if (ck.config.contains("shedder_layers_without_ssm")) rep["layers_without_ssm"] = ck.config["shedder_layers_without_ssm"];
  else rep["layers_without_ssm"] = nlohmann::json::array();
  rep["parameters_before"] = res.params_before;
  rep["parameters_after"] = res.params_after;
  rep["parameters_removed_pct"] =
      100.0 * static_cast<double>(res.params_before - res.params_after) / static_cast<double>(res.params_before);
  rep["dtype"] = model.source_dtype();
  if (opts.ppl_before) rep["perplexity_before"] = *opts.ppl_before;
  if (opts.ppl_after) rep["perplexity_after"] = *opts.ppl_after;
  if (!opts.ppl_source.empty()) rep["perplexity_measured_on"] = opts.ppl_source;
  for (const auto& [key, value] : opts.report_extra.items()) rep[key] = value;
  rep["transformers_loadable"] = ck.transformers_loadable;
  if (!ck.note.empty()) rep["note"] = ck.note;

  // Written into a temporary sibling folder, then moved into place.
  write_model_folder(opts.out_dir, model.dir(), opts.force, [&](const std::string& tmp_dir) {
    const fs::path tmp(tmp_dir);
    write_file_atomic((tmp / "config.json").string(), ck.config.dump(2) + "\n");
    write_safetensors((tmp / "model.safetensors").string(), ck.tensors, {{"format", "pt"}}, opts.cancel);
    res.files = {"config.json", "model.safetensors"};
    for (const std::string& name : copy_tokenizer_files(model.dir(), tmp.string())) res.files.push_back(name);
    write_file_atomic((tmp / "pruning_config.json").string(), pruning.dump(4) + "\n");
    res.files.push_back("pruning_config.json");
    write_file_atomic((tmp / "shedding_report.json").string(), rep.dump(2) + "\n");
    res.files.push_back("shedding_report.json");
    write_file_atomic((tmp / "shedding_recipe.json").string(), shedding_recipe(rep).dump(2) + "\n");
    res.files.push_back("shedding_recipe.json");
    write_file_atomic((tmp / "README.md").string(),
                      model_card(rep, read_json_file_lenient((fs::path(model.dir()) / "config.json").string())));
    res.files.push_back("README.md");
  });
  res.report = rep;
  return res;
}

}  // namespace shedder

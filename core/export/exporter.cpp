// Export of pruned checkpoints (see exporter.h).
#include "export/exporter.h"

#include <ATen/ATen.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/model_folder.h"
#include "model/mamba_model.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

std::string layer_prefix(int64_t l) { return "backbone.layers." + std::to_string(l) + "."; }

// Mixer tensors that die with the SSM (Mamba-1: the selective scan's own parameters).
bool is_dead_ssm_tensor(const std::string& suffix, bool mamba2) {
  static const std::set<std::string> m1 = {"mixer.x_proj.weight", "mixer.dt_proj.weight", "mixer.dt_proj.bias",
                                           "mixer.A_log", "mixer.D"};
  static const std::set<std::string> m2 = {"mixer.dt_bias", "mixer.A_log", "mixer.D"};
  return (mamba2 ? m2 : m1).count(suffix) != 0;
}

}  // namespace

ExportResult export_pruned(const MambaModel& model, const RemovalSet& removed, const ExportOptions& opts) {
  const ModelConfig& c = model.config();
  removed.validate(model.num_layers(), "export: removal set");
  if (opts.out_dir.empty()) throw Error("export: no output folder given (--out DIR)");
  // Kept layers and their new indices.
  std::vector<int64_t> kept;
  for (int64_t l = 0; l < c.num_layers; ++l)
    if (!removed.contains(Granularity::Block, l)) kept.push_back(l);
  if (kept.empty()) throw Error("export: every block is removed; nothing would be left of the model");

  check_export_target(opts.out_dir, model.dir(), opts.force);  // before any work


  const WeightStore ws = WeightStore::open_folder(model.dir());
  const bool m2 = c.arch == Arch::Mamba2;
  const int64_t D = c.intermediate_size;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::set<std::string> used;
  auto take = [&](const std::string& name) -> at::Tensor {
    const WeightEntry& e = ws.at(name);
    used.insert(name);
    return e.tensor;
  };

  tensors.emplace_back("backbone.embeddings.weight", take("backbone.embeddings.weight"));
  tensors.emplace_back("backbone.norm_f.weight", take("backbone.norm_f.weight"));
  if (!c.tie_word_embeddings) tensors.emplace_back("lm_head.weight", take("lm_head.weight"));
  if (ws.contains("lm_head.weight")) used.insert("lm_head.weight");  // tied copy (mamba_ssm): dropped

  ModelConfig out_cfg = c;
  out_cfg.num_layers = static_cast<int64_t>(kept.size());
  out_cfg.layers_without_ssm.clear();
  for (size_t j = 0; j < kept.size(); ++j) {
    const int64_t l = kept[j];
    const std::string from = layer_prefix(l), to = layer_prefix(static_cast<int64_t>(j));
    const bool drop_ssm = !model.layers()[static_cast<size_t>(l)].has_ssm || removed.contains(Granularity::Ssm, l);
    if (drop_ssm) out_cfg.layers_without_ssm.push_back(static_cast<int64_t>(j));
    for (const auto& name : ws.names()) {
      if (name.compare(0, from.size(), from) != 0) continue;
      const std::string suffix = name.substr(from.size());
      used.insert(name);
      if (drop_ssm && is_dead_ssm_tensor(suffix, m2)) continue;
      at::Tensor t = ws.at(name).tensor;
      if (!t.defined()) throw Error(ws.at(name).file + ": tensor '" + name + "' has an unsupported dtype " + ws.at(name).dtype);
      if (drop_ssm && m2 && model.layers()[static_cast<size_t>(l)].has_ssm) {
        // Keep z and x (the first 2*d_mlp + 2*D rows of in_proj) and the x channels of the conv.
        if (suffix == "mixer.in_proj.weight" || suffix == "mixer.in_proj.bias") {
          const int64_t d_mlp = (t.size(0) - c.in_proj_rows()) / 2;
          t = t.narrow(0, 0, 2 * d_mlp + 2 * D);
        } else if (suffix == "mixer.conv1d.weight" || suffix == "mixer.conv1d.bias") {
          t = t.narrow(0, 0, D);
        }
      }
      tensors.emplace_back(to + suffix, t);
    }
  }

  // Parameters before/after (unique tensors; a tied head counts once).
  ExportResult res;
  res.params_before = model.params().total;
  for (const auto& kv : tensors) res.params_after += kv.second.numel();
  res.layers_after = out_cfg.num_layers;

  // Written into a temporary sibling folder, then moved into place.
  write_model_folder(opts.out_dir, model.dir(), opts.force, [&](const std::string& tmp_dir) {
    const fs::path tmp(tmp_dir);
    nlohmann::json cfg_json = out_cfg.to_hf_json();
    // Carry over fields we do not model (e.g. time_step_* init settings), without overriding ours.
    if (c.layout == WeightLayout::HuggingFace)
      for (auto it = c.raw.begin(); it != c.raw.end(); ++it)
        if (!cfg_json.contains(it.key()) && it.key() != "shedder_layers_without_ssm") cfg_json[it.key()] = it.value();
    if (out_cfg.layers_without_ssm.empty()) cfg_json.erase("shedder_layers_without_ssm");
    write_file_atomic((tmp / "config.json").string(), cfg_json.dump(2) + "\n");
    write_safetensors((tmp / "model.safetensors").string(), tensors, {{"format", "pt"}}, opts.cancel);
    res.files = {"config.json", "model.safetensors"};
    for (const std::string& name : copy_tokenizer_files(model.dir(), tmp.string())) res.files.push_back(name);
    write_file_atomic((tmp / "pruning_config.json").string(), removed.to_reference_json().dump(4) + "\n");
    res.files.push_back("pruning_config.json");
    nlohmann::json rep;
    rep["source"] = fs::absolute(model.dir()).lexically_normal().string();
    rep["architecture"] = arch_name(c.arch);
    rep["removed"] = removed.ids();
    rep["pruning_config"] = removed.to_reference_json();
    rep["layers_before"] = c.num_layers;
    rep["layers_after"] = out_cfg.num_layers;
    rep["layer_map"] = nlohmann::json::object();
    for (size_t j = 0; j < kept.size(); ++j) rep["layer_map"][std::to_string(j)] = kept[j];
    rep["layers_without_ssm"] = out_cfg.layers_without_ssm;
    rep["parameters_before"] = res.params_before;
    rep["parameters_after"] = res.params_after;
    rep["parameters_removed_pct"] = 100.0 * static_cast<double>(res.params_before - res.params_after) /
                                    static_cast<double>(res.params_before);
    rep["dtype"] = model.source_dtype();
    if (opts.ppl_before) rep["perplexity_before"] = *opts.ppl_before;
    if (opts.ppl_after) rep["perplexity_after"] = *opts.ppl_after;
    if (!opts.ppl_source.empty()) rep["perplexity_measured_on"] = opts.ppl_source;
    rep["transformers_loadable"] = out_cfg.layers_without_ssm.empty();
    write_file_atomic((tmp / "shedding_report.json").string(), rep.dump(2) + "\n");
    res.files.push_back("shedding_report.json");
    res.report = rep;
  });
  return res;
}

}  // namespace shedder

// Hybrid models: removal sets by component id, loading by model_type, calibration perplexity and the greedy
// search over one granularity (see hybrid_model.h).
#include "model/hybrid_model.h"

#include <c10/core/GradMode.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "eval/perplexity.h"
#include "io/checkpoint.h"
#include "model/hybrid_util.h"
#include "shed/journal.h"
#include "util/hash.h"
#include "model/hymba_model.h"
#include "model/model_config.h"
#include "model/zamba2_model.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

HybridModel::~HybridModel() = default;

std::string HybridModel::config_path(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": no such model folder");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(cfg_path, ec)) throw Error(cfg_path + ": missing (a model folder needs config.json)");
  return cfg_path;
}

void HybridModel::load_common(const std::string& dir, const WeightStore& ws, int64_t vocab, int64_t hidden, bool tied,
                              bool check_finite) {
  dir_ = dir;
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    return hybrid_util::load_weight(ws, dir, name, std::move(shape), check_finite);
  };
  embedding_ = get("model.embed_tokens.weight", {vocab, hidden});
  final_norm_w_ = get("model.final_layernorm.weight", {hidden});
  lm_head_ = tied ? embedding_ : get("lm_head.weight", {vocab, hidden});
}

void HybridModel::finish_load(const HybridLoadOptions& opts, int64_t intermediate) {
  mlp_group_ = opts.mlp_channel_group;
  tail_groups_ = opts.mlp_tail_groups;
  if (mlp_group_ <= 0) {
    mlp_group_ = 16;
    while (mlp_group_ < 128 && mlp_group_ * 16 <= intermediate) mlp_group_ *= 2;
  }
  std::error_code ec;
  const fs::path tok = fs::path(dir_) / "tokenizer.json";
  if (fs::exists(tok, ec)) tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::from_file(tok.string()));
}

const char* hybrid_granularity_name(HybridGranularity g) {
  switch (g) {
    case HybridGranularity::Block: return "block";
    case HybridGranularity::Ssm: return "ssm";
    case HybridGranularity::SharedBlock: return "shared";
    case HybridGranularity::AttentionHeads: return "head";
    case HybridGranularity::MlpChannels: return "channel";
    case HybridGranularity::SsmHeads: return "ssm-head";
    case HybridGranularity::Attention: return "attn";
    case HybridGranularity::Mlp: return "mlp";
  }
  return "?";
}

std::optional<HybridGranularity> parse_hybrid_granularity(const std::string& s) {
  if (s == "block" || s == "hybrid_block" || s == "mamba_block") return HybridGranularity::Block;
  if (s == "ssm") return HybridGranularity::Ssm;
  if (s == "shared" || s == "shared_block") return HybridGranularity::SharedBlock;
  if (s == "head" || s == "heads" || s == "attn_head") return HybridGranularity::AttentionHeads;
  if (s == "channel" || s == "channels" || s == "mlp_channel") return HybridGranularity::MlpChannels;
  if (s == "ssm-head" || s == "ssm_head" || s == "ssm-heads") return HybridGranularity::SsmHeads;
  if (s == "attn" || s == "self_attn" || s == "attention") return HybridGranularity::Attention;
  if (s == "mlp" || s == "moe") return HybridGranularity::Mlp;
  return std::nullopt;
}

bool HybridRemoval::contains(const std::string& id) const { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

void HybridRemoval::add(const std::string& id) {
  if (!contains(id)) ids.push_back(id);
}

nlohmann::json HybridRemoval::to_json(int64_t mlp_group) const {
  return {{"removed", ids}, {"mlp_channel_group", mlp_group}};
}

void HybridRemoval::add_spec(const std::string& spec) {
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) throw Error("removal spec '" + spec + "': empty component id");
    add(item);
  }
}

std::string hybrid_model_type(const std::string& dir) {
  const fs::path p = fs::path(dir) / "config.json";
  std::ifstream f(p);
  if (!f) return "";
  std::ostringstream ss;
  ss << f.rdbuf();
  try {
    const nlohmann::json j = parse_json_lenient(ss.str(), p.string());
    const std::string t = j.is_object() ? j.value("model_type", std::string()) : std::string();
    if (t == "zamba2" || t == "hymba") return t;
  } catch (const std::exception&) {
  }
  return "";
}

std::shared_ptr<HybridModel> load_hybrid_model(const std::string& dir, const HybridLoadOptions& opts) {
  const std::string t = hybrid_model_type(dir);
  if (t == "zamba2") return Zamba2Model::load(dir, opts);
  if (t == "hymba") return HymbaModel::load(dir, opts);
  throw Error((fs::path(dir) / "config.json").string() + ": model_type is not a hybrid model (zamba2, hymba)");
}

double hybrid_perplexity(const HybridModel& model, const at::Tensor& windows, const HybridRemoval& removed,
                         int64_t batch) {
  if (windows.dim() != 2 || windows.size(0) < 1 || windows.size(1) < 2)
    throw Error("calibration windows must be a [windows, seq_len >= 2] tensor");
  c10::NoGradGuard no_grad;
  batch = std::max<int64_t>(1, batch);
  double sum = 0;
  const int64_t W = windows.size(0);
  for (int64_t w0 = 0; w0 < W; w0 += batch) {
    at::Tensor ids = windows.narrow(0, w0, std::min(batch, W - w0)).to(at::kLong);
    sum += window_mean_nll(model.forward(ids, removed), ids).sum().item<double>();
  }
  return std::exp(sum / static_cast<double>(W));
}

nlohmann::json HybridSearchResult::to_json(HybridGranularity g, int64_t mlp_group) const {
  nlohmann::json j;
  j["granularity"] = hybrid_granularity_name(g);
  j["metric"] = "ppl";
  j["base_ppl"] = base_ppl;
  j["total_params"] = total_params;
  j["steps"] = nlohmann::json::array();
  for (size_t i = 0; i < steps.size(); ++i) {
    const HybridSearchStep& s = steps[i];
    nlohmann::json c = nlohmann::json::array();
    for (const auto& [id, ppl] : s.candidates) c.push_back({{"id", id}, {"ppl", ppl}});
    j["steps"].push_back({{"step", i}, {"removed", s.removed}, {"ppl", s.ppl}, {"params_removed", s.params_removed},
                          {"candidates", c}});
  }
  j["removed"] = removed.to_json(mlp_group);
  return j;
}

HybridSearchResult run_hybrid_search(const HybridModel& model, const at::Tensor& windows, HybridGranularity g,
                                     int64_t steps, const HybridRemoval& initial, int64_t batch,
                                     const HybridSearchCallbacks& cb, const CancelToken* cancel,
                                     const HybridJournalOptions& jo) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  if (steps < 0) throw Error("search: --steps must be >= 0");
  model.check_removal(initial, "search: initial removal set");
  HybridSearchResult res;
  res.total_params = model.total_parameters();
  res.removed = initial;

  // The journal: what must match for a resume, then the base and the steps.
  std::optional<Journal> journal;
  bool have_base = false;
  if (!jo.path.empty()) {
    const at::Tensor w = windows.to(at::kLong).contiguous();
    nlohmann::json settings = jo.settings;
    settings["arch"] = model.arch();
    settings["parameters"] = model.total_parameters();
    settings["granularity"] = hybrid_granularity_name(g);
    settings["mlp_channel_group"] = model.mlp_channel_group();
    settings["windows"] = w.size(0);
    settings["seq_len"] = w.size(1);
    settings["calibration_fnv1a64"] = fnv1a64_hex(w.data_ptr<int64_t>(), static_cast<size_t>(w.numel()) * sizeof(int64_t));
    settings["initial"] = initial.ids;
    std::error_code ec;
    if (jo.resume && std::filesystem::exists(jo.path, ec)) {
      JournalContents c = Journal::read(jo.path);
      check_journal_model(jo.path, c, model.dir());
      const nlohmann::json was = c.header.value("hybrid_search", nlohmann::json::object());
      for (auto it = settings.begin(); it != settings.end(); ++it) {
        const nlohmann::json v = was.contains(it.key()) ? was[it.key()] : nlohmann::json();
        if (v != it.value())
          throw Error(jo.path + ": this journal was written with " + it.key() + " = " + v.dump() + ", this run has " +
                      it.value().dump() + "; resume with the same model and settings or use a new folder");
      }
      for (const nlohmann::json& r : c.records) {
        try {
          const std::string type = r.value("type", "");
          if (type == "base") {
            res.base_ppl = r.at("ppl").get<double>();
            have_base = true;
          } else if (type == "step") {
            HybridSearchStep st;
            st.removed = r.at("removed").get<std::string>();
            st.ppl = r.at("ppl").get<double>();
            st.params_removed = r.at("params_removed").get<int64_t>();
            for (const auto& cand : r.at("candidates")) st.candidates.emplace_back(cand.at(0).get<std::string>(), cand.at(1).get<double>());
            res.removed.add(st.removed);
            res.steps.push_back(std::move(st));
          }
        } catch (const nlohmann::json::exception& e) {
          throw Error(jo.path + ": malformed record: " + e.what());
        }
      }
      model.check_removal(res.removed, jo.path);
      journal.emplace(Journal::reopen(jo.path, c));
    } else {
      journal.emplace(Journal::create(jo.path, {{"type", "header"}, {"version", 1}, {"program", "mamba-shedder-workbench"},
                                                {"model", journal_model_identity(model.dir(), jo.path)},
                                                {"hybrid_search", settings}}));
    }
  }

  if (!have_base) {
    res.base_ppl = hybrid_perplexity(model, windows, initial, batch);
    if (journal) journal->append({{"type", "base"}, {"ppl", res.base_ppl}});
  }
  if (cb.on_base) cb.on_base(res.base_ppl);
  {  // resumed steps, reported as they were taken
    HybridRemoval so_far = initial;
    for (const auto& st : res.steps) {
      so_far.add(st.removed);
      if (cb.on_step) cb.on_step(st, so_far);
    }
  }
  for (int64_t step = static_cast<int64_t>(res.steps.size()); step < steps; ++step) {
    const std::vector<std::string> cands = model.candidates(g, res.removed);
    if (cands.empty()) break;
    HybridSearchStep s;
    double best = std::numeric_limits<double>::infinity();
    const std::string stage = "step " + std::to_string(step + 1);
    const int64_t n = static_cast<int64_t>(cands.size());
    for (const std::string& id : cands) {
      if (cancel && cancel->cancelled()) throw Cancelled();
      if (cb.progress) {
        const int64_t done = static_cast<int64_t>(s.candidates.size());
        cb.progress({stage, done, n, elapsed(), -1});
      }
      HybridRemoval r = res.removed;
      r.add(id);
      const double ppl = hybrid_perplexity(model, windows, r, batch);
      s.candidates.emplace_back(id, ppl);
      // strict: ties go to the first candidate, as the reference; NaN or infinite never wins
      if (std::isfinite(ppl) && (s.removed.empty() || ppl < best)) {
        best = ppl;
        s.removed = id;
      }
    }
    if (s.removed.empty()) break;  // every candidate broke the model
    s.ppl = best;
    res.removed.add(s.removed);
    s.params_removed = model.removed_parameters(res.removed);
    if (journal) {
      nlohmann::json c = nlohmann::json::array();
      for (const auto& [id, p] : s.candidates) c.push_back({id, p});
      journal->append({{"type", "step"}, {"step", step}, {"removed", s.removed}, {"ppl", s.ppl},
                       {"params_removed", s.params_removed}, {"candidates", c}});
    }
    res.steps.push_back(std::move(s));
    if (cb.progress) cb.progress({stage, n, n, elapsed(), -1});
    if (cb.on_step) cb.on_step(res.steps.back(), res.removed);
  }
  return res;
}

}  // namespace shedder

// Random small models for the demo, tests and benchmarks (see random_model.h).
#include "model/random_model.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "io/model_folder.h"
#include "io/safetensors.h"
#include "tokenizer/bpe_trainer.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {


at::Tensor inv_softplus_dt(int64_t n) {
  // dt log-uniform in [1e-3, 1e-1], floored at 1e-4; bias = dt + log(-expm1(-dt)).
  at::Tensor dt = at::exp(at::rand({n}) * (std::log(0.1) - std::log(0.001)) + std::log(0.001)).clamp_min(1e-4);
  return dt + at::log(-at::expm1(-dt));
}

}  // namespace

ModelConfig small_model_config(Arch arch, int64_t layers, int64_t hidden, int64_t state, int64_t vocab,
                               const nlohmann::json& overrides) {
  nlohmann::json j;
  j["model_type"] = arch_name(arch);
  j["vocab_size"] = vocab;
  j["hidden_size"] = hidden;
  j["num_hidden_layers"] = layers;
  j["state_size"] = state;
  j["tie_word_embeddings"] = true;
  if (arch == Arch::Mamba2) {
    const int64_t head_dim = std::min<int64_t>(64, 2 * hidden);
    j["head_dim"] = head_dim;
    j["num_heads"] = 2 * hidden / head_dim;
    j["n_groups"] = 1;
    j["chunk_size"] = 256;
  }
  for (auto it = overrides.begin(); it != overrides.end(); ++it) j[it.key()] = it.value();
  return ModelConfig::from_json(j, "small_model_config");
}

std::string byte_level_tokenizer_json() {
  // The trainer with no text and no room for merges writes exactly this layout.
  BpeTrainOptions o;
  o.vocab_size = 257;
  return train_byte_level_bpe({}, o);
}

void write_random_model(const std::string& dir, const ModelConfig& cfg, uint64_t seed, bool force,
                        const std::string& tokenizer_json) {
  check_output_folder(dir, "", force, created_model_markers());  // before any work
  at::manual_seed(seed);
  const int64_t H = cfg.hidden_size, D = cfg.intermediate_size, N = cfg.state_size, K = cfg.conv_kernel;
  const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(cfg.num_layers));
  std::vector<std::pair<std::string, at::Tensor>> t;
  t.emplace_back("backbone.embeddings.weight", at::randn({cfg.padded_vocab, H}) * 0.02);
  t.emplace_back("backbone.norm_f.weight", at::ones({H}));
  if (!cfg.tie_word_embeddings) t.emplace_back("lm_head.weight", at::randn({cfg.padded_vocab, H}) * 0.02);
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    t.emplace_back(p + "norm.weight", at::ones({H}));
    const double conv_bound = 1.0 / std::sqrt(static_cast<double>(K));
    if (cfg.arch == Arch::Mamba1) {
      const int64_t R = cfg.time_step_rank;
      t.emplace_back(p + "mixer.in_proj.weight", at::randn({2 * D, H}) * 0.02);
      t.emplace_back(p + "mixer.conv1d.weight", (at::rand({D, 1, K}) * 2 - 1) * conv_bound);
      t.emplace_back(p + "mixer.conv1d.bias", at::zeros({D}));
      t.emplace_back(p + "mixer.x_proj.weight", at::randn({R + 2 * N, D}) * 0.02);
      const double dt_std = std::pow(static_cast<double>(R), -0.5);
      t.emplace_back(p + "mixer.dt_proj.weight", (at::rand({D, R}) * 2 - 1) * dt_std);
      t.emplace_back(p + "mixer.dt_proj.bias", inv_softplus_dt(D));
      t.emplace_back(p + "mixer.A_log", at::log(at::arange(1, N + 1, at::kFloat)).expand({D, N}).contiguous());
      t.emplace_back(p + "mixer.D", at::ones({D}));
      t.emplace_back(p + "mixer.out_proj.weight", at::randn({H, D}) * out_std);
    } else {
      const int64_t Hh = cfg.num_heads, C = cfg.conv_dim();
      t.emplace_back(p + "mixer.in_proj.weight", at::randn({cfg.in_proj_rows(), H}) * 0.02);
      t.emplace_back(p + "mixer.conv1d.weight", (at::rand({C, 1, K}) * 2 - 1) * conv_bound);
      t.emplace_back(p + "mixer.conv1d.bias", at::zeros({C}));
      t.emplace_back(p + "mixer.dt_bias", inv_softplus_dt(Hh));
      t.emplace_back(p + "mixer.A_log", at::log(at::arange(1, Hh + 1, at::kFloat)));
      t.emplace_back(p + "mixer.D", at::ones({Hh}));
      t.emplace_back(p + "mixer.norm.weight", at::ones({D}));
      t.emplace_back(p + "mixer.out_proj.weight", at::randn({H, D}) * out_std);
    }
  }

  write_model_folder(dir, "", force, [&](const std::string& tmp_dir) {
    const fs::path tmp(tmp_dir);
    nlohmann::json cj = cfg.to_hf_json();
    write_file_atomic((tmp / "config.json").string(), cj.dump(2) + "\n");
    write_safetensors((tmp / "model.safetensors").string(), t, {{"format", "pt"}});
    write_file_atomic((tmp / "tokenizer.json").string(), tokenizer_json.empty() ? byte_level_tokenizer_json() + "\n" : tokenizer_json);
    // The marker that lets --force replace this folder later (io/model_folder.h).
    const nlohmann::json report{{"created_by", "shedder-cli create-model"}, {"architecture", arch_name(cfg.arch)},
                                {"seed", seed}, {"layers", cfg.num_layers}, {"hidden_size", cfg.hidden_size}};
    write_file_atomic((tmp / created_model_markers().front()).string(), report.dump(2) + "\n");
  }, created_model_markers());
}

}  // namespace shedder

// Random small Zamba2 and Hymba folders (see random_hybrid.h). Weights follow transformers' initialisation
// (normal(0, 0.02) matrices, unit norms, Mamba's dt / A recipes), so a model is a plausible starting point.
#include "model/random_hybrid.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <vector>

#include "io/model_folder.h"
#include "io/safetensors.h"
#include "model/random_model.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

at::Tensor normal(std::vector<int64_t> shape, double std) { return at::randn(shape) * std; }
at::Tensor ones(int64_t n) { return at::ones({n}); }

at::Tensor inv_softplus_dt(int64_t n) {  // dt log-uniform in [1e-3, 1e-1]: bias = dt + log(-expm1(-dt))
  at::Tensor dt = at::exp(at::rand({n}) * (std::log(0.1) - std::log(0.001)) + std::log(0.001)).clamp_min(1e-4);
  return dt + at::log(-at::expm1(-dt));
}

nlohmann::json zamba2(const RandomHybridOptions& o, Tensors& t) {
  const int64_t H = o.hidden, L = o.layers, V = o.vocab, heads = 4, hd = 2 * H / heads, I = 4 * H, r = 4;
  const int64_t D = 2 * H, P = 32, nh = D / P, N = 16, K = 4;
  std::vector<int64_t> hybrid;
  nlohmann::json types = nlohmann::json::array();
  for (int64_t l = 0; l < L; ++l) {
    const bool h = l % 3 == 1;
    if (h) hybrid.push_back(l);
    types.push_back(h ? "hybrid" : "mamba");
  }
  const int64_t blocks = hybrid.size() >= 2 ? 2 : 1;
  const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(L));
  t.emplace_back("model.embed_tokens.weight", normal({V, H}, 0.02));
  t.emplace_back("model.final_layernorm.weight", ones(H));
  for (int64_t l = 0; l < L; ++l) {
    const bool h = l % 3 == 1;
    const std::string p = "model.layers." + std::to_string(l) + (h ? ".mamba_decoder." : ".");
    t.emplace_back(p + "input_layernorm.weight", ones(H));
    t.emplace_back(p + "mamba.in_proj.weight", normal({2 * D + 2 * N + nh, H}, 0.02));
    t.emplace_back(p + "mamba.conv1d.weight", normal({D + 2 * N, 1, K}, 1.0 / std::sqrt(static_cast<double>(K))));
    t.emplace_back(p + "mamba.conv1d.bias", at::zeros({D + 2 * N}));
    t.emplace_back(p + "mamba.dt_bias", inv_softplus_dt(nh));
    t.emplace_back(p + "mamba.A_log", at::log(at::arange(1, nh + 1, at::kFloat)));
    t.emplace_back(p + "mamba.D", ones(nh));
    t.emplace_back(p + "mamba.norm.weight", ones(D));
    t.emplace_back(p + "mamba.out_proj.weight", normal({H, D}, out_std));
  }
  // The shared blocks, stored (tied) under every hybrid layer that uses them, and each use's adapters and linear.
  std::vector<Tensors> block(static_cast<size_t>(blocks));
  for (auto& b : block) {
    b = {{"input_layernorm.weight", ones(2 * H)},
         {"self_attn.q_proj.weight", normal({heads * hd, 2 * H}, 0.02)},
         {"self_attn.k_proj.weight", normal({heads * hd, 2 * H}, 0.02)},
         {"self_attn.v_proj.weight", normal({heads * hd, 2 * H}, 0.02)},
         {"self_attn.o_proj.weight", normal({H, heads * hd}, out_std)},
         {"pre_ff_layernorm.weight", ones(H)},
         {"feed_forward.gate_up_proj.weight", normal({2 * I, H}, 0.02)},
         {"feed_forward.down_proj.weight", normal({H, I}, out_std)}};
  }
  for (size_t u = 0; u < hybrid.size(); ++u) {
    const std::string lp = "model.layers." + std::to_string(hybrid[u]) + ".";
    t.emplace_back(lp + "linear.weight", normal({H, H}, 0.02));
    for (const auto& [name, w] : block[u % block.size()]) t.emplace_back(lp + "shared_transformer." + name, w);
    const std::string a = lp + "shared_transformer.", j = std::to_string(u);
    for (const char* x : {"q", "k", "v"}) {
      t.emplace_back(a + "self_attn.linear_" + x + "_adapter_list." + j + ".0.weight", normal({r, 2 * H}, 0.02));
      t.emplace_back(a + "self_attn.linear_" + x + "_adapter_list." + j + ".1.weight", normal({heads * hd, r}, 0.02));
    }
    t.emplace_back(a + "feed_forward.gate_up_proj_adapter_list." + j + ".0.weight", normal({r, H}, 0.02));
    t.emplace_back(a + "feed_forward.gate_up_proj_adapter_list." + j + ".1.weight", normal({2 * I, r}, 0.02));
  }
  return {{"model_type", "zamba2"}, {"architectures", {"Zamba2ForCausalLM"}}, {"vocab_size", V},
          {"hidden_size", H}, {"num_hidden_layers", L}, {"layers_block_type", types}, {"hybrid_layer_ids", hybrid},
          {"num_mem_blocks", blocks}, {"num_attention_heads", heads}, {"num_key_value_heads", heads},
          {"attention_head_dim", hd}, {"intermediate_size", I}, {"hidden_act", "gelu"},
          {"use_shared_attention_adapter", true}, {"adapter_rank", r}, {"use_mem_rope", true},
          {"rope_theta", 10000.0}, {"mamba_d_state", N}, {"mamba_d_conv", K}, {"mamba_expand", 2},
          {"mamba_headdim", P}, {"n_mamba_heads", nh}, {"mamba_ngroups", 1}, {"chunk_size", 64},
          {"use_conv_bias", true}, {"add_bias_linear", false}, {"tie_word_embeddings", true},
          {"rms_norm_eps", 1e-5}, {"max_position_embeddings", 4096}, {"eos_token_id", o.eos_token_id},
          {"bos_token_id", o.eos_token_id}, {"pad_token_id", o.eos_token_id}};
}

nlohmann::json hymba(const RandomHybridOptions& o, Tensors& t) {
  const int64_t H = o.hidden, L = o.layers, V = o.vocab, heads = 4, kv = 2, qhd = H / heads, vhd = 2 * H / heads;
  const int64_t D = 2 * H, N = 16, R = std::max<int64_t>(1, H / 16), K = 4, I = 3 * H, M = 4;
  // Layers 1 and 2 share layer 1's K/V; the first and last layers attend globally, the rest in a window of 16.
  std::vector<int64_t> consumer(static_cast<size_t>(L), 0);
  consumer[2] = 1;
  const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(L));
  t.emplace_back("model.embed_tokens.weight", normal({V, H}, 0.02));
  t.emplace_back("model.final_layernorm.weight", ones(H));
  t.emplace_back("model.memory_tokens", normal({M, H}, 0.02));
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const int64_t rows = heads * qhd + (consumer[static_cast<size_t>(l)] ? 0 : kv * (qhd + vhd)) + 2 * D;
    t.emplace_back(p + "input_layernorm.weight", ones(H));
    t.emplace_back(p + "mamba.in_proj.weight", normal({rows, H}, 0.02));
    t.emplace_back(p + "mamba.conv1d.weight", normal({D, 1, K}, 1.0 / std::sqrt(static_cast<double>(K))));
    t.emplace_back(p + "mamba.conv1d.bias", at::zeros({D}));
    t.emplace_back(p + "mamba.x_proj.0.weight", normal({R + 2 * N, D}, 0.02));
    t.emplace_back(p + "mamba.dt_proj.0.weight", normal({D, R}, 1.0 / std::sqrt(static_cast<double>(R))));
    t.emplace_back(p + "mamba.dt_proj.0.bias", inv_softplus_dt(D));
    t.emplace_back(p + "mamba.A_log.0", at::log(at::arange(1, N + 1, at::kFloat)).unsqueeze(0).expand({D, N}).contiguous());
    t.emplace_back(p + "mamba.D.0", ones(D));
    t.emplace_back(p + "mamba.dt_layernorm.weight", ones(R));
    t.emplace_back(p + "mamba.B_layernorm.weight", ones(N));
    t.emplace_back(p + "mamba.C_layernorm.weight", ones(N));
    t.emplace_back(p + "mamba.pre_avg_layernorm1.weight", ones(D));
    t.emplace_back(p + "mamba.pre_avg_layernorm2.weight", ones(D));
    t.emplace_back(p + "mamba.out_proj.weight", normal({H, D}, out_std));
    t.emplace_back(p + "pre_moe_layernorm.weight", ones(H));
    t.emplace_back(p + "moe.experts.0.gate_proj.weight", normal({I, H}, 0.02));
    t.emplace_back(p + "moe.experts.0.up_proj.weight", normal({I, H}, 0.02));
    t.emplace_back(p + "moe.experts.0.down_proj.weight", normal({H, I}, out_std));
  }
  return {{"model_type", "hymba"}, {"architectures", {"HymbaForCausalLM"}}, {"vocab_size", V}, {"hidden_size", H},
          {"num_hidden_layers", L}, {"num_attention_heads", heads}, {"num_key_value_heads", kv}, {"mamba_expand", 2},
          {"mamba_d_state", N}, {"mamba_d_conv", K}, {"mamba_dt_rank", R}, {"mamba_conv_bias", true},
          {"mamba_proj_bias", false}, {"mamba_inner_layernorms", true}, {"intermediate_size", I},
          {"mlp_hidden_act", "silu"}, {"hidden_act", "silu"}, {"rms_norm_eps", 1e-6}, {"num_memory_tokens", M},
          {"memory_tokens_interspersed_every", 0}, {"sliding_window", 16}, {"global_attn_idx", {0, L - 1}},
          {"kv_reuse_group", {{1, 2}}}, {"kq_norm", "none"}, {"rope", true}, {"rope_theta", 10000.0},
          {"rope_type", "default"}, {"max_position_embeddings", 4096}, {"tie_word_embeddings", true},
          {"num_experts", 1}, {"eos_token_id", o.eos_token_id}, {"bos_token_id", o.eos_token_id},
          {"pad_token_id", o.eos_token_id}};
}

}  // namespace

void write_random_hybrid(const std::string& dir, const RandomHybridOptions& o, bool force,
                         const std::string& tokenizer_json) {
  if (o.arch != "zamba2" && o.arch != "hymba") throw Error("create-model: unknown hybrid architecture '" + o.arch + "'");
  if (o.hidden < 16 || o.hidden % 16 != 0 || o.hidden > 8192)
    throw Error("create-model: --hidden must be a multiple of 16 between 16 and 8192 for " + o.arch);
  if (o.layers < (o.arch == "hymba" ? 3 : 2) || o.layers > 256)
    throw Error("create-model: --layers must be between " + std::string(o.arch == "hymba" ? "3" : "2") + " and 256 for " + o.arch);
  if (o.vocab < 2 || o.vocab > (1 << 20)) throw Error("create-model: --vocab must be between 2 and 1048576");
  at::manual_seed(static_cast<int64_t>(o.seed));
  Tensors t;
  const nlohmann::json cfg = o.arch == "zamba2" ? zamba2(o, t) : hymba(o, t);
  write_model_folder(dir, "", force, [&](const std::string& tmp_dir) {
    const fs::path tmp(tmp_dir);
    write_file_atomic((tmp / "config.json").string(), cfg.dump(2) + "\n");
    write_safetensors((tmp / "model.safetensors").string(), t, {{"format", "pt"}});
    write_file_atomic((tmp / "tokenizer.json").string(),
                      tokenizer_json.empty() ? byte_level_tokenizer_json() + "\n" : tokenizer_json);
    const nlohmann::json report{{"created_by", "shedder-cli create-model"}, {"architecture", o.arch},
                                {"seed", o.seed}, {"layers", o.layers}, {"hidden_size", o.hidden}};
    write_file_atomic((tmp / created_model_markers().front()).string(), report.dump(2) + "\n");
  }, created_model_markers());
}

}  // namespace shedder

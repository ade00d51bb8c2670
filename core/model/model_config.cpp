// Parsing of config.json (Hugging Face and mamba_ssm layouts) into ModelConfig, with the defaults of
// transformers' MambaConfig / Mamba2Config for every missing field.
#include "model/model_config.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace shedder {

const char* arch_name(Arch a) { return a == Arch::Mamba1 ? "mamba" : "mamba2"; }

namespace {

// Sanity limits for sizes read from config.json (untrusted): far above any real model, low enough that every
// product the engine forms (rows x columns, heads x head size) stays far inside int64.
constexpr int64_t kMaxVocab = int64_t{1} << 30;
constexpr int64_t kMaxHidden = int64_t{1} << 17;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxState = int64_t{1} << 14;
constexpr int64_t kMaxInner = int64_t{1} << 21;
constexpr int64_t kMaxTokenId = (int64_t{1} << 31) - 1;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// expand * hidden_size as the configs define the inner width (Python's int() truncation).
int64_t inner_width(double expand, int64_t hidden, const std::string& label) {
  const double d = expand * static_cast<double>(hidden);
  if (!(d >= 1) || d > static_cast<double>(kMaxInner))
    throw Error(label + ": expand * hidden_size (" + std::to_string(d) + ") must be between 1 and " +
                std::to_string(kMaxInner));
  return static_cast<int64_t>(d);
}

// eos_token_id: an integer or a list whose first entry is used (transformers allows both).
int64_t eos_id(const JsonFields& f, int64_t def) {
  if (f.has("eos_token_id") && f.raw("eos_token_id").is_array()) {
    const std::vector<int64_t> ids = f.integers("eos_token_id", 0, kMaxTokenId);
    return ids.empty() ? def : ids.front();
  }
  return f.integer("eos_token_id", def, 0, kMaxTokenId);
}

// The original mamba_ssm layout (state-spaces/mamba-130m, mamba2-130m, ...): d_model, n_layer, ssm_cfg.
void read_mamba_ssm_layout(ModelConfig& c, const JsonFields& f, const std::string& label) {
  c.layout = WeightLayout::MambaSsm;
  const nlohmann::json empty = nlohmann::json::object();
  if (f.has("ssm_cfg") && !f.raw("ssm_cfg").is_object()) throw Error(label + ": field \"ssm_cfg\" must be an object");
  const JsonFields ssm(f.has("ssm_cfg") ? f.raw("ssm_cfg") : empty, label + ": ssm_cfg");
  const std::string layer = ssm.string("layer", "Mamba1");
  if (layer == "Mamba1" || layer == "Mamba") {
    c.arch = Arch::Mamba1;
  } else if (layer == "Mamba2") {
    c.arch = Arch::Mamba2;
  } else {
    throw Error(label + ": unknown ssm_cfg.layer '" + layer + "' (supported: Mamba1, Mamba2)");
  }
  if (f.has("attn_layer_idx") && f.raw("attn_layer_idx").is_array() && !f.raw("attn_layer_idx").empty())
    throw Error(label + ": attention layers (attn_layer_idx) are not supported for mamba_ssm checkpoints");
  if (f.integer("d_intermediate", 0) != 0)
    throw Error(label + ": MLP layers (d_intermediate > 0) are not supported for mamba_ssm checkpoints");
  c.hidden_size = f.integer("d_model", 2560, 1, kMaxHidden);
  c.num_layers = f.integer("n_layer", 64, 1, kMaxLayers);
  c.vocab_size = f.integer("vocab_size", 50277, 1, kMaxVocab);
  const int64_t pad = f.integer("pad_vocab_size_multiple", 8, 1, 1 << 16);
  c.padded_vocab = ceil_div(c.vocab_size, pad) * pad;
  c.residual_in_fp32 = f.boolean("residual_in_fp32", true);
  c.tie_word_embeddings = f.boolean("tie_embeddings", true);
  if (!f.boolean("rms_norm", true)) throw Error(label + ": rms_norm=false (LayerNorm) checkpoints are not supported");
  c.layer_norm_epsilon = f.number("norm_epsilon", 1e-5, 0.0, 1.0);
  c.expand = ssm.number("expand", 2.0, 0.0, 64.0);
  c.conv_kernel = ssm.integer("d_conv", 4, 1, 1024);
  c.use_bias = ssm.boolean("bias", false);
  c.use_conv_bias = ssm.boolean("conv_bias", true);
  c.intermediate_size = inner_width(c.expand, c.hidden_size, label);
  c.pad_token_id = c.bos_token_id = c.eos_token_id = 0;
  if (c.arch == Arch::Mamba1) {
    c.state_size = ssm.integer("d_state", 16, 1, kMaxState);
    c.time_step_rank = ssm.has("dt_rank") && ssm.raw("dt_rank").is_string()
                           ? ceil_div(c.hidden_size, 16)
                           : ssm.integer("dt_rank", ceil_div(c.hidden_size, 16), 1, kMaxHidden);
    return;
  }
  c.state_size = ssm.integer("d_state", 128, 1, kMaxState);
  c.head_dim = ssm.integer("headdim", 64, 1, kMaxInner);
  c.n_groups = ssm.integer("ngroups", 1, 1, kMaxInner);
  c.chunk_size = ssm.integer("chunk_size", 256, 1, 1 << 20);
  if (ssm.has("d_ssm") && ssm.integer("d_ssm", c.intermediate_size, 1, kMaxInner) != c.intermediate_size)
    throw Error(label + ": ssm_cfg.d_ssm different from d_inner is not supported");
  if (ssm.boolean("D_has_hdim", false)) throw Error(label + ": ssm_cfg.D_has_hdim=true is not supported");
  if (!ssm.boolean("rmsnorm", true)) throw Error(label + ": ssm_cfg.rmsnorm=false is not supported");
  if (ssm.boolean("norm_before_gate", false)) throw Error(label + ": ssm_cfg.norm_before_gate=true is not supported");
  // mamba_ssm's heads: d_inner / headdim of them, every one whole, in n_groups equal groups.
  if (c.intermediate_size % c.head_dim != 0)
    throw Error(label + ": d_inner (expand * d_model = " + std::to_string(c.intermediate_size) +
                ") must be a multiple of ssm_cfg.headdim (" + std::to_string(c.head_dim) + ")");
  c.num_heads = c.intermediate_size / c.head_dim;
  c.norm_groups = c.n_groups;
  c.time_step_limit_min = 0.0;
  c.time_step_limit_max = std::numeric_limits<double>::infinity();
  if (ssm.has("dt_limit")) {
    const nlohmann::json& dl = ssm.raw("dt_limit");
    if (!dl.is_array() || dl.size() != 2) throw Error(label + ": ssm_cfg.dt_limit must be a list of two numbers");
    c.time_step_limit_min = json_float(dl[0], label + ": ssm_cfg.dt_limit[0]");
    c.time_step_limit_max = json_float(dl[1], label + ": ssm_cfg.dt_limit[1]");
  }
}

// The Hugging Face layout (MambaForCausalLM / Mamba2ForCausalLM), with transformers' defaults.
void read_hf_layout(ModelConfig& c, const JsonFields& f, const std::string& label) {
  const std::string model_type = f.string("model_type", "");
  std::string archname;
  if (f.has("architectures") && f.raw("architectures").is_array() && !f.raw("architectures").empty() &&
      f.raw("architectures")[0].is_string())
    archname = f.raw("architectures")[0].get<std::string>();
  if (model_type == "mamba" || (model_type.empty() && archname == "MambaForCausalLM")) {
    c.arch = Arch::Mamba1;
  } else if (model_type == "mamba2" || (model_type.empty() && archname == "Mamba2ForCausalLM")) {
    c.arch = Arch::Mamba2;
  } else {
    throw Error(label + ": unknown architecture (model_type '" + model_type + "', architectures '" + archname +
                "'); supported: mamba (MambaForCausalLM), mamba2 (Mamba2ForCausalLM), zamba2, hymba");
  }
  c.layout = WeightLayout::HuggingFace;
  const bool m1 = c.arch == Arch::Mamba1;
  c.vocab_size = f.integer("vocab_size", m1 ? 50280 : 32768, 1, kMaxVocab);
  c.hidden_size = f.integer("hidden_size", m1 ? 768 : 4096, 1, kMaxHidden);
  c.state_size = f.integer("state_size", m1 ? 16 : 128, 1, kMaxState);
  c.num_layers = f.integer("num_hidden_layers", m1 ? 32 : 64, 1, kMaxLayers);
  c.layer_norm_epsilon = f.number("layer_norm_epsilon", 1e-5, 0.0, 1.0);
  c.pad_token_id = f.integer("pad_token_id", m1 ? 0 : 1, 0, kMaxTokenId);
  c.bos_token_id = f.integer("bos_token_id", 0, 0, kMaxTokenId);
  c.eos_token_id = eos_id(f, m1 ? 0 : 2);
  c.expand = f.number("expand", 2.0, 0.0, 64.0);
  c.conv_kernel = f.integer("conv_kernel", 4, 1, 1024);
  c.use_bias = f.boolean("use_bias", false);
  c.use_conv_bias = f.boolean("use_conv_bias", true);
  c.hidden_act = f.string("hidden_act", "silu");
  c.residual_in_fp32 = f.boolean("residual_in_fp32", true);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", m1);
  const int64_t pad = f.integer("pad_vocab_size_multiple", 1, 1, 1 << 16);
  c.padded_vocab = ceil_div(c.vocab_size, pad) * pad;
  if (m1) {
    // MambaConfig honours an explicit intermediate_size.
    c.intermediate_size = f.has("intermediate_size") ? f.integer("intermediate_size", 0, 1, kMaxInner)
                                                     : inner_width(c.expand, c.hidden_size, label);
    if (f.has("time_step_rank") && f.raw("time_step_rank").is_string()) {
      const std::string r = f.string("time_step_rank", "auto");
      if (r != "auto") throw Error(label + ": time_step_rank must be an integer or \"auto\" (got \"" + r + "\")");
      c.time_step_rank = ceil_div(c.hidden_size, 16);
    } else {
      c.time_step_rank = f.integer("time_step_rank", ceil_div(c.hidden_size, 16), 1, kMaxHidden);
    }
    return;
  }
  c.intermediate_size = inner_width(c.expand, c.hidden_size, label);
  c.num_heads = f.integer("num_heads", 128, 1, kMaxInner);
  c.head_dim = f.integer("head_dim", 64, 1, kMaxInner);
  c.n_groups = f.integer("n_groups", 8, 1, kMaxInner);
  c.chunk_size = f.integer("chunk_size", 256, 1, 1 << 20);
  c.time_step_limit_min = 0.0;
  c.time_step_limit_max = std::numeric_limits<double>::infinity();
  if (f.has("time_step_limit")) {
    const nlohmann::json& tl = f.raw("time_step_limit");
    if (!tl.is_array() || tl.size() != 2)
      throw Error(label + ": time_step_limit must be a list of two numbers (got " + tl.dump() + ")");
    c.time_step_limit_min = json_float(tl[0], label + ": time_step_limit[0]");
    c.time_step_limit_max = json_float(tl[1], label + ": time_step_limit[1]");
  }
  if (!f.boolean("rms_norm", true)) throw Error(label + ": rms_norm=false is not supported");
  c.norm_groups = 1;
  if (c.num_heads * c.head_dim != c.intermediate_size)
    throw Error(label + ": inconsistent configuration: hidden_size * expand (" + std::to_string(c.intermediate_size) +
                ") must equal num_heads * head_dim (" + std::to_string(c.num_heads * c.head_dim) + ")");
}

}  // namespace

int64_t ModelConfig::conv_dim() const {
  return arch == Arch::Mamba1 ? intermediate_size : intermediate_size + 2 * n_groups * state_size;
}

int64_t ModelConfig::in_proj_rows() const {
  return arch == Arch::Mamba1 ? 2 * intermediate_size : intermediate_size + conv_dim() + num_heads;
}

bool ModelConfig::layer_has_ssm(int64_t layer) const {
  for (int64_t l : layers_without_ssm)
    if (l == layer) return false;
  return true;
}

ModelConfig ModelConfig::from_file(const std::string& path) { return from_json(read_json_file_lenient(path), path); }

namespace {

void read_layer_sizes(ModelConfig& c, const nlohmann::json& j, const std::string& label) {
  const std::string what = label + ": shedder_layer_sizes";
  if (!j.is_array() || static_cast<int64_t>(j.size()) != c.num_layers)
    throw Error(what + " must list one object per layer (" + std::to_string(c.num_layers) + ")");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string where = what + "[" + std::to_string(i) + "]";
    if (!j[i].is_object()) throw Error(where + " is not an object");
    const JsonFields f(j[i], where);
    ModelConfig::LayerSizes s;
    s.state = f.integer("state_size", c.state_size, 1, kMaxState);
    if (c.arch == Arch::Mamba1) {
      s.inner = f.integer("intermediate_size", c.intermediate_size, 1, kMaxInner);
    } else {
      s.group_heads = f.integers("group_heads", 1, kMaxInner);
      s.head_dim = f.integer("head_dim", c.head_dim, 1, kMaxInner);
      int64_t heads = 0;
      for (int64_t h : s.group_heads) heads += h;
      if (s.group_heads.empty() || heads * s.head_dim > kMaxInner)
        throw Error(where + ": group_heads must list the heads of each B/C group (at least one group)");
      s.inner = heads * s.head_dim;
    }
    c.layer_sizes.push_back(std::move(s));
  }
}

}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) throw Error(label + ": config is not a JSON object");
  ModelConfig c;
  c.source = label;
  c.raw = j;
  const JsonFields f(j, label);
  if (f.has("d_model") || f.has("n_layer") || f.has("ssm_cfg")) {
    read_mamba_ssm_layout(c, f, label);
  } else {
    read_hf_layout(c, f, label);
  }

  if (c.hidden_act != "silu" && c.hidden_act != "swish")
    throw Error(label + ": hidden_act '" + c.hidden_act + "' is not supported (only silu)");
  // Sizes were range-checked as they were read; what remains are the relations between them.
  if (c.arch == Arch::Mamba2) {
    if (c.num_heads % c.n_groups != 0)
      throw Error(label + ": num_heads (" + std::to_string(c.num_heads) + ") must be a multiple of n_groups (" +
                  std::to_string(c.n_groups) + ")");
    if (c.intermediate_size % c.norm_groups != 0)
      throw Error(label + ": intermediate size must be a multiple of the norm groups");
  }
  if (c.arch == Arch::Mamba2 && !(c.time_step_limit_min >= 0 && c.time_step_limit_max >= c.time_step_limit_min))
    throw Error(label + ": time_step_limit must be two numbers with 0 <= min <= max");

  c.layers_without_ssm = f.integers("shedder_layers_without_ssm", 0, c.num_layers - 1);
  if (f.has("shedder_layer_sizes")) read_layer_sizes(c, f.raw("shedder_layer_sizes"), label);
  return c;
}

nlohmann::json ModelConfig::to_hf_json() const {
  nlohmann::json j;
  const bool m1 = arch == Arch::Mamba1;
  j["architectures"] = {m1 ? "MambaForCausalLM" : "Mamba2ForCausalLM"};
  j["model_type"] = arch_name(arch);
  j["vocab_size"] = padded_vocab;
  j["hidden_size"] = hidden_size;
  j["state_size"] = state_size;
  j["num_hidden_layers"] = num_layers;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["pad_token_id"] = pad_token_id;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  // transformers' strict config dataclasses want an int when the value is integral.
  if (expand == std::floor(expand)) {
    j["expand"] = static_cast<int64_t>(expand);
  } else {
    j["expand"] = expand;
  }
  j["conv_kernel"] = conv_kernel;
  j["use_bias"] = use_bias;
  j["use_conv_bias"] = use_conv_bias;
  j["hidden_act"] = hidden_act;
  j["residual_in_fp32"] = residual_in_fp32;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (m1) {
    j["intermediate_size"] = intermediate_size;
    j["time_step_rank"] = time_step_rank;
  } else {
    j["num_heads"] = num_heads;
    j["head_dim"] = head_dim;
    j["n_groups"] = n_groups;
    j["chunk_size"] = chunk_size;
    nlohmann::json hi = std::isinf(time_step_limit_max) ? nlohmann::json{{"__float__", "Infinity"}}
                                                        : nlohmann::json(time_step_limit_max);
    j["time_step_limit"] = {time_step_limit_min, hi};
  }
  if (!layers_without_ssm.empty()) j["shedder_layers_without_ssm"] = layers_without_ssm;
  if (!layer_sizes.empty()) {
    nlohmann::json sizes = nlohmann::json::array();
    for (const LayerSizes& s : layer_sizes) {
      nlohmann::json o;
      if (m1) o["intermediate_size"] = s.inner;
      else o["group_heads"] = s.group_heads;
      if (!m1 && s.head_dim != head_dim) o["head_dim"] = s.head_dim;
      o["state_size"] = s.state;
      sizes.push_back(o);
    }
    j["shedder_layer_sizes"] = sizes;
  }
  return j;
}

}  // namespace shedder

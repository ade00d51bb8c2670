// Parsing of config.json (Hugging Face and mamba_ssm layouts) into ModelConfig, with the defaults of
// transformers' MambaConfig / Mamba2Config for every missing field.
#include "model/model_config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "util/error.h"

namespace shedder {

const char* arch_name(Arch a) { return a == Arch::Mamba1 ? "mamba" : "mamba2"; }

nlohmann::json parse_json_lenient(const std::string& text, const std::string& label) {
  // Rewrite bare Infinity / -Infinity / NaN tokens (outside strings) into {"__float__": "..."}.
  std::string out;
  out.reserve(text.size() + 64);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    auto starts = [&](const char* tok) { return text.compare(i, std::char_traits<char>::length(tok), tok) == 0; };
    if (starts("-Infinity")) {
      out += "{\"__float__\": \"-Infinity\"}";
      i += 8;
    } else if (starts("Infinity")) {
      out += "{\"__float__\": \"Infinity\"}";
      i += 7;
    } else if (starts("NaN")) {
      out += "{\"__float__\": \"NaN\"}";
      i += 2;
    } else {
      out += c;
    }
  }
  try {
    return nlohmann::json::parse(out);
  } catch (const std::exception& e) {
    throw Error(label + ": malformed JSON: " + e.what());
  }
}

double json_float(const nlohmann::json& v, const std::string& what) {
  if (v.is_number()) return v.get<double>();
  if (v.is_object() && v.contains("__float__") && v["__float__"].is_string()) {
    const std::string s = v["__float__"].get<std::string>();
    if (s == "Infinity" || s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "NaN" || s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(what + " is not a number (got " + v.dump() + ")");
}

namespace {

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T def, const std::string& label) {
  if (!j.contains(key) || j[key].is_null()) return def;
  try {
    if constexpr (std::is_same_v<T, double>) {
      return json_float(j[key], std::string("field '") + key + "'");
    } else {
      return j[key].get<T>();
    }
  } catch (const Error& e) {
    throw Error(label + ": " + e.what());
  } catch (const std::exception&) {
    throw Error(label + ": field '" + std::string(key) + "' has the wrong type (" + j[key].dump() + ")");
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void require_positive(int64_t v, const char* name, const std::string& label) {
  if (v <= 0) throw Error(label + ": " + name + " must be positive (got " + std::to_string(v) + ")");
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

ModelConfig ModelConfig::from_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open config file");
  std::ostringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = parse_json_lenient(ss.str(), path);
  ModelConfig c = from_json(j, path);
  return c;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) throw Error(label + ": config is not a JSON object");
  ModelConfig c;
  c.source = label;
  c.raw = j;

  const bool ssm_layout = j.contains("d_model") || j.contains("n_layer") || j.contains("ssm_cfg");
  if (ssm_layout) {
    // Original mamba_ssm layout (state-spaces/mamba-130m, mamba2-130m, ...).
    c.layout = WeightLayout::MambaSsm;
    nlohmann::json ssm = j.contains("ssm_cfg") && j["ssm_cfg"].is_object() ? j["ssm_cfg"] : nlohmann::json::object();
    const std::string layer = get_or<std::string>(ssm, "layer", "Mamba1", label);
    if (layer == "Mamba1" || layer == "Mamba") {
      c.arch = Arch::Mamba1;
    } else if (layer == "Mamba2") {
      c.arch = Arch::Mamba2;
    } else {
      throw Error(label + ": unknown ssm_cfg.layer '" + layer + "' (supported: Mamba1, Mamba2)");
    }
    if (j.contains("attn_layer_idx") && j["attn_layer_idx"].is_array() && !j["attn_layer_idx"].empty())
      throw Error(label + ": attention layers (attn_layer_idx) are not supported for mamba_ssm checkpoints");
    if (get_or<int64_t>(j, "d_intermediate", 0, label) != 0)
      throw Error(label + ": MLP layers (d_intermediate > 0) are not supported for mamba_ssm checkpoints");
    c.hidden_size = get_or<int64_t>(j, "d_model", 2560, label);
    c.num_layers = get_or<int64_t>(j, "n_layer", 64, label);
    c.vocab_size = get_or<int64_t>(j, "vocab_size", 50277, label);
    const int64_t pad = get_or<int64_t>(j, "pad_vocab_size_multiple", 8, label);
    require_positive(pad, "pad_vocab_size_multiple", label);
    c.padded_vocab = ceil_div(c.vocab_size, pad) * pad;
    c.residual_in_fp32 = get_or<bool>(j, "residual_in_fp32", true, label);
    c.tie_word_embeddings = get_or<bool>(j, "tie_embeddings", true, label);
    if (!get_or<bool>(j, "rms_norm", true, label))
      throw Error(label + ": rms_norm=false (LayerNorm) checkpoints are not supported");
    c.layer_norm_epsilon = get_or<double>(j, "norm_epsilon", 1e-5, label);
    c.expand = get_or<double>(ssm, "expand", 2.0, label);
    c.conv_kernel = get_or<int64_t>(ssm, "d_conv", 4, label);
    c.use_bias = get_or<bool>(ssm, "bias", false, label);
    c.use_conv_bias = get_or<bool>(ssm, "conv_bias", true, label);
    c.intermediate_size = static_cast<int64_t>(c.expand * static_cast<double>(c.hidden_size));
    c.pad_token_id = 0;
    c.bos_token_id = 0;
    c.eos_token_id = 0;
    if (c.arch == Arch::Mamba1) {
      c.state_size = get_or<int64_t>(ssm, "d_state", 16, label);
      if (ssm.contains("dt_rank") && ssm["dt_rank"].is_string()) {
        c.time_step_rank = ceil_div(c.hidden_size, 16);
      } else {
        c.time_step_rank = get_or<int64_t>(ssm, "dt_rank", ceil_div(c.hidden_size, 16), label);
      }
    } else {
      c.state_size = get_or<int64_t>(ssm, "d_state", 128, label);
      c.head_dim = get_or<int64_t>(ssm, "headdim", 64, label);
      c.n_groups = get_or<int64_t>(ssm, "ngroups", 1, label);
      c.chunk_size = get_or<int64_t>(ssm, "chunk_size", 256, label);
      if (ssm.contains("d_ssm") && !ssm["d_ssm"].is_null() &&
          get_or<int64_t>(ssm, "d_ssm", c.intermediate_size, label) != c.intermediate_size)
        throw Error(label + ": ssm_cfg.d_ssm different from d_inner is not supported");
      if (get_or<bool>(ssm, "D_has_hdim", false, label))
        throw Error(label + ": ssm_cfg.D_has_hdim=true is not supported");
      if (!get_or<bool>(ssm, "rmsnorm", true, label))
        throw Error(label + ": ssm_cfg.rmsnorm=false is not supported");
      if (get_or<bool>(ssm, "norm_before_gate", false, label))
        throw Error(label + ": ssm_cfg.norm_before_gate=true is not supported");
      require_positive(c.head_dim, "ssm_cfg.headdim", label);
      c.num_heads = c.intermediate_size / c.head_dim;
      c.norm_groups = c.n_groups;
      c.time_step_limit_min = 0.0;
      c.time_step_limit_max = std::numeric_limits<double>::infinity();
      if (ssm.contains("dt_limit") && ssm["dt_limit"].is_array() && ssm["dt_limit"].size() == 2) {
        c.time_step_limit_min = json_float(ssm["dt_limit"][0], label + ": ssm_cfg.dt_limit[0]");
        c.time_step_limit_max = json_float(ssm["dt_limit"][1], label + ": ssm_cfg.dt_limit[1]");
      }
    }
  } else {
    const std::string model_type = get_or<std::string>(j, "model_type", "", label);
    std::string archname;
    if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
        j["architectures"][0].is_string())
      archname = j["architectures"][0].get<std::string>();
    if (model_type == "mamba" || (model_type.empty() && archname == "MambaForCausalLM")) {
      c.arch = Arch::Mamba1;
    } else if (model_type == "mamba2" || (model_type.empty() && archname == "Mamba2ForCausalLM")) {
      c.arch = Arch::Mamba2;
    } else {
      throw Error(label + ": unknown architecture (model_type '" + model_type + "', architectures '" + archname +
                  "'); supported: mamba (MambaForCausalLM), mamba2 (Mamba2ForCausalLM)");
    }
    c.layout = WeightLayout::HuggingFace;
    const bool m1 = c.arch == Arch::Mamba1;
    c.vocab_size = get_or<int64_t>(j, "vocab_size", m1 ? 50280 : 32768, label);
    c.hidden_size = get_or<int64_t>(j, "hidden_size", m1 ? 768 : 4096, label);
    c.state_size = get_or<int64_t>(j, "state_size", m1 ? 16 : 128, label);
    c.num_layers = get_or<int64_t>(j, "num_hidden_layers", m1 ? 32 : 64, label);
    c.layer_norm_epsilon = get_or<double>(j, "layer_norm_epsilon", 1e-5, label);
    c.pad_token_id = get_or<int64_t>(j, "pad_token_id", m1 ? 0 : 1, label);
    c.bos_token_id = get_or<int64_t>(j, "bos_token_id", 0, label);
    if (j.contains("eos_token_id") && j["eos_token_id"].is_array()) {
      c.eos_token_id = j["eos_token_id"].empty() ? 0 : j["eos_token_id"][0].get<int64_t>();
    } else {
      c.eos_token_id = get_or<int64_t>(j, "eos_token_id", m1 ? 0 : 2, label);
    }
    c.expand = get_or<double>(j, "expand", 2.0, label);
    c.conv_kernel = get_or<int64_t>(j, "conv_kernel", 4, label);
    c.use_bias = get_or<bool>(j, "use_bias", false, label);
    c.use_conv_bias = get_or<bool>(j, "use_conv_bias", true, label);
    c.hidden_act = get_or<std::string>(j, "hidden_act", "silu", label);
    c.residual_in_fp32 = get_or<bool>(j, "residual_in_fp32", true, label);
    c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", m1, label);
    const int64_t pad = get_or<int64_t>(j, "pad_vocab_size_multiple", 1, label);
    require_positive(pad, "pad_vocab_size_multiple", label);
    c.padded_vocab = ceil_div(c.vocab_size, pad) * pad;
    const int64_t inter_default = static_cast<int64_t>(c.expand * static_cast<double>(c.hidden_size));
    if (m1) {
      // MambaConfig honours an explicit intermediate_size.
      c.intermediate_size = get_or<int64_t>(j, "intermediate_size", inter_default, label);
      if (j.contains("time_step_rank") && j["time_step_rank"].is_string()) {
        const std::string r = j["time_step_rank"].get<std::string>();
        if (r != "auto") throw Error(label + ": time_step_rank must be an integer or \"auto\" (got \"" + r + "\")");
        c.time_step_rank = ceil_div(c.hidden_size, 16);
      } else {
        c.time_step_rank = get_or<int64_t>(j, "time_step_rank", ceil_div(c.hidden_size, 16), label);
      }
    } else {
      c.intermediate_size = inter_default;
      c.num_heads = get_or<int64_t>(j, "num_heads", 128, label);
      c.head_dim = get_or<int64_t>(j, "head_dim", 64, label);
      c.n_groups = get_or<int64_t>(j, "n_groups", 8, label);
      c.chunk_size = get_or<int64_t>(j, "chunk_size", 256, label);
      c.time_step_limit_min = 0.0;
      c.time_step_limit_max = std::numeric_limits<double>::infinity();
      if (j.contains("time_step_limit") && !j["time_step_limit"].is_null()) {
        const auto& tl = j["time_step_limit"];
        if (!tl.is_array() || tl.size() != 2)
          throw Error(label + ": time_step_limit must be a list of two numbers (got " + tl.dump() + ")");
        try {
          c.time_step_limit_min = json_float(tl[0], "time_step_limit[0]");
          c.time_step_limit_max = json_float(tl[1], "time_step_limit[1]");
        } catch (const Error& e) {
          throw Error(label + ": " + e.what());
        }
      }
      if (!get_or<bool>(j, "rms_norm", true, label)) throw Error(label + ": rms_norm=false is not supported");
      c.norm_groups = 1;
      if (c.num_heads * c.head_dim != c.intermediate_size)
        throw Error(label + ": inconsistent configuration: hidden_size * expand (" +
                    std::to_string(c.intermediate_size) + ") must equal num_heads * head_dim (" +
                    std::to_string(c.num_heads * c.head_dim) + ")");
    }
  }

  if (c.hidden_act != "silu" && c.hidden_act != "swish")
    throw Error(label + ": hidden_act '" + c.hidden_act + "' is not supported (only silu)");
  require_positive(c.vocab_size, "vocab_size", label);
  require_positive(c.hidden_size, "hidden_size", label);
  require_positive(c.num_layers, "num_hidden_layers", label);
  require_positive(c.state_size, "state_size", label);
  require_positive(c.intermediate_size, "intermediate_size", label);
  require_positive(c.conv_kernel, "conv_kernel", label);
  if (c.arch == Arch::Mamba1) {
    require_positive(c.time_step_rank, "time_step_rank", label);
  } else {
    require_positive(c.num_heads, "num_heads", label);
    require_positive(c.n_groups, "n_groups", label);
    require_positive(c.chunk_size, "chunk_size", label);
    if (c.num_heads % c.n_groups != 0)
      throw Error(label + ": num_heads (" + std::to_string(c.num_heads) + ") must be a multiple of n_groups (" +
                  std::to_string(c.n_groups) + ")");
    if (c.intermediate_size % c.norm_groups != 0)
      throw Error(label + ": intermediate size must be a multiple of the norm groups");
  }
  if (!(c.layer_norm_epsilon >= 0)) throw Error(label + ": layer_norm_epsilon must be >= 0");

  if (j.contains("shedder_layers_without_ssm")) {
    const auto& l = j["shedder_layers_without_ssm"];
    if (!l.is_array()) throw Error(label + ": shedder_layers_without_ssm must be a list of layer indices");
    for (const auto& v : l) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= c.num_layers)
        throw Error(label + ": shedder_layers_without_ssm holds an invalid layer index " + v.dump());
      c.layers_without_ssm.push_back(v.get<int64_t>());
    }
  }
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
  return j;
}

}  // namespace shedder

// GGUF export of Mamba-1 / Mamba-2 models for llama.cpp (see gguf_export.h).
#include "export/gguf_export.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "export/gguf_vocab.h"
#include "model/mamba_model.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

std::string dims_text(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// Refuses, before any tensor is touched, a configuration llama.cpp's mamba / mamba2 cannot compute.
void check_expressible(const ModelConfig& c, const std::string& label) {
  const std::string arch = arch_name(c.arch);
  const std::string pre = label + ": llama.cpp's " + arch + " architecture cannot express ";
  if (c.hidden_act != "silu" && c.hidden_act != "swish") throw Error(pre + "hidden_act \"" + c.hidden_act + "\" (it computes silu)");
  if (c.use_bias) throw Error(pre + "biases on in_proj and out_proj (config use_bias = true)");
  if (c.arch == Arch::Mamba1) {
    if (c.intermediate_size != 2 * c.hidden_size)
      throw Error(pre + "an expansion factor other than 2 (intermediate_size " + std::to_string(c.intermediate_size) +
                  " for hidden_size " + std::to_string(c.hidden_size) + ")");
    return;
  }
  if (c.n_groups < 1 || c.intermediate_size % c.n_groups != 0 || c.num_heads * c.head_dim != c.intermediate_size)
    throw Error(pre + "this head/group layout (num_heads " + std::to_string(c.num_heads) + " x head_dim " +
                std::to_string(c.head_dim) + ", n_groups " + std::to_string(c.n_groups) + ", intermediate_size " +
                std::to_string(c.intermediate_size) + ")");
  if (c.n_groups > 1 && c.norm_groups != c.n_groups)
    throw Error(pre + "a gated RMSNorm over the whole inner dimension with n_groups = " + std::to_string(c.n_groups) +
                " (it normalises each of the n_groups groups separately, as mamba_ssm does; transformers' layout "
                "normalises over all of them)");
  if (c.time_step_limit_min != 0.0 || !std::isinf(c.time_step_limit_max))
    throw Error(pre + "a dt limit (time_step_limit [" + std::to_string(c.time_step_limit_min) + ", " +
                std::to_string(c.time_step_limit_max) + "]; it never clamps dt)");
}

// Renames the pruned checkpoint's tensors to llama.cpp's, checking every shape.
class Builder {
 public:
  Builder(const ModelConfig& c, const PrunedCheckpoint& ck, GgufWriter& w, GgmlType type, std::string label)
      : c_(c), w_(w), type_(type), label_(std::move(label)), arch_(arch_name(c.arch)) {
    for (const auto& [name, t] : ck.tensors) tensors_[name] = t;
  }

  // The stored tensor `name` (the source checkpoint's name), which must have `shape`.
  at::Tensor take(const std::string& name, std::vector<int64_t> shape) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw Error(label_ + ": the checkpoint has no tensor '" + name + "'");
    used_.insert(name);
    const at::Tensor& t = it->second;
    if (t.sizes() != at::IntArrayRef(shape))
      throw Error(label_ + ": tensor '" + name + "' has shape " + dims_text(t.sizes()) + "; llama.cpp's " + arch_ +
                  " needs " + dims_text(shape) + " (one size for every layer)");
    return t;
  }
  // A matrix stored in the chosen type (f16: refused when a value does not fit).
  void matrix(const std::string& gguf_name, const std::string& source, const at::Tensor& t) {
    if (type_ == GgmlType::F16) {
      const double m = t.abs().max().item<double>();
      if (!(m <= 65504.0))
        throw Error(label_ + ": tensor '" + source + "' holds values up to " + std::to_string(m) +
                    ", beyond f16's range (65504); write --gguf-type bf16 or f32");
    }
    w_.add_tensor(gguf_name, t, type_);
  }
  void f32(const std::string& gguf_name, const at::Tensor& t) { w_.add_tensor(gguf_name, t, GgmlType::F32); }
  // Every checkpoint tensor must have found its place.
  void check_all_used() const {
    for (const auto& [name, t] : tensors_)
      if (!used_.count(name))
        throw Error(label_ + ": tensor '" + name + "' has no counterpart in llama.cpp's " + arch_ + " architecture");
  }

  void mamba1_layer(int64_t j, bool has_ssm);
  void mamba2_layer(int64_t j, bool has_ssm);

 private:
  const ModelConfig& c_;
  GgufWriter& w_;
  GgmlType type_;
  std::string label_, arch_;
  std::map<std::string, at::Tensor> tensors_;
  std::set<std::string> used_;
};

void Builder::mamba1_layer(int64_t j, bool has_ssm) {
  const int64_t H = c_.hidden_size, D = c_.intermediate_size, K = c_.conv_kernel, R = c_.time_step_rank,
                N = c_.state_size;
  const std::string p = "backbone.layers." + std::to_string(j) + ".", b = "blk." + std::to_string(j) + ".";
  const at::TensorOptions f = at::TensorOptions().dtype(at::kFloat);
  f32(b + "attn_norm.weight", take(p + "norm.weight", {H}));
  matrix(b + "ssm_in.weight", p + "mixer.in_proj.weight", take(p + "mixer.in_proj.weight", {2 * D, H}));
  f32(b + "ssm_conv1d.weight", take(p + "mixer.conv1d.weight", {D, 1, K}).reshape({D, K}));
  f32(b + "ssm_conv1d.bias", c_.use_conv_bias ? take(p + "mixer.conv1d.bias", {D}) : at::zeros({D}, f));
  if (has_ssm) {
    matrix(b + "ssm_x.weight", p + "mixer.x_proj.weight", take(p + "mixer.x_proj.weight", {R + 2 * N, D}));
    matrix(b + "ssm_dt.weight", p + "mixer.dt_proj.weight", take(p + "mixer.dt_proj.weight", {D, R}));
    f32(b + "ssm_dt.bias", take(p + "mixer.dt_proj.bias", {D}));
    f32(b + "ssm_a", -at::exp(take(p + "mixer.A_log", {D, N}).to(at::kFloat)));
    f32(b + "ssm_d", take(p + "mixer.D", {D}));
  } else {  // pass-through: B = C = 0 (and dt = 0), D = 1, so y = x
    matrix(b + "ssm_x.weight", "", at::zeros({R + 2 * N, D}, f));
    matrix(b + "ssm_dt.weight", "", at::zeros({D, R}, f));
    f32(b + "ssm_dt.bias", at::zeros({D}, f));
    f32(b + "ssm_a", -at::ones({D, N}, f));
    f32(b + "ssm_d", at::ones({D}, f));
  }
  matrix(b + "ssm_out.weight", p + "mixer.out_proj.weight", take(p + "mixer.out_proj.weight", {H, D}));
}

void Builder::mamba2_layer(int64_t j, bool has_ssm) {
  const int64_t H = c_.hidden_size, D = c_.intermediate_size, K = c_.conv_kernel, N = c_.state_size,
                G = c_.n_groups, NH = c_.num_heads;
  const int64_t conv_dim = D + 2 * G * N, in_rows = D + conv_dim + NH;
  const std::string p = "backbone.layers." + std::to_string(j) + ".", b = "blk." + std::to_string(j) + ".";
  const at::TensorOptions f = at::TensorOptions().dtype(at::kFloat);
  f32(b + "attn_norm.weight", take(p + "norm.weight", {H}));
  const std::string in = p + "mixer.in_proj.weight", cw = p + "mixer.conv1d.weight", cb = p + "mixer.conv1d.bias";
  if (has_ssm) {
    matrix(b + "ssm_in.weight", in, take(in, {in_rows, H}));
    f32(b + "ssm_conv1d.weight", take(cw, {conv_dim, 1, K}).reshape({conv_dim, K}));
    f32(b + "ssm_conv1d.bias", c_.use_conv_bias ? take(cb, {conv_dim}) : at::zeros({conv_dim}, f));
    f32(b + "ssm_dt.bias", take(p + "mixer.dt_bias", {NH}));
    f32(b + "ssm_a", (-at::exp(take(p + "mixer.A_log", {NH}).to(at::kFloat))).reshape({NH, 1}));
    f32(b + "ssm_d", take(p + "mixer.D", {NH}).reshape({NH, 1}));
  } else {  // pass-through: the B/C rows of in_proj and their conv channels zero (B = C = 0), D = 1, so y = x
    const at::Tensor zx = take(in, {2 * D, H});
    matrix(b + "ssm_in.weight", in, at::cat({zx, at::zeros({in_rows - 2 * D, H}, zx.options())}, 0));
    const at::Tensor w = take(cw, {D, 1, K}).reshape({D, K});
    f32(b + "ssm_conv1d.weight", at::cat({w.to(at::kFloat), at::zeros({2 * G * N, K}, f)}, 0));
    const at::Tensor bias = c_.use_conv_bias ? take(cb, {D}).to(at::kFloat) : at::zeros({D}, f);
    f32(b + "ssm_conv1d.bias", at::cat({bias, at::zeros({2 * G * N}, f)}, 0));
    f32(b + "ssm_dt.bias", at::zeros({NH}, f));
    f32(b + "ssm_a", -at::ones({NH, 1}, f));
    f32(b + "ssm_d", at::ones({NH, 1}, f));
  }
  f32(b + "ssm_norm.weight", take(p + "mixer.norm.weight", {D}).reshape({G, D / G}));
  matrix(b + "ssm_out.weight", p + "mixer.out_proj.weight", take(p + "mixer.out_proj.weight", {H, D}));
}

void add_hparams(GgufWriter& w, const ModelConfig& c, int64_t layers, GgmlType type, const std::string& name) {
  const std::string a = arch_name(c.arch);
  w.add_string("general.architecture", a);
  w.add_string("general.type", "model");
  w.add_string("general.name", name);
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32.
  w.add_uint32("general.file_type", type == GgmlType::F32 ? 0 : type == GgmlType::F16 ? 1 : 32);
  w.add_uint32(a + ".context_length", 1u << 20);  // a recurrent model has no limit; llama.cpp's converter's value
  w.add_uint32(a + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.add_uint32(a + ".feed_forward_length", 0);
  w.add_uint32(a + ".attention.head_count", 0);
  w.add_uint32(a + ".block_count", static_cast<uint32_t>(layers));
  w.add_uint32(a + ".ssm.conv_kernel", static_cast<uint32_t>(c.conv_kernel));
  w.add_uint32(a + ".ssm.inner_size", static_cast<uint32_t>(c.intermediate_size));
  w.add_uint32(a + ".ssm.state_size", static_cast<uint32_t>(c.state_size));
  if (c.arch == Arch::Mamba1) {
    w.add_uint32(a + ".ssm.time_step_rank", static_cast<uint32_t>(c.time_step_rank));
    w.add_bool(a + ".ssm.dt_b_c_rms", false);
  } else {
    w.add_uint32(a + ".ssm.time_step_rank", static_cast<uint32_t>(c.num_heads));  // heads, as llama.cpp reads it
    w.add_uint32(a + ".ssm.group_count", static_cast<uint32_t>(c.n_groups));
  }
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.layer_norm_epsilon));
}

}  // namespace

GgmlType parse_gguf_type(const std::string& s, const Model& model) {
  std::string v = s;
  if (v == "auto") {
    const std::string& st = model.source_dtype();
    v = st == "F16" ? "f16" : st == "BF16" ? "bf16" : "f32";
  }
  if (v == "f32") return GgmlType::F32;
  if (v == "f16") return GgmlType::F16;
  if (v == "bf16") return GgmlType::BF16;
  throw Error("export: --gguf-type must be f32, f16, bf16 or auto (got '" + s + "')");
}

GgufWriter make_gguf(const Model& model, const RemovalSet& removed, GgmlType type, const std::string& label,
                     GgufExportResult* info) {
  const auto* mm = dynamic_cast<const MambaModel*>(&model);
  if (!mm)
    throw Error(label + ": llama.cpp has no architecture for " + std::string(model.arch()) +
                " models (a hybrid of Mamba layers and attention); only Mamba-1 and Mamba-2 export to GGUF — "
                "export a model folder instead");
  check_expressible(mm->config(), label);
  const std::string tok = (fs::path(model.dir()) / "tokenizer.json").string();
  if (!fs::exists(tok))
    throw Error(label + ": the model folder has no tokenizer.json, and llama.cpp needs the tokenizer in the GGUF file");

  const PlanPtr plan = model.plan(removed, label + ": removal set");
  const PrunedCheckpoint ck = model.pruned_checkpoint(*plan);
  // The pruned model's own sizes (width cuts change heads, head_dim, inner width, state size).
  if (ck.config.contains("shedder_layer_sizes"))
    throw Error(label + ": llama.cpp's " + arch_name(mm->config().arch) + " architecture cannot express layers of "
                "different sizes (the removal set cuts layers' heads, channels or state unequally)");
  ModelConfig c = ModelConfig::from_json(ck.config, label + ": the pruned config");
  c.norm_groups = mm->config().norm_groups == 1 ? 1 : c.n_groups;  // the layout, which config.json does not say
  check_expressible(c, label);
  std::set<int64_t> no_ssm;
  if (ck.config.contains("shedder_layers_without_ssm"))
    for (const auto& l : ck.config["shedder_layers_without_ssm"]) no_ssm.insert(l.get<int64_t>());

  GgufWriter w(label);
  add_hparams(w, c, ck.layers, type, fs::path(model.dir()).lexically_normal().filename().string());
  std::map<std::string, at::Tensor> by_name(ck.tensors.begin(), ck.tensors.end());
  const auto emb = by_name.find("backbone.embeddings.weight");
  if (emb == by_name.end()) throw Error(label + ": the checkpoint has no tensor 'backbone.embeddings.weight'");
  const int64_t rows = emb->second.size(0);
  add_gguf_vocab(w, gguf_vocab_from_tokenizer(tok, rows), c.bos_token_id, c.eos_token_id, c.pad_token_id);
  w.add_string_array("shedder.removed", removed.ids());
  std::vector<int32_t> source_layers;
  for (int64_t j = 0; j < ck.layers; ++j) source_layers.push_back(ck.layer_map.at(std::to_string(j)).get<int32_t>());
  w.add_int32_array("shedder.source_layers", source_layers);

  Builder b(c, ck, w, type, label);
  b.matrix("token_embd.weight", "backbone.embeddings.weight",
           b.take("backbone.embeddings.weight", {rows, c.hidden_size}));
  b.f32("output_norm.weight", b.take("backbone.norm_f.weight", {c.hidden_size}));
  if (!c.tie_word_embeddings)
    b.matrix("output.weight", "lm_head.weight", b.take("lm_head.weight", {rows, c.hidden_size}));
  for (int64_t j = 0; j < ck.layers; ++j) {
    if (c.arch == Arch::Mamba1) b.mamba1_layer(j, !no_ssm.count(j));
    else b.mamba2_layer(j, !no_ssm.count(j));
  }
  b.check_all_used();
  if (info) {
    info->type = type;
    info->layers_after = ck.layers;
    info->params_before = model.total_parameters();
    info->params_after = 0;
    for (const auto& [name, t] : ck.tensors) info->params_after += t.numel();
    info->tensors = w.tensor_count();
    info->kvs = w.kv_count();
    info->pass_through_ssm_layers.assign(no_ssm.begin(), no_ssm.end());
  }
  return w;
}

GgufExportResult export_gguf(const Model& model, const RemovalSet& removed, const GgufExportOptions& opts) {
  const std::string& out = opts.out_path;
  if (out.empty()) throw Error("export: no output file given (--out FILE.gguf)");
  if (fs::is_directory(out)) throw Error(out + ": is a folder; --format gguf writes one file (--out FILE.gguf)");
  if (fs::exists(out)) {
    if (!opts.force) throw Error(out + ": exists; use --force to replace it");
    std::ifstream in(out, std::ios::binary);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    if (!in || std::string(magic, 4) != "GGUF")
      throw Error(out + ": exists and is not a GGUF file; it is never replaced, even with --force");
  }
  GgufExportResult res;
  GgufWriter w = make_gguf(model, removed, parse_gguf_type(opts.type, model), out, &res);
  if (opts.expect_params_after && *opts.expect_params_after != res.params_after)
    throw Error("export: the recipe expects " + std::to_string(*opts.expect_params_after) +
                " parameters after the removal; this model gives " + std::to_string(res.params_after) +
                " (a different checkpoint than the recipe was made from?)");
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) create_folder(parent.string());
  w.write(out, opts.cancel);
  res.bytes = w.file_size();
  return res;
}

}  // namespace shedder

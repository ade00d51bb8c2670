// Trainable Mamba model (see trainable_model.h): parameters, differentiable forward, LoRA, saving.
#include "train/trainable_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>

#include "io/checkpoint.h"
#include "io/model_folder.h"
#include "io/safetensors.h"
#include "model/mamba_model.h"
#include "shed/removal_set.h"
#include "train/ssm_scan_function.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

std::string lp(int64_t l) { return "backbone.layers." + std::to_string(l) + "."; }

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

at::Tensor causal_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  // x [B, L, C], w [C, 1, K] -> silu(depthwise causal conv) [B, L, C]
  const int64_t L = x.size(1), K = w.size(2);
  at::Tensor y = at::conv1d(x.transpose(1, 2), w, b, {1}, {K - 1}, {1}, w.size(0));
  return at::silu(y.narrow(2, 0, L).transpose(1, 2));
}

}  // namespace

TrainableModel TrainableModel::load(const std::string& dir, const LoraOptions& lora, const at::Device& device,
                                    uint64_t seed) {
  // Validation (presence, shapes, dtypes, finiteness) is MambaModel's; its copy is released right away.
  return from_model(*MambaModel::load(dir), lora, device, seed);
}

TrainableModel TrainableModel::from_model(const MambaModel& model, const LoraOptions& lora, const at::Device& device,
                                          uint64_t seed) {
  TrainableModel m;
  m.config_ = model.config();
  m.source_dtype_ = model.source_dtype();
  const std::string& dir = model.dir();
  m.dir_ = dir;
  m.device_ = device;
  WeightStore store = WeightStore::open_folder(dir);
  for (const std::string& name : store.names()) {
    if (name.rfind("backbone.", 0) != 0 && name.rfind("lm_head.", 0) != 0) continue;
    if (name == "lm_head.weight" && m.config_.tie_word_embeddings) continue;
    TrainableParam tp;
    tp.name = name;
    tp.value = store.at(name).tensor.to(at::kFloat).contiguous().clone().to(device);
    tp.trainable = lora.rank <= 0;
    tp.decay = tp.value.dim() >= 2 && !ends_with(name, "A_log");
    m.params_.push_back(std::move(tp));
  }
  if (lora.rank > 0) {
    m.lora_rank_ = lora.rank;
    m.lora_scale_ = (lora.alpha > 0 ? lora.alpha : static_cast<double>(lora.rank)) / static_cast<double>(lora.rank);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (int64_t l = 0; l < m.config_.num_layers; ++l) {
      for (const char* proj : {"mixer.in_proj", "mixer.out_proj"}) {
        const std::string base = lp(l) + proj;
        const at::Tensor* w = nullptr;
        for (const auto& tp : m.params_)
          if (tp.name == base + ".weight") w = &tp.value;
        if (!w) throw Error(dir + ": no " + base + ".weight for LoRA");
        const int64_t out = w->size(0), in = w->size(1);
        // PEFT's initialisation: A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
        const double bound = 1.0 / std::sqrt(static_cast<double>(in));
        at::Tensor A = (at::rand({lora.rank, in}, gen, at::kFloat) * 2 - 1) * bound;
        m.params_.push_back({base + ".lora_A", A.to(device), true, false});
        m.params_.push_back({base + ".lora_B", at::zeros({out, lora.rank}, at::kFloat).to(device), true, false});
      }
    }
  }
  for (size_t i = 0; i < m.params_.size(); ++i) {
    m.index_[m.params_[i].name] = i;
    if (m.params_[i].trainable) m.params_[i].value.requires_grad_(true);
  }
  return m;
}

int64_t TrainableModel::trainable_count() const {
  int64_t n = 0;
  for (const auto& tp : params_)
    if (tp.trainable) n += tp.value.numel();
  return n;
}

const at::Tensor& TrainableModel::p(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error(dir_ + ": the model has no tensor " + name);
  return params_[it->second].value;
}

at::Tensor TrainableModel::linear_lora(const at::Tensor& x, const std::string& prefix, bool with_bias) const {
  at::Tensor b = with_bias && index_.count(prefix + ".bias") ? p(prefix + ".bias") : at::Tensor();
  at::Tensor y = at::linear(x, p(prefix + ".weight"), b);
  if (lora_rank_ > 0)
    y = y + at::linear(at::linear(x, p(prefix + ".lora_A")), p(prefix + ".lora_B")) * lora_scale_;
  return y;
}

at::Tensor TrainableModel::mixer_mamba1(int64_t l, const at::Tensor& x) const {
  const ModelConfig& c = config_;
  const std::string pre = lp(l) + "mixer.";
  const int64_t D = c.intermediate_size, R = c.time_step_rank, N = c.state_size;
  at::Tensor proj = linear_lora(x, pre + "in_proj", c.use_bias);
  at::Tensor xs = proj.narrow(2, 0, D), z = proj.narrow(2, D, D);
  at::Tensor cb = index_.count(pre + "conv1d.bias") ? p(pre + "conv1d.bias") : at::Tensor();
  at::Tensor xc = causal_conv(xs, p(pre + "conv1d.weight"), cb);
  at::Tensor y;
  if (!c.layer_has_ssm(l)) {
    y = xc * at::silu(z);
  } else {
    at::Tensor sp = at::linear(xc, p(pre + "x_proj.weight"));
    at::Tensor dt = at::softplus(at::linear(sp.narrow(2, 0, R), p(pre + "dt_proj.weight"), p(pre + "dt_proj.bias")));
    at::Tensor Bm = sp.narrow(2, R, N), Cm = sp.narrow(2, R + N, N);
    at::Tensor A = -at::exp(p(pre + "A_log"));  // [D, N]
    y = differentiable_ssm_scan(xc, dt, A, Bm.unsqueeze(2), Cm.unsqueeze(2), fused_scan_) + xc * p(pre + "D");
    y = y * at::silu(z);
  }
  return linear_lora(y, pre + "out_proj", c.use_bias);
}

at::Tensor TrainableModel::mixer_mamba2(int64_t l, const at::Tensor& x) const {
  const ModelConfig& c = config_;
  const std::string pre = lp(l) + "mixer.";
  const int64_t D = c.intermediate_size, G = c.n_groups, N = c.state_size, Hh = c.num_heads, P = c.head_dim;
  const bool ssm = c.layer_has_ssm(l);
  at::Tensor proj = linear_lora(x, pre + "in_proj", c.use_bias);
  const int64_t need = ssm ? c.in_proj_rows() : 2 * D;
  const int64_t o = proj.size(2) - need;  // 2 * d_mlp (mamba_ssm's unused MLP rows)
  at::Tensor z = proj.narrow(2, o, D);
  at::Tensor cb = index_.count(pre + "conv1d.bias") ? p(pre + "conv1d.bias") : at::Tensor();
  at::Tensor y;
  if (!ssm) {
    y = causal_conv(proj.narrow(2, o + D, D), p(pre + "conv1d.weight"), cb);
  } else {
    const int64_t Bsz = x.size(0), L = x.size(1);
    at::Tensor xBC = causal_conv(proj.narrow(2, o + D, c.conv_dim()), p(pre + "conv1d.weight"), cb);
    at::Tensor xs = xBC.narrow(2, 0, D);
    at::Tensor Bm = xBC.narrow(2, D, G * N).reshape({Bsz, L, G, N});
    at::Tensor Cm = xBC.narrow(2, D + G * N, G * N).reshape({Bsz, L, G, N});
    at::Tensor dt = at::softplus(proj.narrow(2, o + D + c.conv_dim(), Hh) + p(pre + "dt_bias"));  // [B, L, H]
    if (c.time_step_limit_min > 0) dt = at::clamp_min(dt, c.time_step_limit_min);
    if (std::isfinite(c.time_step_limit_max)) dt = at::clamp_max(dt, c.time_step_limit_max);
    // Per-head dt and A spread over the head's channels (channel d = head * P + p).
    at::Tensor A = (-at::exp(p(pre + "A_log"))).repeat_interleave(P).unsqueeze(1).expand({D, N});
    y = differentiable_ssm_scan(xs, dt.repeat_interleave(P, 2), A, Bm, Cm, fused_scan_) +
        xs * p(pre + "D").repeat_interleave(P);
  }
  at::Tensor normed = group_rms_normalize(y * at::silu(z), c.norm_groups, c.layer_norm_epsilon);
  return linear_lora(p(pre + "norm.weight") * normed, pre + "out_proj", c.use_bias);
}

at::Tensor TrainableModel::forward(const at::Tensor& ids) const {
  const ModelConfig& c = config_;
  at::Tensor h = at::embedding(p("backbone.embeddings.weight"), ids.to(device_, at::kLong));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    at::Tensor x = rms_norm(h, p(lp(l) + "norm.weight"), c.layer_norm_epsilon);
    h = h + (c.arch == Arch::Mamba1 ? mixer_mamba1(l, x) : mixer_mamba2(l, x));
  }
  h = rms_norm(h, p("backbone.norm_f.weight"), c.layer_norm_epsilon);
  const at::Tensor& head = c.tie_word_embeddings ? p("backbone.embeddings.weight") : p("lm_head.weight");
  return at::linear(h, head);
}

at::Tensor TrainableModel::loss(const at::Tensor& ids) const {
  at::Tensor logits = forward(ids);
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2);
  at::Tensor lp_ = at::log_softmax(logits.narrow(1, 0, L - 1).reshape({B * (L - 1), V}), -1);
  at::Tensor target = ids.to(device_, at::kLong).narrow(1, 1, L - 1).reshape({B * (L - 1)});
  return at::nll_loss(lp_, target);
}

std::vector<std::pair<std::string, at::Tensor>> TrainableModel::merged_weights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& tp : params_) {
    if (ends_with(tp.name, ".lora_A") || ends_with(tp.name, ".lora_B")) continue;
    at::Tensor w = tp.value.detach();
    if (lora_rank_ > 0 && ends_with(tp.name, "proj.weight") &&
        (tp.name.find("mixer.in_proj") != std::string::npos || tp.name.find("mixer.out_proj") != std::string::npos)) {
      const std::string base = tp.name.substr(0, tp.name.size() - std::string(".weight").size());
      w = w + at::matmul(p(base + ".lora_B").detach(), p(base + ".lora_A").detach()) * lora_scale_;
    }
    out.emplace_back(tp.name, w.to(at::kCPU).contiguous());
  }
  return out;
}

void TrainableModel::save(const std::string& dir, const std::string& dtype) const {
  const std::string dt = dtype.empty() ? source_dtype_ : dtype;
  at::ScalarType st;
  if (dt == "F32") {
    st = at::kFloat;
  } else if (dt == "BF16") {
    st = at::kBFloat16;
  } else if (dt == "F16") {
    st = at::kHalf;
  } else {
    throw Error(dir + ": cannot save weights as " + dt + " (use F32, BF16 or F16)");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  auto weights = merged_weights();
  for (auto& kv : weights) kv.second = kv.second.to(st).contiguous();
  write_safetensors(dir + "/model.safetensors", weights, {{"format", "pt"}});
  // The architecture is unchanged: a Hugging Face config is copied as it is, others are converted.
  std::string cfg_text;
  const std::string src_cfg = dir_ + "/config.json";
  if (config_.layout == WeightLayout::HuggingFace && fs::exists(src_cfg, ec)) {
    cfg_text = read_file_bytes(src_cfg);
  } else {
    cfg_text = config_.to_hf_json().dump(2) + "\n";
  }
  if (fs::absolute(dir).lexically_normal() != fs::absolute(dir_).lexically_normal()) {
    write_file_atomic(dir + "/config.json", cfg_text);
    copy_tokenizer_files(dir_, dir);
  }
}

}  // namespace shedder

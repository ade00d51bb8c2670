// Loading (with full validation against config.json) and the forward pass of Mamba-1 / Mamba-2.
#include "model/mamba_model.h"

#include <c10/core/GradMode.h>
#include <filesystem>
#include <set>
#include <sstream>

#include "io/checkpoint.h"
#include "kernels/mixer_ops.h"
#include "runtime/device.h"
#include "runtime/op_profile.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  return w * (xf * at::rsqrt(var + eps)).to(x.scalar_type());
}

at::Tensor group_rms_normalize(const at::Tensor& g, int64_t groups, double eps) {
  if (groups <= 1) return g * at::rsqrt(g.pow(2).mean(-1, true) + eps);
  std::vector<int64_t> shape = g.sizes().vec();
  shape.back() /= groups;
  shape.insert(shape.end() - 1, groups);
  at::Tensor gg = g.reshape(shape);
  return (gg * at::rsqrt(gg.pow(2).mean(-1, true) + eps)).reshape(g.sizes());
}

namespace {

// Fetches and validates weights by name; remembers which stored tensors were used.
class WeightFetcher {
 public:
  WeightFetcher(const WeightStore& ws, const ModelConfig& cfg, const LoadOptions& opts)
      : ws_(ws), cfg_(cfg), opts_(opts) {}

  // `keep_f32`: on a GPU the tensor stays float32 (conv weights, A_log, D, dt_bias), like the reference.
  at::Tensor get(const std::string& name, std::vector<int64_t> shape, bool keep_f32 = false) {
    if (!ws_.contains(name)) {
      throw Error(ws_.describe_files() + " in " + fs::path(cfg_.source).parent_path().string() + ": missing tensor '" +
                  name + "' (expected shape " + shape_str(shape) + " from " + fs::path(cfg_.source).filename().string() +
                  ")");
    }
    const WeightEntry& e = ws_.at(name);
    used_.insert(name);
    if (!e.tensor.defined() ||
        (e.tensor.scalar_type() != at::kFloat && e.tensor.scalar_type() != at::kHalf &&
         e.tensor.scalar_type() != at::kBFloat16 && e.tensor.scalar_type() != at::kDouble)) {
      throw Error(e.file + ": tensor '" + name + "' has dtype " + e.dtype +
                  ", which a model weight cannot have (supported: F32, F16, BF16)");
    }
    if (e.tensor.sizes() != at::IntArrayRef(shape)) {
      throw Error(e.file + ": tensor '" + name + "' has shape " + shape_str(e.tensor.sizes()) + " but " +
                  fs::path(cfg_.source).filename().string() + " implies " + shape_str(shape));
    }
    // On the CPU everything is float32 (a view of the map when already float32); on a GPU the tensor goes
    // straight to the device, in the compute dtype unless the reference keeps it in float32.
    at::Tensor t = device_.is_cpu() ? e.tensor.to(at::kFloat)
                                    : e.tensor.to(device_, keep_f32 ? at::kFloat : dtype_, /*non_blocking=*/false, /*copy=*/false);
    if (opts_.check_finite && !at::isfinite(t).all().item<bool>()) {
      const int64_t bad = (~at::isfinite(t)).sum().item<int64_t>();
      throw Error(e.file + ": tensor '" + name + "' contains " + std::to_string(bad) +
                  " NaN or infinite value(s); the checkpoint is corrupt");
    }
    return t;
  }
  void place(const at::Device& d, at::ScalarType t) {
    device_ = d;
    dtype_ = t;
  }
  at::Tensor get_optional(bool present, const std::string& name, std::vector<int64_t> shape) {
    return present ? get(name, std::move(shape)) : at::Tensor();
  }
  bool used(const std::string& name) const { return used_.count(name) != 0; }

 private:
  const WeightStore& ws_;
  const ModelConfig& cfg_;
  const LoadOptions& opts_;
  std::set<std::string> used_;
  at::Device device_ = at::Device(at::kCPU);
  at::ScalarType dtype_ = at::kFloat;
};

int64_t numel_or0(const at::Tensor& t) { return t.defined() ? t.numel() : 0; }

// The conv inputs to keep after `x` ([B, L, C], row-strided): the last K-1 of (previous state, x).
void advance_conv_state(at::Tensor& conv, const at::Tensor& x) {
  const int64_t k1 = conv.size(1), L = x.size(1);
  if (k1 == 0) return;
  conv = L >= k1 ? x.narrow(1, L - k1, k1).contiguous() : at::cat({conv.narrow(1, L, k1 - L), x}, 1).contiguous();
}

// Runs `f`, timed under `name` when SHEDDER_PROFILE is on (runtime/op_profile.h).
template <class F>
at::Tensor prof(const char* name, const at::Device& d, F&& f) {
  if (!profile::enabled()) return f();
  profile::Scope scope(name, d);
  return f();
}

}  // namespace

MambaModel::~MambaModel() = default;

std::shared_ptr<MambaModel> MambaModel::load(const std::string& dir, const LoadOptions& opts) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": no such model folder");
  const fs::path cfg_path = fs::path(dir) / "config.json";
  if (!fs::exists(cfg_path, ec)) throw Error(cfg_path.string() + ": missing (a model folder needs config.json)");

  std::shared_ptr<MambaModel> m(new MambaModel());
  m->dir_ = dir;
  m->config_ = ModelConfig::from_file(cfg_path.string());
  const ModelConfig& c = m->config_;
  WeightStore ws = WeightStore::open_folder(dir);
  m->weight_files_ = ws.describe_files();
  WeightFetcher wf(ws, c, opts);

  const int64_t H = c.hidden_size, D = c.intermediate_size, N = c.state_size, K = c.conv_kernel;
  const std::string emb_name = "backbone.embeddings.weight";
  if (ws.contains(emb_name)) m->source_dtype_ = ws.at(emb_name).dtype;
  m->device_ = parse_device(opts.device);
  m->dtype_ = resolve_compute_dtype(opts.dtype, m->device_, m->source_dtype_);
  wf.place(m->device_, m->dtype_);
  m->embedding_ = wf.get(emb_name, {c.padded_vocab, H});
  m->norm_f_ = wf.get("backbone.norm_f.weight", {H});
  if (c.tie_word_embeddings) {
    m->lm_head_ = m->embedding_;
  } else {
    m->lm_head_ = wf.get("lm_head.weight", {c.padded_vocab, H});
  }

  ParamCounts& pc = m->params_;
  pc.embedding = m->embedding_.numel();
  pc.final_norm = m->norm_f_.numel();
  pc.lm_head = c.tie_word_embeddings ? 0 : m->lm_head_.numel();

  // Layers are added as their weights are validated (no up-front allocation sized by an untrusted config).
  m->layers_.reserve(static_cast<size_t>(std::min<int64_t>(c.num_layers, 1024)));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights& L = m->layers_.emplace_back();
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    L.has_ssm = c.layer_has_ssm(i);
    L.norm_w = wf.get(p + "norm.weight", {H});
    int64_t ssm_params = 0;
    if (c.arch == Arch::Mamba1) {
      const int64_t R = c.time_step_rank;
      L.in_proj_w = wf.get(p + "mixer.in_proj.weight", {2 * D, H});
      L.in_proj_b = wf.get_optional(c.use_bias, p + "mixer.in_proj.bias", {2 * D});
      at::Tensor conv = wf.get(p + "mixer.conv1d.weight", {D, 1, K}, /*keep_f32=*/true);
      L.conv_w_kc = conv.reshape({D, K}).t().contiguous();
      if (c.use_conv_bias) L.conv_b = wf.get(p + "mixer.conv1d.bias", {D}, /*keep_f32=*/true);
      if (L.has_ssm) {
        L.x_proj_w = wf.get(p + "mixer.x_proj.weight", {R + 2 * N, D});
        L.dt_proj_w = wf.get(p + "mixer.dt_proj.weight", {D, R});
        L.dt_proj_b = wf.get(p + "mixer.dt_proj.bias", {D}, /*keep_f32=*/true);  // added inside the scan on a GPU
        at::Tensor A_log = wf.get(p + "mixer.A_log", {D, N}, /*keep_f32=*/true);
        L.A_nd = (-at::exp(A_log)).t().contiguous();
        L.Dv = wf.get(p + "mixer.D", {D}, /*keep_f32=*/true);
        ssm_params = L.x_proj_w.numel() + L.dt_proj_w.numel() + L.dt_proj_b.numel() + A_log.numel() + L.Dv.numel();
      }
      L.out_proj_w = wf.get(p + "mixer.out_proj.weight", {H, D});
      L.out_proj_b = wf.get_optional(c.use_bias, p + "mixer.out_proj.bias", {H});
      pc.block.push_back(L.norm_w.numel() + L.in_proj_w.numel() + numel_or0(L.in_proj_b) + conv.numel() +
                         numel_or0(L.conv_b) + ssm_params + L.out_proj_w.numel() + numel_or0(L.out_proj_b));
    } else {
      const int64_t Hh = c.num_heads, GN = c.n_groups * N;
      const int64_t conv_ch = L.has_ssm ? c.conv_dim() : D;
      const int64_t need_rows = L.has_ssm ? c.in_proj_rows() : 2 * D;
      // Exactly z, x, B, C, dt: mamba_ssm's extra d_mlp rows only exist with d_ssm < d_inner, which the config
      // parser refuses.
      L.in_proj_w = wf.get(p + "mixer.in_proj.weight", {need_rows, H});
      L.in_proj_b = wf.get_optional(c.use_bias, p + "mixer.in_proj.bias", {need_rows});
      at::Tensor conv = wf.get(p + "mixer.conv1d.weight", {conv_ch, 1, K}, /*keep_f32=*/true);
      L.conv_w_kc = conv.reshape({conv_ch, K}).t().contiguous();
      if (c.use_conv_bias) L.conv_b = wf.get(p + "mixer.conv1d.bias", {conv_ch}, /*keep_f32=*/true);
      if (L.has_ssm) {
        L.dt_bias = wf.get(p + "mixer.dt_bias", {Hh}, /*keep_f32=*/true);
        at::Tensor A_log = wf.get(p + "mixer.A_log", {Hh}, /*keep_f32=*/true);
        L.A_h = -at::exp(A_log);
        L.Dv = wf.get(p + "mixer.D", {Hh}, /*keep_f32=*/true);
        // Dead with the SSM: dt_bias, A_log, D, and the B/C/dt rows of in_proj with their conv channels.
        const int64_t dead_rows = 2 * GN + Hh;
        ssm_params = 3 * Hh + dead_rows * H + (c.use_bias ? dead_rows : 0) + 2 * GN * K + (c.use_conv_bias ? 2 * GN : 0);
      }
      L.gnorm_w = wf.get(p + "mixer.norm.weight", {D});
      L.out_proj_w = wf.get(p + "mixer.out_proj.weight", {H, D});
      L.out_proj_b = wf.get_optional(c.use_bias, p + "mixer.out_proj.bias", {H});
      pc.block.push_back(L.norm_w.numel() + L.in_proj_w.numel() + numel_or0(L.in_proj_b) + conv.numel() +
                         numel_or0(L.conv_b) + (L.has_ssm ? 3 * Hh : 0) + L.gnorm_w.numel() + L.out_proj_w.numel() +
                         numel_or0(L.out_proj_b));
    }
    pc.ssm.push_back(ssm_params);
  }
  pc.total = pc.embedding + pc.final_norm + pc.lm_head;
  for (int64_t b : pc.block) pc.total += b;

  const fs::path tok = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tok, ec)) m->tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::from_file(tok.string()));
  return m;
}

const BpeTokenizer& MambaModel::tokenizer() const {
  if (!tokenizer_)
    throw Error((fs::path(dir_) / "tokenizer.json").string() +
                ": missing; this model folder has no tokenizer (use pre-tokenized input, e.g. --tokens FILE)");
  return *tokenizer_;
}

at::Tensor MambaModel::embed(const at::Tensor& ids) const {
  if (ids.dim() != 2) throw Error("input ids must be a [batch, length] tensor (got " + shape_str(ids.sizes()) + ")");
  if (!at::isIntegralType(ids.scalar_type(), /*includeBool=*/false))
    throw Error("input ids must be integers");
  at::Tensor idl = ids.to(at::kLong);
  if (idl.numel() > 0) {
    const int64_t lo = idl.min().item<int64_t>(), hi = idl.max().item<int64_t>();
    if (lo < 0 || hi >= config_.padded_vocab)
      throw Error("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the model's vocabulary (0.." +
                  std::to_string(config_.padded_vocab - 1) + ")");
  }
  return at::embedding(embedding_, idl.to(device_)).to(at::kFloat);
}

at::Tensor MambaModel::block(int64_t layer, const at::Tensor& hidden, bool skip_ssm, LayerState* state) const {
  const LayerWeights& w = layers_.at(static_cast<size_t>(layer));
  at::Tensor x = prof("norm", device_, [&] { return ops::rms_norm(hidden, w.norm_w, config_.layer_norm_epsilon); });
  at::Tensor out = branch(layer, x, skip_ssm, state);
  return prof("residual", device_, [&] { return hidden + out; });  // residual kept in float32
}

at::Tensor MambaModel::branch(int64_t layer, const at::Tensor& x, bool skip_ssm, LayerState* state) const {
  const LayerWeights& w = layers_.at(static_cast<size_t>(layer));
  return config_.arch == Arch::Mamba1 ? mixer_mamba1(w, x, skip_ssm || !w.has_ssm, state)
                                      : mixer_mamba2(w, x, skip_ssm || !w.has_ssm, state);
}

at::Tensor MambaModel::mixer_mamba1(const LayerWeights& w, const at::Tensor& x, bool skip_ssm,
                                    LayerState* state) const {
  const int64_t D = config_.intermediate_size, R = config_.time_step_rank, N = config_.state_size;
  at::Tensor proj = prof("in_proj", device_, [&] { return at::linear(x, w.in_proj_w, w.in_proj_b); });  // [B, L, 2D]
  at::Tensor xs = proj.narrow(2, 0, D), z = proj.narrow(2, D, D);
  at::Tensor xc = prof("conv", device_, [&] {
    return ops::causal_conv1d(xs, w.conv_w_kc, w.conv_b, /*silu=*/true, state ? state->conv : at::Tensor());
  });
  if (state) advance_conv_state(state->conv, xs);
  at::Tensor y;
  if (skip_ssm) {
    y = xc * at::silu(z);
  } else {
    at::Tensor ssm_p = prof("x_proj", device_, [&] { return at::linear(xc, w.x_proj_w); });  // [B, L, R + 2N]
    // On a GPU dt_proj's bias is added in float32 inside the scan (as mamba_ssm's kernels do), which saves a
    // pass over [B, L, D]; on the CPU the float32 linear includes it. softplus: in the scan.
    const bool gpu = !device_.is_cpu();
    at::Tensor dt = prof("dt_proj", device_, [&] {
      if (!gpu) return at::linear(ssm_p.narrow(2, 0, R), w.dt_proj_w, w.dt_proj_b).contiguous();
      const at::Tensor low = ssm_p.narrow(2, 0, R);
      return at::mm(low.reshape({-1, R}), w.dt_proj_w.t()).view({low.size(0), low.size(1), D});
    });
    y = prof("scan", device_, [&] {
      return ops::selective_scan(xc, dt, w.A_nd, ssm_p.narrow(2, R, N), ssm_p.narrow(2, R + N, N), w.Dv, z,
                                 state ? state->ssm : at::Tensor(), ops::Impl::Auto,
                                 gpu ? w.dt_proj_b : at::Tensor());
    });
  }
  return prof("out_proj", device_, [&] { return at::linear(y, w.out_proj_w, w.out_proj_b); });
}

at::Tensor MambaModel::mixer_mamba2(const LayerWeights& w, const at::Tensor& x, bool skip_ssm,
                                    LayerState* state) const {
  const ModelConfig& c = config_;
  const int64_t D = c.intermediate_size, GN = c.n_groups * c.state_size;
  at::Tensor proj = prof("in_proj", device_, [&] { return at::linear(x, w.in_proj_w, w.in_proj_b); });
  const int64_t o = 0;  // z starts the projection
  at::Tensor z = proj.narrow(2, o, D);
  at::Tensor y;
  const at::Tensor prev = state ? state->conv : at::Tensor();
  if (!w.has_ssm) {
    at::Tensor xin = proj.narrow(2, o + D, D);
    y = ops::causal_conv1d(xin, w.conv_w_kc, w.conv_b, true, prev);
    if (state) advance_conv_state(state->conv, xin);
  } else {
    at::Tensor xin = proj.narrow(2, o + D, c.conv_dim());
    at::Tensor xBC = prof("conv", device_, [&] { return ops::causal_conv1d(xin, w.conv_w_kc, w.conv_b, true, prev); });
    if (state) advance_conv_state(state->conv, xin);
    at::Tensor xs = xBC.narrow(2, 0, D);
    if (skip_ssm) {
      y = xs;
    } else {
      y = prof("scan", device_, [&] {
        return ops::ssd_scan(xs, proj.narrow(2, o + D + c.conv_dim(), c.num_heads), w.dt_bias, w.A_h,
                             xBC.narrow(2, D, GN), xBC.narrow(2, D + GN, GN), w.Dv, c.head_dim, c.n_groups,
                             c.time_step_limit_min, c.time_step_limit_max, state ? state->ssm : at::Tensor());
      });
    }
  }
  // Gated RMSNorm: norm(y * silu(z)) over the inner dimension (per group for mamba_ssm checkpoints).
  at::Tensor g = prof("gated_norm", device_, [&] {
    return ops::gated_rms_norm(y, z, w.gnorm_w, c.norm_groups, c.layer_norm_epsilon);
  });
  return prof("out_proj", device_, [&] { return at::linear(g, w.out_proj_w, w.out_proj_b); });
}

at::Tensor MambaModel::head(const at::Tensor& hidden) const {
  // transformers: the final norm takes the float32 residual, the head its output cast to the weight dtype.
  at::Tensor h = prof("final_norm", device_, [&] {
    return ops::rms_norm(hidden, norm_f_, config_.layer_norm_epsilon, /*round_input=*/false);
  });
  at::Tensor logits = prof("lm_head", device_, [&] { return at::linear(h.to(lm_head_.scalar_type()), lm_head_); });
  return prof("logits_to_f32", device_, [&] { return logits.to(at::kFloat); });
}

at::Tensor MambaModel::hidden_states(const at::Tensor& ids, const ModelMask& mask, RecurrentState* state) const {
  if (!mask.empty() && static_cast<int64_t>(mask.size()) != config_.num_layers)
    throw Error("removal mask has " + std::to_string(mask.size()) + " entries for a model of " +
                std::to_string(config_.num_layers) + " layers");
  c10::NoGradGuard no_grad;
  if (state) {
    if (state->layers.size() != static_cast<size_t>(config_.num_layers))
      throw Error("recurrent state: not made for this model (use RecurrentState::zeros)");
    if (ids.dim() != 2 || ids.size(0) != state->batch())
      throw Error("recurrent state holds " + std::to_string(state->batch()) + " sequences, the input has " +
                  (ids.dim() == 2 ? std::to_string(ids.size(0)) : std::string("a bad shape")));
    if (state->mask_ != mask_signature(mask, config_.num_layers))
      throw Error("recurrent state: it was made for another removal mask; use the mask it was made for");
  }
  at::Tensor h = embed(ids);
  // On a GPU each block's residual add is fused with the next block's norm (one pass over the float32
  // residual instead of two; the same arithmetic as block()).
  const bool fuse = !device_.is_cpu();
  at::Tensor pending;  // the previous block's branch, not yet added to h
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const LayerMask lm = mask.empty() ? LayerMask{} : mask[static_cast<size_t>(i)];
    if (lm.skip_block) continue;
    LayerState* ls = state ? &state->layers[static_cast<size_t>(i)] : nullptr;
    if (!fuse) {
      h = block(i, h, lm.skip_ssm, ls);
      continue;
    }
    const LayerWeights& w = layers_.at(static_cast<size_t>(i));
    at::Tensor x = prof("norm", device_, [&] {
      if (!pending.defined()) return ops::rms_norm(h, w.norm_w, config_.layer_norm_epsilon);
      at::Tensor next;
      at::Tensor n = ops::add_rms_norm(h, pending, w.norm_w, config_.layer_norm_epsilon, next);
      h = next;
      return n;
    });
    pending = branch(i, x, lm.skip_ssm, ls);
  }
  if (pending.defined()) h = prof("residual", device_, [&] { return h + pending; });
  if (state) state->position_ += ids.size(1);
  return h;
}

at::Tensor MambaModel::forward(const at::Tensor& ids, const ModelMask& mask, RecurrentState* state) const {
  c10::NoGradGuard no_grad;
  return head(hidden_states(ids, mask, state));
}

at::Tensor MambaModel::step(const at::Tensor& ids, const ModelMask& mask, RecurrentState& state) const {
  if (ids.dim() != 1) throw Error("step: ids must be a [batch] tensor (one token per sequence)");
  return forward(ids.unsqueeze(1), mask, &state).squeeze(1);
}

}  // namespace shedder

// AdamW, learning-rate schedule and gradient clipping (see adamw.h).
#include "train/adamw.h"

#include <c10/core/GradMode.h>

#include <cmath>

#include "util/error.h"

namespace shedder {

void AdamW::step(std::vector<TrainableParam>& params, double lr) {
  c10::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  for (auto& tp : params) {
    if (!tp.trainable) continue;
    at::Tensor g = tp.value.grad();
    if (!g.defined()) continue;
    at::Tensor& m = m_[tp.name];
    at::Tensor& v = v_[tp.name];
    if (!m.defined()) {
      m = at::zeros_like(tp.value);
      v = at::zeros_like(tp.value);
    }
    if (tp.decay && o_.weight_decay > 0) tp.value.mul_(1.0 - lr * o_.weight_decay);
    m.mul_(o_.beta1).add_(g, 1.0 - o_.beta1);
    v.mul_(o_.beta2).addcmul_(g, g, 1.0 - o_.beta2);
    at::Tensor denom = (v / bc2).sqrt_().add_(o_.eps);
    tp.value.addcdiv_(m, denom, -lr / bc1);
  }
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& kv : m_) out.emplace_back("adam_m." + kv.first, kv.second.to(at::kCPU).contiguous());
  for (const auto& kv : v_) out.emplace_back("adam_v." + kv.first, kv.second.to(at::kCPU).contiguous());
  return out;
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& tensors, int64_t steps, const at::Device& device) {
  m_.clear();
  v_.clear();
  for (const auto& kv : tensors) {
    if (kv.first.rfind("adam_m.", 0) == 0) m_[kv.first.substr(7)] = kv.second.to(device, at::kFloat).clone();
    if (kv.first.rfind("adam_v.", 0) == 0) v_[kv.first.substr(7)] = kv.second.to(device, at::kFloat).clone();
  }
  t_ = steps;
}

double scheduled_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr) {
  if (warmup > 0 && step <= warmup) return lr * static_cast<double>(step) / static_cast<double>(warmup);
  if (total <= warmup) return lr;
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(total - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

double clip_grad_norm(std::vector<TrainableParam>& params, double max_norm) {
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (auto& tp : params)
    if (tp.trainable && tp.value.grad().defined()) norms.push_back(tp.value.grad().norm());
  if (norms.empty()) return 0;
  const double norm = at::stack(norms).norm().item<double>();  // one device sync for all parameters
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const double s = max_norm / (norm + 1e-6);
    for (auto& tp : params)
      if (tp.trainable && tp.value.grad().defined()) tp.value.grad().mul_(s);
  }
  return norm;
}

}  // namespace shedder

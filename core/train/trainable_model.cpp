// Trainable models of every architecture (see trainable_model.h): parameters from the checkpoint, the model's own
// forward with autograd, LoRA, saving.
#include "train/trainable_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "io/checkpoint.h"
#include "io/model_folder.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "util/error.h"
#include "util/file_util.h"
#include "util/json_util.h"

namespace fs = std::filesystem;

namespace shedder {

TrainableModel::TrainableModel(std::shared_ptr<Model> model, const LoraOptions& lora, uint64_t seed)
    : model_(std::move(model)) {
  slots_ = model_->weight_slots();
  const WeightStore store = WeightStore::open_folder(model_->dir());
  const at::Device device = model_->device();
  std::set<std::string> lora_targets;
  for (const WeightSlot& s : slots_) {
    if (!index_.count(s.name)) {
      TrainableParam tp;
      tp.name = s.name;
      tp.value = store.at(s.name).tensor.to(at::kFloat).contiguous().clone().to(device);
      tp.trainable = lora.rank <= 0;
      tp.decay = s.decay;
      index_[s.name] = params_.size();
      params_.push_back(std::move(tp));
    }
    if (s.lora_target) lora_targets.insert(s.name);
  }
  if (lora.rank > 0) {
    lora_rank_ = lora.rank;
    lora_scale_ = (lora.alpha > 0 ? lora.alpha : static_cast<double>(lora.rank)) / static_cast<double>(lora.rank);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (const std::string& name : lora_targets) {  // sorted: the same adapters for the same seed
      const at::Tensor& w = param(name);
      const int64_t out = w.size(0), in = w.size(1);
      const std::string base = name.substr(0, name.size() - std::string(".weight").size());
      // PEFT's initialisation: A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      at::Tensor A = (at::rand({lora.rank, in}, gen, at::kFloat) * 2 - 1) * bound;
      index_[base + ".lora_A"] = params_.size();
      params_.push_back({base + ".lora_A", A.to(device), true, false});
      index_[base + ".lora_B"] = params_.size();
      params_.push_back({base + ".lora_B", at::zeros({out, lora.rank}, at::kFloat).to(device), true, false});
    }
  }
  for (auto& tp : params_)
    if (tp.trainable) tp.value.requires_grad_(true);
}

TrainableModel::~TrainableModel() = default;
TrainableModel::TrainableModel(TrainableModel&&) noexcept = default;

TrainableModel TrainableModel::load(const std::string& dir, const LoraOptions& lora, const at::Device& device,
                                    uint64_t seed) {
  LoadOptions o;
  o.device = device.str();
  o.dtype = "float32";
  return TrainableModel(Model::load(dir, o), lora, seed);
}

const std::string& TrainableModel::dir() const { return model_->dir(); }
const at::Device& TrainableModel::device() const { return model_->device(); }

int64_t TrainableModel::trainable_count() const {
  int64_t n = 0;
  for (const auto& tp : params_)
    if (tp.trainable) n += tp.value.numel();
  return n;
}

const at::Tensor& TrainableModel::param(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw InternalError("trainable model has no tensor " + name);
  return params_[it->second].value;
}

at::Tensor TrainableModel::effective(const std::string& name) const {
  const at::Tensor& w = param(name);
  if (lora_rank_ <= 0) return w;
  const std::string base = name.substr(0, name.size() - std::string(".weight").size());
  auto a = index_.find(base + ".lora_A");
  if (a == index_.end()) return w;
  return w + at::matmul(param(base + ".lora_B"), params_[a->second].value) * lora_scale_;
}

at::Tensor TrainableModel::forward(const at::Tensor& ids) const {
  // The parameters (LoRA merged, in the model's own form) go into the model's slots, then its own forward runs
  // with autograd recording.
  for (const WeightSlot& s : slots_) {
    const at::Tensor w = effective(s.name);
    *s.internal = s.to_internal ? s.to_internal(w) : w;
  }
  c10::AutoGradMode grad(true);
  const PlanPtr p = model_->plan({});
  Activations a = model_->embed(ids, *p, nullptr);
  model_->layers(0, model_->num_layers(), a, *p, nullptr);
  at::Tensor h = a.prefix > 0 ? a.hidden.narrow(1, a.prefix, a.hidden.size(1) - a.prefix) : a.hidden;
  return model_->head(h);
}

at::Tensor TrainableModel::loss(const at::Tensor& ids) const {
  at::Tensor logits = forward(ids);
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2);
  at::Tensor lp = at::log_softmax(logits.narrow(1, 0, L - 1).reshape({B * (L - 1), V}), -1);
  at::Tensor target = ids.to(model_->device(), at::kLong).narrow(1, 1, L - 1).reshape({B * (L - 1)});
  return at::nll_loss(lp, target);
}

std::vector<std::pair<std::string, at::Tensor>> TrainableModel::merged_weights() const {
  c10::NoGradGuard no_grad;
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& tp : params_) {
    if (tp.name.size() > 7 && (tp.name.compare(tp.name.size() - 7, 7, ".lora_A") == 0 ||
                               tp.name.compare(tp.name.size() - 7, 7, ".lora_B") == 0))
      continue;
    out.emplace_back(tp.name, effective(tp.name).detach().to(at::kCPU).contiguous());
  }
  return out;
}

void TrainableModel::save(const std::string& dir, const std::string& dtype) const {
  const std::string dt = dtype.empty() ? model_->source_dtype() : dtype;
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
  create_folder(dir);
  auto weights = merged_weights();
  for (auto& kv : weights) kv.second = kv.second.to(st).contiguous();
  write_safetensors(dir + "/model.safetensors", weights, {{"format", "pt"}});
  // The architecture is unchanged: the source's config.json is copied as it is (the mamba_ssm layout's is
  // converted by the model's summary of it).
  if (fs::absolute(dir).lexically_normal() != fs::absolute(model_->dir()).lexically_normal()) {
    const nlohmann::json cfg = read_json_file_lenient(model_->dir() + "/config.json");
    const bool mamba_ssm_layout = cfg.is_object() && (cfg.contains("d_model") || cfg.contains("ssm_cfg"));
    write_file_atomic(dir + "/config.json", mamba_ssm_layout ? model_->summary().dump(2) + "\n"
                                                             : read_file_bytes(model_->dir() + "/config.json"));
    copy_tokenizer_files(model_->dir(), dir);
  }
}

}  // namespace shedder

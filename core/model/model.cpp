// The model interface's shared parts (see model.h): loading by architecture, the whole-sequence passes built
// from embed/layer/head, recurrent states, token-id checks and the tokenizer.
#include "model/model.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <filesystem>

#include "io/checkpoint.h"
#include "model/hymba_model.h"
#include "model/mamba_model.h"
#include "model/zamba2_model.h"
#include "runtime/device.h"
#include "runtime/op_profile.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"
#include "util/json_util.h"

namespace fs = std::filesystem;

namespace shedder {

ForwardPlan::~ForwardPlan() = default;
Model::~Model() = default;

std::string model_type_of(const std::string& dir) {
  try {
    const nlohmann::json j = read_json_file_lenient((fs::path(dir) / "config.json").string());
    if (!j.is_object()) return "";
    const std::string t = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "";
    if (t == "mamba" || t == "mamba2" || t == "zamba2" || t == "hymba") return t;
    if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
        j["architectures"][0].is_string()) {
      const std::string a = j["architectures"][0].get<std::string>();
      if (a == "MambaForCausalLM") return "mamba";
      if (a == "Mamba2ForCausalLM") return "mamba2";
      if (a == "Zamba2ForCausalLM") return "zamba2";
      if (a == "HymbaForCausalLM") return "hymba";
    }
  } catch (const Error&) {
  }
  return "";
}

std::shared_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts) {
  const std::string type = model_type_of(dir);
  std::shared_ptr<Model> m;
  if (type == "zamba2") m = Zamba2Model::load(dir, opts);
  else if (type == "hymba") m = HymbaModel::load(dir, opts);
  else m = MambaModel::load(dir, opts);  // Mamba-1/2 in either layout; says what is wrong otherwise
  if (opts.reorder_mlp_channels) {
    m->reorder_mlp_channels();
    m->reordered_ = true;
  }
  return m;
}



const BpeTokenizer& Model::tokenizer() const {
  if (!tokenizer_)
    throw Error((fs::path(dir_) / "tokenizer.json").string() +
                ": missing; this model folder has no tokenizer (use pre-tokenized input, e.g. --tokens FILE)");
  return *tokenizer_;
}

void Model::load_tokenizer() {
  std::error_code ec;
  const fs::path tok = fs::path(dir_) / "tokenizer.json";
  if (fs::exists(tok, ec)) tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::from_file(tok.string()));
}

std::string Model::open_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": no such model folder");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(cfg_path, ec)) throw Error(cfg_path + ": missing (a model folder needs config.json)");
  dir_ = dir;
  return cfg_path;
}

void Model::place(const WeightStore& ws, const LoadOptions& opts, const std::string& probe) {
  weight_files_ = ws.describe_files();
  if (ws.contains(probe)) source_dtype_ = ws.at(probe).dtype;
  device_ = parse_device(opts.device);
  dtype_ = resolve_compute_dtype(opts.dtype, device_, source_dtype_);
}

bool Model::has_granularity(Granularity g) const {
  for (Granularity h : granularities())
    if (h == g) return true;
  return false;
}

bool Model::layer_local(Granularity) const { return true; }

int64_t Model::kept_parameters(const RemovalSet& removed, const std::string& label) const {
  return plan(removed, label)->kept_parameters();
}

int64_t Model::removed_parameters(const RemovalSet& r) const { return total_parameters() - kept_parameters(r); }

int64_t Model::first_layer(const ComponentId& c) const { return c.layer >= 0 ? c.layer : 0; }

int64_t Model::last_layer(const ComponentId& c) const {
  return c.layer >= 0 && layer_local(c.kind) ? std::max(c.layer, first_layer(c)) : num_layers() - 1;
}

at::Tensor Model::checked_ids(const at::Tensor& ids) const {
  if (ids.dim() != 2) throw Error("input ids must be a [batch, length] tensor (got " + shape_str(ids.sizes()) + ")");
  if (!at::isIntegralType(ids.scalar_type(), /*includeBool=*/false)) throw Error("input ids must be integers");
  at::Tensor idl = ids.to(at::kLong);
  if (idl.numel() > 0) {
    const int64_t lo = idl.min().item<int64_t>(), hi = idl.max().item<int64_t>();
    if (lo < 0 || hi >= vocab_rows())
      throw Error("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the model's vocabulary (0.." +
                  std::to_string(vocab_rows() - 1) + ")");
  }
  return idl.to(device_);
}

void Model::layers(int64_t from, int64_t to, Activations& a, const ForwardPlan& p, RecurrentState* state) const {
  for (int64_t l = from; l < to; ++l) layer(l, a, p, state);
}

at::Tensor Model::hidden_states(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state) const {
  c10::NoGradGuard no_grad;
  if (state) {
    if (state->layers.size() != static_cast<size_t>(num_layers()))
      throw Error("recurrent state: not made for this model (use Model::state)");
    if (ids.dim() != 2 || ids.size(0) != state->batch())
      throw Error("recurrent state holds " + std::to_string(state->batch()) + " sequences, the input has " +
                  (ids.dim() == 2 ? std::to_string(ids.size(0)) : std::string("a bad shape")));
    if (state->plan_ids_ != p.removal().ids())
      throw Error("recurrent state: it was made for another removal set; use the set it was made for");
  }
  Activations a = embed(ids, p, state);
  layers(0, num_layers(), a, p, state);
  if (state) state->position_ += ids.size(1);
  return a.prefix > 0 ? a.hidden.narrow(1, a.prefix, a.hidden.size(1) - a.prefix) : a.hidden;
}

at::Tensor Model::head(const at::Tensor& hidden) const {
  at::Tensor logits = head_logits(hidden);
  SHEDDER_PROFILE_SCOPE("logits_to_f32", device_);
  return logits.to(at::kFloat);
}

at::Tensor Model::forward(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state) const {
  c10::NoGradGuard no_grad;
  return head(hidden_states(ids, p, state));
}

at::Tensor Model::forward(const at::Tensor& ids, const RemovalSet& removed) const { return forward(ids, *plan(removed)); }

at::Tensor Model::step(const at::Tensor& ids, const ForwardPlan& p, RecurrentState& state) const {
  if (ids.dim() != 1) throw Error("step: ids must be a [batch] tensor (one token per sequence)");
  return forward(ids.unsqueeze(1), p, &state).squeeze(1);
}

RecurrentState Model::state(int64_t batch, const ForwardPlan& p) const {
  if (batch < 1) throw Error("recurrent state: batch must be at least 1");
  RecurrentState s;
  s.batch_ = batch;
  s.layers = zero_state(batch, p);
  s.plan_ids_ = p.removal().ids();
  return s;
}

// ---- RecurrentState ----------------------------------------------------------------------------------------------

int64_t RecurrentState::bytes() const {
  int64_t b = 0;
  for (const auto& l : layers)
    for (const at::Tensor* t : {&l.conv, &l.ssm, &l.k, &l.v})
      if (t->defined()) b += t->numel() * static_cast<int64_t>(t->element_size());
  return b;
}

RecurrentState RecurrentState::select(const std::vector<int64_t>& rows) const {
  for (int64_t r : rows)
    if (r < 0 || r >= batch_) throw Error("recurrent state: row " + std::to_string(r) + " outside the batch");
  at::Tensor idx = at::empty({static_cast<int64_t>(rows.size())}, at::kLong);
  std::copy(rows.begin(), rows.end(), idx.data_ptr<int64_t>());
  RecurrentState s;
  s.batch_ = static_cast<int64_t>(rows.size());
  s.position_ = position_;
  s.plan_ids_ = plan_ids_;
  s.layers.resize(layers.size());
  auto pick = [&](const at::Tensor& t) { return t.defined() ? t.index_select(0, idx.to(t.device())).contiguous() : t; };
  for (size_t l = 0; l < layers.size(); ++l) {
    s.layers[l].conv = pick(layers[l].conv);
    s.layers[l].ssm = pick(layers[l].ssm);
    s.layers[l].k = pick(layers[l].k);
    s.layers[l].v = pick(layers[l].v);
  }
  return s;
}

RecurrentState RecurrentState::repeat(int64_t n) const {
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t k = 0; k < n; ++k) rows.push_back(b);
  return select(rows);
}

RecurrentState RecurrentState::clone() const {
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch_; ++b) rows.push_back(b);
  return select(rows);
}

}  // namespace shedder

// The one model interface of the engine. Every architecture — Mamba-1 and Mamba-2 (model/mamba_model), Zamba2
// (model/zamba2_model) and Hymba (model/hymba_model) — implements it, and everything else works on it alone: the
// search with its prefix cache, perplexity, accuracy, generation, the benchmark, export, tuning, the CLI and the
// GUI. In the spirit of llama.cpp's per-architecture files over one shared context: each architecture loads its
// config and tensors and says how one layer computes; the shared pieces (the Mamba mixers, attention, the norms)
// live in model/mamba_mixer, model/attention and kernels/mixer_ops.
//
// The forward pass is split at layer boundaries: embed() makes the stream entering layer 0, layer() advances it
// through one layer, head_logits() turns the last hidden states into logits (head(): as float32). A ForwardPlan is a
// removal set resolved against the model (checked, with whatever the pass needs precomputed); every pass runs under
// one. The stream (Activations) holds everything later layers read, so a pass can resume at any boundary the search
// cached.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/component_tree.h"
#include "model/removal.h"

namespace shedder {

class BpeTokenizer;
class WeightStore;

// One weight of a model as training sees it (Model::weight_slots; train/trainable_model.h holds the parameters).
struct WeightSlot {
  std::string name;                                          // as stored in the checkpoint
  at::Tensor* internal = nullptr;                            // the model's own form of it
  std::function<at::Tensor(const at::Tensor&)> to_internal;  // checkpoint form -> the model's (null: the same)
  bool lora_target = false;                                  // the architecture's LoRA targets (the reference's)
  bool decay = false;                                        // a matrix AdamW decays
};

// Builds a model's weight_slots() list; add() skips a tensor the model does not hold (undefined).
class WeightSlotList {
 public:
  void add(const std::string& name, at::Tensor& t, bool decay, bool lora = false,
           std::function<at::Tensor(const at::Tensor&)> to_internal = nullptr) {
    if (t.defined()) slots_.push_back({name, &t, std::move(to_internal), lora, decay});
  }
  // The token embedding stored as `embedding_name` and the LM head: "lm_head.weight", or the embedding itself when
  // the two are tied (one parameter).
  void add_embedding_and_head(const std::string& embedding_name, at::Tensor& embedding, at::Tensor& head, bool tied) {
    add(embedding_name, embedding, true);
    add(tied ? embedding_name : "lm_head.weight", head, true);
  }
  // A depthwise conv weight stored [C, 1, K] as the model's [K, C].
  static std::function<at::Tensor(const at::Tensor&)> conv_from_stored(int64_t K) {
    return [K](const at::Tensor& w) { return w.reshape({w.size(0), K}).t().contiguous(); };
  }
  std::vector<WeightSlot> take() { return std::move(slots_); }

 private:
  std::vector<WeightSlot> slots_;
};

struct LoadOptions {
  bool check_finite = true;  // refuse weights holding NaN/Inf (names the tensor)
  // Where the model computes (runtime/device.h: "cpu", "cuda", "cuda:N", "auto") and in which dtype ("auto":
  // float32 on the CPU, the checkpoint's dtype on a GPU). Weights go straight to the device in that dtype; the
  // residual stream, norm statistics, conv weights, A, D, dt_bias and scan states stay float32.
  std::string device = "cpu";
  std::string dtype = "auto";
  // Channel groups: MLP channels per group (Zamba2, Hymba) or a Mamba-1 mixer's inner channels per group (pure
  // Mamba-1 models); 0: I/16 rounded to a power of two in [16, 128].
  int64_t mlp_channel_group = 0;
  // State dimensions per state chunk (layers.N.ssm.state.J of pure Mamba models); 0: state_size / 8, at least 1.
  int64_t state_step = 0;
  // MLP channel candidates: only each MLP's last kept group (the reference's width search, which shrinks an MLP
  // from the end after Model::reorder_mlp_channels) instead of every group.
  bool mlp_tail_groups = false;
  // Permute every MLP's channels by the reference's importance right after loading (Model::reorder_mlp_channels).
  bool reorder_mlp_channels = false;
};

// A removal set resolved against one model: validated (Model::plan throws shedder::Error for an id the model does
// not have or a removal that leaves it unable to compute), and whatever the forward pass needs precomputed.
class ForwardPlan {
 public:
  virtual ~ForwardPlan();
  const RemovalSet& removal() const { return removal_; }
  int64_t kept_parameters() const { return kept_parameters_; }  // parameters the masked model still uses

 protected:
  // What the plan removes and the parameters it keeps: each architecture's resolve() sets them once.
  void set(RemovalSet r, int64_t kept) {
    removal_ = std::move(r);
    kept_parameters_ = kept;
  }

 private:
  RemovalSet removal_;
  int64_t kept_parameters_ = 0;
};
using PlanPtr = std::shared_ptr<const ForwardPlan>;

// The stream at a layer boundary: what the next layer reads.
struct Activations {
  at::Tensor ids;         // [B, L] the input tokens (on the model's device)
  at::Tensor hidden;      // [B, T, H] float32 residual stream; T = prefix + L
  int64_t prefix = 0;     // leading rows of `hidden` that are no input token (Hymba's meta tokens); head() skips them
  int64_t position = 0;   // sequence position of the first token of `ids` (> 0 when continuing a state)
  // What a layer leaves for later layers besides `hidden`, indexed by the layer that made it (Hymba: the K/V a
  // producer layer shares with its consumers); batch first. The search's prefix cache keeps these with the
  // boundaries, so a pass resumed at layer l finds what the layers before l made.
  std::vector<std::vector<at::Tensor>> carried;
  // Recomputable from `ids` and never cached (Zamba2: the original embeddings its shared blocks read).
  at::Tensor scratch;
};

// Per layer, what a sequence leaves for the tokens after it (transformers' cache): the conv's last K-1 inputs
// [B, K-1, C], the SSM state (Mamba-1 [B, D, N], Mamba-2 [B, H, P, N]) and the attention K/V [B, heads, T, d].
struct LayerState {
  at::Tensor conv, ssm, k, v;
};

// The state of `batch` sequences after a prefix of tokens: with it a pass continues the sequences chunk by chunk or
// token by token and gives the logits of one pass over the whole sequence. Made by Model::state() for one plan and
// usable only with that plan.
class RecurrentState {
 public:
  RecurrentState() = default;

  bool empty() const { return layers.empty(); }
  int64_t batch() const { return batch_; }
  int64_t position() const { return position_; }  // tokens consumed so far (not counting a model's prefix rows)
  int64_t bytes() const;                          // memory held by the state tensors
  // Row i of the result is row rows[i] of this state (e.g. one context state repeated for every choice).
  RecurrentState select(const std::vector<int64_t>& rows) const;
  RecurrentState repeat(int64_t n) const;  // every row n times, in order (batch 1 -> n copies)
  RecurrentState clone() const;

  std::vector<LayerState> layers;

 private:
  friend class Model;
  int64_t batch_ = 0;
  int64_t position_ = 0;
  std::vector<std::string> plan_ids_;  // the removal set the state was made for
};

// What an export writes for a plan (export/exporter.h adds the report, the tokenizer and the reference files).
struct PrunedCheckpoint {
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // names as the architecture's loader reads them
  nlohmann::json config;                                    // config.json
  nlohmann::json layer_map = nlohmann::json::object();      // new layer index -> source layer index
  int64_t layers = 0;                                       // layers of the exported model
  bool transformers_loadable = true;                        // transformers reads config and weights as written
  // The tensors are the model's in-memory copies (compute dtype, maybe on a GPU), not the stored ones: the exporter
  // converts them to the checkpoint's dtype.
  bool in_compute_dtype = false;
  std::string note;                                         // why not, when not
};

class Model {
 public:
  // Loads a model folder, picking the architecture from config.json (model_type / architectures / the mamba_ssm
  // layout): Mamba-1, Mamba-2, Zamba2 or Hymba. Throws shedder::Error naming the file and the problem.
  static std::shared_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {});
  virtual ~Model();

  // ---- identity and sizes
  virtual const char* arch() const = 0;  // "mamba", "mamba2", "zamba2", "hymba"
  const std::string& dir() const { return dir_; }
  const std::string& weight_files() const { return weight_files_; }
  const std::string& source_dtype() const { return source_dtype_; }  // dtype the checkpoint stores ("F32", ...)
  const at::Device& device() const { return device_; }
  at::ScalarType compute_dtype() const { return dtype_; }  // matrices and activations between them
  virtual int64_t num_layers() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual int64_t vocab_size() const = 0;  // token ids the model defines
  virtual int64_t vocab_rows() const = 0;  // rows of the embedding and of the logits (vocab_size padded)
  virtual int64_t eos_token_id() const = 0;
  // The tokenizer from tokenizer.json; shedder::Error naming the file when the folder has none.
  const BpeTokenizer& tokenizer() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // The configuration as `info` and the GUI show it (architecture-specific fields).
  virtual nlohmann::json summary() const = 0;

  // ---- components
  virtual Component component_tree() const = 0;
  virtual std::vector<Granularity> granularities() const = 0;
  bool has_granularity(Granularity g) const;
  // True when removing a component of `g` changes one layer's computation only (so the cosine metric, which
  // compares that layer's output with and without it, applies).
  virtual bool layer_local(Granularity g) const;
  // Candidates of `g` that can be removed on top of `removed` (not removed, not inside something removed, and
  // leaving a model that computes), in a stable order.
  virtual std::vector<ComponentId> candidates(Granularity g, const RemovalSet& removed) const = 0;
  virtual int64_t total_parameters() const = 0;  // unique parameters (a tied head counted once)
  // Parameters the model still uses with `removed` removed, as plan(removed)->kept_parameters() but without touching
  // any weight (cheap enough for every click in the GUI; safe to call from any thread). shedder::Error as plan().
  virtual int64_t kept_parameters(const RemovalSet& removed, const std::string& label = "removal") const;
  int64_t removed_parameters(const RemovalSet& r) const;
  // The first layer whose computation removing `c` changes (the prefix cache recomputes from there).
  virtual int64_t first_layer(const ComponentId& c) const;
  // The last layer whose computation removing `c` changes: past it, a pass with `c` removed runs the layers as the
  // pass without it does (the search's stacked evaluation joins the candidate to others there). The default: the
  // component's layer for granularities local to one layer, else the last layer.
  virtual int64_t last_layer(const ComponentId& c) const;
  int64_t mlp_channel_group() const { return mlp_group_; }  // also a Mamba-1 mixer's channels per group
  int64_t state_step() const { return state_step_; }          // state dimensions per chunk (SsmState)
  bool mlp_tail_groups() const { return tail_groups_; }
  bool mlp_channels_reordered() const { return reordered_; }  // LoadOptions::reorder_mlp_channels
  // One line for people: the architecture and its main sizes.
  virtual std::string description() const = 0;

  // ---- forward
  // `removed` resolved against this model; shedder::Error prefixed by `label` when it is not valid here.
  virtual PlanPtr plan(const RemovalSet& removed, const std::string& label = "removal") const = 0;
  // The stream entering layer 0 (embeddings; a model's prefix rows): ids [B, L] integers on any device. With
  // `state`, ids continue the sequences it summarises.
  virtual Activations embed(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state) const = 0;
  // One layer (a removed one leaves the stream as it is), updating `state` when given.
  virtual void layer(int64_t l, Activations& a, const ForwardPlan& p, RecurrentState* state) const = 0;
  // Layers [from, to) (the default runs layer() in turn; a model may fuse across layers).
  virtual void layers(int64_t from, int64_t to, Activations& a, const ForwardPlan& p, RecurrentState* state) const;
  // Final norm and LM head: hidden [.., H] -> logits [.., vocab_rows] in the head weight's dtype (the compute dtype:
  // 16-bit on a GPU, where perplexity and the search read them as they are; see ops::row_nll).
  virtual at::Tensor head_logits(const at::Tensor& hidden) const = 0;
  // head_logits() as float32, as forward() returns them (transformers' `.float()`).
  at::Tensor head(const at::Tensor& hidden) const;
  // The last hidden states of the input tokens ([B, L, H]; a model's prefix rows dropped): head(hidden_states()) =
  // forward(). With `state` the pass continues it and leaves it after the new tokens.
  at::Tensor hidden_states(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state = nullptr) const;
  at::Tensor forward(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state = nullptr) const;
  at::Tensor forward(const at::Tensor& ids, const RemovalSet& removed = {}) const;
  // One token per sequence (ids [B]) -> logits [B, V], advancing `state`.
  at::Tensor step(const at::Tensor& ids, const ForwardPlan& p, RecurrentState& state) const;
  // The state before the first token (zeros) of `batch` sequences under `p`.
  RecurrentState state(int64_t batch, const ForwardPlan& p) const;

  // ---- export and training
  virtual PrunedCheckpoint pruned_checkpoint(const ForwardPlan& p) const = 0;
  // Every weight the model computes with, by its checkpoint name, with where the model keeps its own form of it
  // (training writes the parameters there before each pass). A tensor used in two places has two slots.
  virtual std::vector<WeightSlot> weight_slots() = 0;

 protected:
  Model() = default;
  // The per-layer state tensors of `batch` sequences under `p` (Model::state() adds the bookkeeping).
  virtual std::vector<LayerState> zero_state(int64_t batch, const ForwardPlan& p) const = 0;
  // Permutes every MLP's channels by the reference's importance (highest first) without changing the function, so
  // that channel groups hold channels of similar importance and the tail the least important (hybrids; no-op else).
  // Model::load calls it for LoadOptions::reorder_mlp_channels.
  virtual void reorder_mlp_channels() {}
  // Token ids as a [B, L] long tensor on the model's device; shedder::Error when not integers in the vocabulary.
  at::Tensor checked_ids(const at::Tensor& ids) const;
  // The tokenizer.json of dir_, when there is one.
  void load_tokenizer();
  // The first steps of every architecture's load: `dir` must be a folder with config.json (shedder::Error naming
  // what is missing); returns config.json's path and sets dir_.
  std::string open_folder(const std::string& dir);
  // Records the weight files and their dtype (that of the tensor `probe`), and where and in which dtype the model
  // computes (opts.device, opts.dtype).
  void place(const WeightStore& ws, const LoadOptions& opts, const std::string& probe);

  std::string dir_, weight_files_, source_dtype_ = "F32";
  at::Device device_ = at::Device(at::kCPU);
  at::ScalarType dtype_ = at::kFloat;
  int64_t mlp_group_ = 16;
  int64_t state_step_ = 1;
  bool tail_groups_ = false;
  bool reordered_ = false;
  std::unique_ptr<BpeTokenizer> tokenizer_;
};

// model_type of the folder's config.json ("mamba", "mamba2", "zamba2", "hymba"), "" when it names none of them.
std::string model_type_of(const std::string& dir);

}  // namespace shedder

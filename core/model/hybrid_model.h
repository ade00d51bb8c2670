// The interface of a hybrid SSM-attention model (Zamba2, Hymba) as the hybrid search, the exporter and the GUI
// tree see it: components named by string ids ("layers.3", "layers.3.ssm", "shared.0.attn.heads.1",
// "layers.2.mlp.channels.5", ...), a forward pass with any set of them removed, the candidates of a granularity,
// and export with the removed parts physically cut out. Loading picks the class from config.json's model_type.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/progress.h"
#include "model/component_tree.h"

namespace shedder {

class BpeTokenizer;
class WeightStore;

// What the hybrid search removes one at a time: whole layers, SSMs, uses of a shared transformer block (Zamba2),
// attention head groups (one KV head with its query heads: GQA groups stay whole), MLP channel groups (gate/up
// rows and down columns together) and SSM head groups (Hymba).
// Hymba also removes whole branches: Attention (a layer's attention heads) and Mlp (a layer's MLP).
enum class HybridGranularity { Block, Ssm, SharedBlock, AttentionHeads, MlpChannels, SsmHeads, Attention, Mlp };
// "block", "ssm", "shared", "head", "channel", "ssm-head", "attn", "mlp"
const char* hybrid_granularity_name(HybridGranularity g);
std::optional<HybridGranularity> parse_hybrid_granularity(const std::string& s);

// Removed components in removal order, by id.
struct HybridRemoval {
  std::vector<std::string> ids;
  bool empty() const { return ids.empty(); }
  bool contains(const std::string& id) const;
  void add(const std::string& id);  // no-op when present
  // {"removed": [ids...], "mlp_channel_group": G}
  nlohmann::json to_json(int64_t mlp_group) const;
  // Adds the ids of a comma-separated spec ("layers.3,shared.0.attn.heads.1").
  void add_spec(const std::string& spec);
};

struct HybridLoadOptions {
  bool check_finite = true;
  int64_t mlp_channel_group = 0;  // channels per MLP group; 0: I/16 rounded to a power of two in [16, 128]
  // MLP channel candidates: only each MLP's last kept group (the reference's width search, which shrinks an MLP
  // from the end after reorder_mlp_channels) instead of every group.
  bool mlp_tail_groups = false;
};

class HybridModel {
 public:
  virtual ~HybridModel();
  virtual const char* arch() const = 0;  // "zamba2" / "hymba"
  const std::string& dir() const { return dir_; }
  virtual int64_t vocab_size() const = 0;
  virtual int64_t num_layers() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual int64_t total_parameters() const = 0;
  int64_t mlp_channel_group() const { return mlp_group_; }
  virtual Component component_tree() const = 0;
  // Candidates of `g` not removed (nor inside something removed), in a stable order.
  virtual std::vector<std::string> candidates(HybridGranularity g, const HybridRemoval& removed) const = 0;
  // Throws shedder::Error prefixed by `label` naming an id this model does not have, or a removal that would
  // leave an attention or MLP block empty.
  virtual void check_removal(const HybridRemoval& removed, const std::string& label) const = 0;
  virtual int64_t removed_parameters(const HybridRemoval& removed) const = 0;
  // ids [B, L] -> logits [B, L, V] float32, with `removed` taken out.
  virtual at::Tensor forward(const at::Tensor& ids, const HybridRemoval& removed = {}) const = 0;
  // Writes a model folder (config.json, model.safetensors, the tokenizer files) with the removed components
  // physically cut out, as one step (io/model_folder.h: an existing out_dir only with `force`, never the model
  // folder); the loader reads it back. Throws shedder::Error naming the folder.
  virtual void export_pruned(const HybridRemoval& removed, const std::string& out_dir, bool force = false) const = 0;
  const BpeTokenizer* tokenizer() const { return tokenizer_.get(); }  // null when the folder has none
  // Permutes every MLP's channels by importance (L1 norm of the gate row plus that of the up row, highest first),
  // as the reference's weight reorder does before width pruning, so that each channel group holds channels of
  // similar importance and the tail holds the least important. The function computed is unchanged; ids of channel
  // groups refer to the new order.
  virtual void reorder_mlp_channels() = 0;

 protected:
  // The loaders' common steps. config.json's path in `dir` (the folder and the file must exist):
  static std::string config_path(const std::string& dir);
  // dir_, the embedding, the final norm and the LM head (tied: the embedding), same names in both architectures.
  void load_common(const std::string& dir, const WeightStore& ws, int64_t vocab, int64_t hidden, bool tied,
                   bool check_finite);
  // The MLP channel group (opts, or I/16 rounded to a power of two in [16, 128]), tail groups, the tokenizer.
  void finish_load(const HybridLoadOptions& opts, int64_t intermediate);

  std::string dir_;
  int64_t mlp_group_ = 16;
  bool tail_groups_ = false;
  at::Tensor embedding_, final_norm_w_, lm_head_;
  std::unique_ptr<BpeTokenizer> tokenizer_;
};

// "zamba2" / "hymba" when config.json in `dir` names a hybrid model_type, else "" (also when unreadable).
std::string hybrid_model_type(const std::string& dir);
// Loads a Zamba2 or Hymba folder; throws shedder::Error naming the file and problem.
std::shared_ptr<HybridModel> load_hybrid_model(const std::string& dir, const HybridLoadOptions& opts = {});

// Calibration perplexity (mean next-token NLL per window, exp of the mean over windows) with `removed` taken out.
double hybrid_perplexity(const HybridModel& model, const at::Tensor& windows, const HybridRemoval& removed,
                         int64_t batch = 1);

struct HybridSearchStep {
  std::string removed;
  double ppl = 0;
  int64_t params_removed = 0;
  std::vector<std::pair<std::string, double>> candidates;  // id, perplexity without it
};

struct HybridSearchResult {
  double base_ppl = 0;
  int64_t total_params = 0;
  std::vector<HybridSearchStep> steps;
  HybridRemoval removed;
  nlohmann::json to_json(HybridGranularity g, int64_t mlp_group) const;
};

// A resumable hybrid search (shed/journal.h's JSON-lines journal): the header holds the model and the settings
// (`settings` adds the caller's, e.g. the channel reorder), then the base and one record per step.
struct HybridJournalOptions {
  std::string path;          // "" = no journal
  bool resume = false;       // continue `path` when it exists (its settings must match this run's)
  nlohmann::json settings = nlohmann::json::object();
};

struct HybridSearchCallbacks {
  std::function<void(double)> on_base;                                         // base perplexity
  ProgressFn progress;                                                         // stage "step N", candidates done/total
  std::function<void(const HybridSearchStep&, const HybridRemoval&)> on_step;  // after each step, everything removed
};

// The Mamba-Shedder greedy loop over one granularity: at each step every candidate is scored by the calibration
// perplexity with it removed on top of what is removed, and the lowest is removed (ties: the first candidate).
// Throws shedder::Cancelled between candidates when `cancel` is set (the steps so far went to on_step and the
// journal). `steps` counts the resumed steps too; resumed steps and base are reported through the callbacks.
HybridSearchResult run_hybrid_search(const HybridModel& model, const at::Tensor& windows, HybridGranularity g,
                                     int64_t steps, const HybridRemoval& initial = {}, int64_t batch = 1,
                                     const HybridSearchCallbacks& cb = {}, const CancelToken* cancel = nullptr,
                                     const HybridJournalOptions& journal = {});

}  // namespace shedder

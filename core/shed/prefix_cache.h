// The search's prefix cache, for every architecture: the stream entering each layer (Activations: the hidden states
// and what earlier layers carry for later ones, e.g. Hymba's shared K/V) under the committed removal set, kept for
// the calibration windows, so that a candidate whose removal first changes layer i is evaluated from layer i on; after
// a removal only the boundaries past it are recomputed. Memory is bounded by keeping every k-th boundary. Also the
// candidates' cosine influence (one pass per step).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "model/model.h"
#include "runtime/progress.h"

namespace shedder {

class PrefixCache {
 public:
  // `windows` [W, L]; `batch` windows per pass; `use_cache` off: every evaluation runs from the embeddings.
  // `every` > 0 keeps every k-th boundary; else as many as fit `memory_mb` (0: half of the machine's or the GPU's
  // free memory). Throws shedder::Error when even one boundary cannot be allocated.
  PrefixCache(const Model& model, const at::Tensor& windows, int64_t batch, bool use_cache, int64_t every,
              int64_t memory_mb);

  // The committed removal set (and its plan). set_removal() does not refresh the cache: commit() or rebuild() does.
  void set_removal(const RemovalSet& r);
  const RemovalSet& removal() const { return removal_; }
  const ForwardPlan& plan() const { return *plan_; }

  // Refreshes the stored boundaries after the committed set changed from layer `from` on (boundaries <= from are
  // still valid). With `with_ppl`, also returns the perplexity of the committed set (else 0).
  double rebuild(int64_t from, bool with_ppl, const CancelToken* cancel);
  // Perplexity under `p`, which equals the committed plan on the layers before `first_diff`. With `bound` (the sum
  // of the windows' mean NLL of the best complete candidate so far), the evaluation stops once its own running sum
  // exceeds bound * (1 + 1e-9): Eval::complete is false and Eval::ppl is a lower bound of the perplexity.
  struct Eval {
    double ppl = 0;      // the perplexity, or (not complete) a lower bound of it
    double nll_sum = 0;  // the sum of the windows' mean NLL done (all windows when complete)
    bool complete = true;
  };
  Eval ppl(const ForwardPlan& p, int64_t first_diff, const CancelToken* cancel,
           double bound = std::numeric_limits<double>::infinity());
  // Several candidates at once (the batched evaluation on a GPU, which a small pass of windows leaves idle). A
  // member's plan differs from the committed one on layers [first, last] only. Per batch of windows, each member runs
  // its own layers alone from the committed stream entering `first`, then joins a stack of members that runs every
  // later layer as one batch under the committed plan; each member's NLL comes from its own rows. The bound rule of
  // ppl() applies after every batch of windows (a member past it leaves the stack). Each result equals ppl()'s up to
  // the rounding of larger matrix products. Only when stackable().
  struct Member {
    const ForwardPlan* plan = nullptr;
    int64_t first = 0, last = 0;
  };
  std::vector<Eval> ppl_stacked(const std::vector<Member>& members, const CancelToken* cancel,
                                double bound = std::numeric_limits<double>::infinity());
  // Whether ppl_stacked() applies: the cache is on and no layer carries tensors for later ones (Hymba's shared K/V,
  // whose shapes differ between candidates, are not stacked).
  bool stackable() const;
  // Device memory one member of a stack takes while a layer runs (an estimate with a margin, for the stack's size).
  int64_t member_bytes() const;
  // The best candidate's boundaries: forget (start of a step), keep the last evaluated as the best, and after the
  // committed set changed at `from`, adopt them when they belong to that change (else rebuild).
  void reset_best() { best_from_ = -1; }
  void keep_last_as_best(int64_t first_diff);
  void commit(int64_t from, const CancelToken* cancel);

  // 1 - mean cosine similarity of each candidate's layer, under the committed set: for a whole layer (Block) the
  // layer's input and output (ShortGPT's block influence); for a part of a layer, the layer's change of the stream
  // with and without it. `plans[k]`: the committed set plus candidate k; `layers[k]` its layer.
  std::vector<double> influence(Granularity g, const std::vector<int64_t>& layers, const std::vector<PlanPtr>& plans,
                                const CancelToken* cancel);

  // Called after each batch of windows of an evaluation: (windows done, windows total).
  void set_on_batch(std::function<void(int64_t, int64_t)> fn) { on_batch_ = std::move(fn); }
  int64_t cached_boundaries() const;
  int64_t every() const { return every_; }
  // (window, layer) forward applications so far: the work the search did.
  int64_t layers_run() const { return layers_run_; }

 private:
  bool cached(int64_t b) const;
  int64_t start_boundary(int64_t layer) const;
  // The stream entering layer `j` for windows [w0, w0 + nb): the embeddings, or the cached boundary with the carried
  // tensors of the layers before it.
  Activations resume(int64_t j, int64_t w0, int64_t nb, const ForwardPlan& p) const;
  // The stream entering layer `l` under the committed plan for windows [w0, w0 + nb), from a cached boundary or by
  // advancing `c` (the committed stream at boundary `c_at`, reset when it cannot get there).
  Activations committed_at(int64_t l, int64_t w0, int64_t nb, Activations& c, int64_t& c_at);
  Eval run(const ForwardPlan& p, int64_t j, int64_t from, bool store, bool with_ppl, const CancelToken* cancel,
           std::vector<at::Tensor>* capture = nullptr, double bound = std::numeric_limits<double>::infinity());

  const Model& m_;
  at::Tensor windows_;
  int64_t batch_, n_;
  int64_t prefix_ = 0;  // the model's leading stream rows (Hymba's meta tokens)
  int64_t every_ = 0;
  RemovalSet removal_;
  PlanPtr plan_;
  std::vector<at::Tensor> cache_;                     // per boundary b: [W, T, H] or undefined
  std::vector<std::vector<at::Tensor>> carried_;      // per layer: what it carries for later layers, all windows
  bool capture_ = false;
  std::vector<at::Tensor> scratch_, best_;
  int64_t best_from_ = -1;
  int64_t layers_run_ = 0;
  std::function<void(int64_t, int64_t)> on_batch_;
};

}  // namespace shedder

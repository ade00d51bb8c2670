// The Mamba-Shedder search, for every architecture and granularity (model/model.h, model/removal.h): greedy,
// training-free removal of one component at a time. At each step every remaining candidate of the granularity is
// scored with it removed on top of what is already removed, and the least important one is removed. Metric "ppl"
// (the reference's) scores a candidate by the calibration perplexity without it; metric "cosine" (ShortGPT's block
// influence, iterated greedily) by 1 - cos(input, output) of the layer (or of the layer's change of the stream with
// and without the component), from one pass per step, for granularities local to one layer.
//
// Exact early abandonment (metric ppl, unless SearchOptions::exhaustive): every window's mean NLL is >= 0, so a
// candidate's running sum over the windows done so far bounds its final sum from below. Once that sum exceeds the
// best complete candidate's of the step (by a relative margin of 1e-9, so that the final perplexity is strictly
// higher), the candidate cannot be picked and its evaluation stops; it is recorded with the lower bound
// (CandidateScore::lower_bound; "ppl_at_least" in the journal). Candidates are evaluated best first by the previous
// step's scores (the first step: from the output back, the cheapest first), so the bound tightens early. Windows keep their order, so a complete candidate's perplexity is the one the
// exhaustive search computes, bit for bit, and the picks are identical by construction.
//
// Prefix caching (shed/prefix_cache.h): the stream entering each layer under the current removal set is kept, so a
// candidate that first changes layer i is evaluated from layer i on. Memory is bounded by keeping every k-th
// boundary. Runs are resumable through the journal (journal.h) and report progress / obey cancel (progress.h).
//
// Metric "accuracy" scores a candidate by zero-shot accuracy on a task (eval/accuracy.h) with it removed and
// removes the one that keeps accuracy highest (ties: the higher mean log-likelihood of the gold choices, then
// the lowest index); one task evaluation per candidate, no prefix cache, so it is much slower than ppl.
//
// Optional per-step measurements, for plots of latency / memory / accuracy against components removed:
// SearchOptions::bench runs the benchmark (eval/benchmark.h) and SearchOptions::eval_tasks the accuracy
// tasks after every step and once before the first (SearchResult::base_bench / base_accuracy). They are
// journaled with the steps and appear in search_result.json as each step's "bench" and "accuracy" fields.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "eval/accuracy.h"
#include "eval/benchmark.h"
#include "runtime/progress.h"
#include "model/model.h"
#include "model/removal.h"

namespace shedder {

class Communicator;  // dist/communicator.h

enum class Metric { Perplexity, Cosine, Accuracy };
const char* metric_name(Metric m);  // "ppl" / "cosine" / "accuracy"
std::optional<Metric> parse_metric(const std::string& s);

struct SearchOptions {
  Granularity granularity = Granularity::Block;
  Metric metric = Metric::Perplexity;
  int64_t steps = 1;               // at most this many removals
  double target_params_pct = 0;    // stop once this % of parameters is removed (0: off)
  double max_ppl = 0;              // never take a step whose perplexity exceeds this (0: off)
  int64_t batch = 1;               // calibration windows per forward pass
  bool prefix_cache = true;
  bool exhaustive = false;         // metric ppl: score every candidate fully (no early abandonment)
  // Metric ppl with the prefix cache: candidates evaluated together, stacked in one batch from the layer after the one
  // they change (PrefixCache::ppl_stacked). 0: on a GPU as many as fit half of its free memory, 1 on the CPU. Early
  // abandonment then applies between groups and after each batch of windows.
  int64_t candidate_batch = 0;
  int64_t cache_every = 0;         // keep every k-th block boundary; 0: every one that fits cache_memory_mb
  int64_t cache_memory_mb = 0;     // memory for the cache; 0: half of the machine's physical memory
  RemovalSet initial;              // removed before the search starts (not candidates)
  std::string journal_path;        // "" = no journal
  bool resume = false;             // continue journal_path if it exists
  nlohmann::json args;             // recorded in the journal header (e.g. the CLI arguments)
  std::string calibration_label;   // recorded in the journal header

  // Metric::Accuracy: the task scored for every candidate, ranked by acc (or acc_norm when accuracy_norm).
  std::shared_ptr<const EncodedTask> accuracy_task;
  bool accuracy_norm = false;
  AccuracyOptions accuracy_options;
  // Measurements after every step and before the first (none when empty / unset).
  std::vector<std::shared_ptr<const EncodedTask>> eval_tasks;  // accuracy on each
  std::optional<BenchOptions> bench;                           // latency and memory

  // Candidate-parallel search over several processes (dist/communicator.h; null or size 1: this process
  // alone). Every rank scores the candidates k with k % size == rank and the scores are exchanged, so every
  // rank takes the same removals as a single process would; rank 0 alone keeps the journal (its records reach
  // the others when resuming) and takes the optional measurements.
  Communicator* comm = nullptr;
};

struct CandidateScore {
  int64_t index = 0;   // the component's layer (-1 for a shared block's parts); "index" in the journal
  std::string id;      // the component id ("layers.3.ssm", "shared.0.attn.heads.1")
  double score = 0;    // ppl (metric ppl), 1 - cosine similarity (cosine) or acc / acc_norm (accuracy)
  double loglik = 0;   // metric accuracy: mean gold log-likelihood (the tie-break)
  bool lower_bound = false;  // metric ppl: abandoned early; `score` is a lower bound of its perplexity
};

struct SearchStep {
  int64_t step = 0;
  int64_t index = 0;             // the removed component's layer (-1 for a shared block's parts)
  std::string id;                // the removed component
  double score = 0;
  double ppl = 0;                // calibration perplexity after this removal
  int64_t params_removed = 0;    // cumulative, including the initial removal set
  double params_removed_pct = 0;
  std::vector<CandidateScore> candidates;
  double seconds = 0;
  // Optional measurements with everything up to this step removed (see the top of this file).
  std::optional<BenchResult> bench;
  std::vector<TaskResult> accuracy;  // the metric's task first (metric accuracy), then eval_tasks
};

struct SearchResult {
  double base_ppl = 0;
  int64_t total_params = 0;
  std::vector<SearchStep> steps;
  int64_t evaluations = 0;       // candidate evaluations done in this process (resumed steps not counted)
  int64_t layers_run = 0;        // (window, layer) forward applications in this process: the work done ("blocks_run")
  int64_t abandoned = 0;         // candidate evaluations stopped early in this process (exact early abandonment)
  int64_t candidate_batch = 1;   // the most candidates evaluated together (stacked) in this process
  int64_t resumed_steps = 0;     // steps taken from the journal
  double seconds = 0;
  RemovalSet removed;            // initial + every step
  std::string stop_reason;       // "steps", "target-params", "max-ppl", "no-candidates", "no-valid-score"
  std::optional<BenchResult> base_bench;  // the measurements before the first step (initial removals applied)
  std::vector<TaskResult> base_accuracy;
  nlohmann::json to_json(Granularity g, Metric m) const;
};

struct SearchCallbacks {
  ProgressFn progress;                                // stage "base", "step N"; done/total = evaluations
  // After each step is journaled, with everything removed so far (initial set included); also for each step a
  // resumed journal holds, before the search goes on.
  std::function<void(const SearchStep&, const RemovalSet&)> on_step;
  std::function<void(double)> on_base;                // base perplexity
};

// Runs (or resumes) a search over `windows` ([W, L] token ids). Throws shedder::Cancelled when `cancel`
// is set (the journal then holds every finished step), shedder::Error on bad options or a foreign journal.
// Distributed (opts.comm): every rank calls it with the same model, windows and options; a rank cancelled or
// failing mid-step makes every rank stop after that step's exchange.
SearchResult run_search(const Model& model, const at::Tensor& windows, const SearchOptions& opts,
                        const SearchCallbacks& callbacks = {}, const CancelToken* cancel = nullptr);

// The candidate a step removes: the lowest score (ppl, cosine) or the highest (accuracy; ties: the higher mean gold
// log-likelihood), ties to the lowest index. A NaN or infinite score never wins; nullopt when no score is finite.
std::optional<size_t> best_candidate(const std::vector<double>& scores, const std::vector<double>& logliks, Metric m);

// One step as the journal and search_result.json record it ("ppl", "score" or "acc" per candidate by metric, and
// the optional "bench" / "accuracy" measurements; a NaN or infinite score is null with "invalid": "nan" / "inf"), and back
// (throws shedder::Error prefixed by `label` on a malformed record).
nlohmann::json step_to_json(const SearchStep& s, Metric m);
SearchStep step_from_json(const nlohmann::json& j, Metric m, const std::string& label);

// The optional measurements of a step / the base in a journal or result record ("bench", "accuracy"), and back.
nlohmann::json accuracy_to_json(const std::vector<TaskResult>& acc);
std::vector<TaskResult> accuracy_from_json(const nlohmann::json& j, const std::string& label);
void measurements_to_json(nlohmann::json& j, const std::optional<BenchResult>& bench, const std::vector<TaskResult>& acc);

// The reference tool's file for a step ("config.mamba_block.3.json") and the final "pruning_config.json",
// written atomically into `dir` (and dir/pruned_model_configs). `extra`: fields added to every file (e.g. the MLP
// channel group the ids of channel groups refer to).
void write_pruning_configs(const std::string& dir, const SearchResult& result, Granularity g,
                           const nlohmann::json& extra = nlohmann::json::object());
// dir/pruned_model_configs/config.<target>.<step>.json for one step (`removed`: everything removed after it).
void write_step_config(const std::string& dir, const RemovalSet& removed, Granularity g, int64_t step,
                       const nlohmann::json& extra = nlohmann::json::object());
// Everything a finished run leaves in its folder: write_pruning_configs() plus search_result.json (to_json()).
void write_search_outputs(const std::string& dir, const SearchResult& result, Granularity g, Metric m,
                          const nlohmann::json& extra = nlohmann::json::object());
// What a run's pruning configs record beside the removals: for MLP channel groups, the grouping their ids refer to
// (mlp_channel_group; mlp_channels_reordered and mlp_tail_groups when set). Empty for other granularities / sets.
nlohmann::json removal_context(const Model& model, Granularity g);
nlohmann::json removal_context(const Model& model, const RemovalSet& removed);

}  // namespace shedder

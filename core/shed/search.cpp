// The greedy Mamba-Shedder search with prefix caching, journaling and resume (see search.h).
#include "shed/search.h"

#include <c10/core/GradMode.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>

#include "dist/communicator.h"
#include "eval/perplexity.h"
#include "runtime/device.h"
#include "shed/journal.h"
#include "util/hash.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::Perplexity: return "ppl";
    case Metric::Cosine: return "cosine";
    case Metric::Accuracy: return "accuracy";
  }
  return "?";
}

std::optional<Metric> parse_metric(const std::string& s) {
  if (s == "ppl" || s == "perplexity") return Metric::Perplexity;
  if (s == "cosine" || s == "cos" || s == "block-influence") return Metric::Cosine;
  if (s == "accuracy" || s == "acc") return Metric::Accuracy;
  return std::nullopt;
}

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs the model over the calibration windows, batch by batch, from a cached block boundary on.
// Boundary b is the hidden state entering block b under the committed removal mask; boundary 0 (the
// embeddings) is recomputed when needed, boundaries b >= 1 with b % every == 0 are stored when caching.
class PrefixRunner {
 public:
  PrefixRunner(const MambaModel& model, const at::Tensor& windows, int64_t batch, bool use_cache, int64_t every,
               int64_t memory_mb)
      : m_(model), windows_(windows), batch_(std::max<int64_t>(1, batch)), n_(model.num_layers()) {
    if (!use_cache) return;
    const int64_t W = windows.size(0), L = windows.size(1), H = model.config().hidden_size;
    const double bytes = static_cast<double>(W) * L * H * 4.0;
    // Without an explicit budget the cache may take half of the machine's (or the GPU's free) memory.
    if (memory_mb <= 0) memory_mb = cache_memory_budget_mb(model.device());
    const int64_t fit = static_cast<int64_t>(static_cast<double>(memory_mb) * 1024.0 * 1024.0 / bytes);
    if (every > 0) {
      every_ = every;
    } else {
      every_ = fit >= n_ - 1 ? 1 : (fit <= 0 ? n_ : (n_ - 1 + fit - 1) / fit);
    }
    cache_.resize(static_cast<size_t>(n_));
    int64_t kept = 0;
    try {
      for (int64_t b = 1; b < n_; ++b)
        if (b % every_ == 0) {
          cache_[static_cast<size_t>(b)] = at::empty({W, L, H}, at::TensorOptions().device(model.device()).dtype(at::kFloat));
          ++kept;
        }
    } catch (const std::exception&) {
      throw Error("prefix cache: cannot allocate " + std::to_string(static_cast<int64_t>(bytes / 1048576.0)) +
                  " MB per block boundary for " + std::to_string(kept + 1) +
                  " boundaries; use fewer --windows, --cache-memory-mb or a larger --cache-every");
    }
    // Keeping the best candidate's boundaries (two more sets: the one being evaluated and the best so far)
    // makes the refresh after each step free; only when that memory is allowed.
    capture_ = kept > 0 && 3.0 * kept * bytes <= static_cast<double>(memory_mb) * 1024.0 * 1024.0;
    if (capture_) {
      scratch_.resize(cache_.size());
      best_.resize(cache_.size());
      for (size_t b = 0; b < cache_.size(); ++b)
        if (cache_[b].defined()) {
          scratch_[b] = at::empty_like(cache_[b]);
          best_[b] = at::empty_like(cache_[b]);
        }
    }
  }

  // Forgets the captured best candidate (start of a step).
  void reset_best() { best_from_ = -1; }
  // Makes the captured boundaries of the candidate just evaluated the best so far.
  void keep_last_as_best(int64_t first_diff) {
    if (!capture_) return;
    std::swap(scratch_, best_);
    best_from_ = first_diff;
  }
  // After the mask changed at `from`: adopt the best candidate's captured boundaries when they belong to
  // that change, otherwise recompute them.
  void commit(int64_t from, const CancelToken* cancel) {
    if (capture_ && best_from_ == from) {
      for (int64_t b = from + 1; b < n_; ++b)
        if (cached(b)) std::swap(cache_[static_cast<size_t>(b)], best_[static_cast<size_t>(b)]);
      best_from_ = -1;
      return;
    }
    rebuild(from, false, cancel);
  }

  int64_t cached_boundaries() const {
    int64_t c = 0;
    for (const auto& t : cache_) c += t.defined() ? 1 : 0;
    return c;
  }
  int64_t every() const { return every_; }
  void set_mask(const ModelMask& mask) { mask_ = mask; }
  // Called after each batch of windows of an evaluation: (windows done, windows total).
  void set_on_batch(std::function<void(int64_t, int64_t)> fn) { on_batch_ = std::move(fn); }
  const ModelMask& mask() const { return mask_; }

  // Refreshes the stored boundaries after the mask changed at layer `from` (boundaries <= from are still
  // valid). With `with_ppl`, also returns the perplexity of the committed mask (else 0).
  double rebuild(int64_t from, bool with_ppl, const CancelToken* cancel) {
    const int64_t j = start_boundary(from);
    bool needs_store = false;
    for (int64_t b = std::max<int64_t>(j + 1, from + 1); b < n_; ++b) needs_store |= cached(b);
    if (!needs_store && !with_ppl) return 0;
    return run(mask_, j, from, /*store=*/true, with_ppl, cancel);
  }

  // Perplexity with `mask`, which equals the committed mask on layers < first_diff.
  double ppl(const ModelMask& mask, int64_t first_diff, const CancelToken* cancel) {
    return run(mask, start_boundary(first_diff), first_diff, /*store=*/false, /*with_ppl=*/true, cancel,
               capture_ ? &scratch_ : nullptr);
  }

  // 1 - mean cosine similarity per layer, under the committed mask: block granularity compares a block's
  // input and output hidden states (ShortGPT's block influence); SSM granularity compares the mixer output
  // with and without the SSM. Layers not scored get NaN.
  std::vector<double> influence(Granularity g, const std::vector<int64_t>& layers, const CancelToken* cancel) {
    std::vector<double> sum(static_cast<size_t>(n_), 0.0);
    std::vector<bool> want(static_cast<size_t>(n_), false);
    for (int64_t l : layers) want[static_cast<size_t>(l)] = true;
    int64_t count = 0;
    const int64_t W = windows_.size(0);
    for (int64_t w0 = 0; w0 < W; w0 += batch_) {
      if (cancel && cancel->cancelled()) throw Cancelled();
      const int64_t nb = std::min(batch_, W - w0);
      at::Tensor h = m_.embed(windows_.narrow(0, w0, nb));
      for (int64_t l = 0; l < n_; ++l) {
        const LayerMask& lm = mask_[static_cast<size_t>(l)];
        if (lm.skip_block) continue;
        at::Tensor out = m_.block(l, h, lm.skip_ssm);
        if (want[static_cast<size_t>(l)]) {
          at::Tensor cos;
          if (g == Granularity::Block) {
            cos = at::cosine_similarity(h, out, -1, 1e-8);
          } else {
            at::Tensor without = m_.block(l, h, true);
            cos = at::cosine_similarity(out - h, without - h, -1, 1e-8);
          }
          sum[static_cast<size_t>(l)] += cos.to(at::kDouble).sum().item<double>();
        }
        h = out;
      }
      count += nb * windows_.size(1);
    }
    std::vector<double> out(static_cast<size_t>(n_), std::numeric_limits<double>::quiet_NaN());
    for (int64_t l : layers) out[static_cast<size_t>(l)] = 1.0 - sum[static_cast<size_t>(l)] / static_cast<double>(count);
    return out;
  }

 private:
  bool cached(int64_t b) const { return b >= 0 && b < static_cast<int64_t>(cache_.size()) && cache_[static_cast<size_t>(b)].defined(); }

  int64_t start_boundary(int64_t layer) const {
    for (int64_t b = std::min(layer, n_ - 1); b >= 1; --b)
      if (cached(b)) return b;
    return 0;
  }

  double run(const ModelMask& mask, int64_t j, int64_t from, bool store, bool with_ppl, const CancelToken* cancel,
             std::vector<at::Tensor>* capture = nullptr) {
    c10::NoGradGuard no_grad;
    const int64_t W = windows_.size(0);
    double nll_sum = 0;
    for (int64_t w0 = 0; w0 < W; w0 += batch_) {
      if (cancel && cancel->cancelled()) throw Cancelled();
      const int64_t nb = std::min(batch_, W - w0);
      at::Tensor ids = windows_.narrow(0, w0, nb);
      at::Tensor h = j == 0 ? m_.embed(ids) : cache_[static_cast<size_t>(j)].narrow(0, w0, nb);
      for (int64_t l = j; l < n_; ++l) {
        if (l > from && cached(l)) {
          if (store) cache_[static_cast<size_t>(l)].narrow(0, w0, nb).copy_(h);
          if (capture) (*capture)[static_cast<size_t>(l)].narrow(0, w0, nb).copy_(h);
        }
        const LayerMask& lm = mask[static_cast<size_t>(l)];
        if (lm.skip_block) continue;
        h = m_.block(l, h, lm.skip_ssm);
      }
      if (with_ppl) nll_sum += window_mean_nll(m_.head(h), ids).sum().item<double>();
      if (on_batch_) on_batch_(w0 + nb, W);
    }
    return with_ppl ? std::exp(nll_sum / static_cast<double>(W)) : 0.0;
  }

  const MambaModel& m_;
  at::Tensor windows_;
  int64_t batch_;
  int64_t n_;
  int64_t every_ = 0;
  std::vector<at::Tensor> cache_;
  bool capture_ = false;
  std::vector<at::Tensor> scratch_, best_;
  int64_t best_from_ = -1;
  ModelMask mask_;
  std::function<void(int64_t, int64_t)> on_batch_;
};

nlohmann::json search_settings(const at::Tensor& windows, const SearchOptions& o) {
  at::Tensor w = windows.to(at::kLong).contiguous();
  nlohmann::json s;
  s["granularity"] = granularity_name(o.granularity);
  s["metric"] = metric_name(o.metric);
  s["windows"] = w.size(0);
  s["seq_len"] = w.size(1);
  s["calibration_fnv1a64"] = fnv1a64_hex(w.data_ptr<int64_t>(), static_cast<size_t>(w.numel()) * sizeof(int64_t));
  s["initial_removal"] = o.initial.to_reference_json();
  // Only when used, so journals of runs without them keep matching.
  if (o.metric == Metric::Accuracy && o.accuracy_task)
    s["accuracy_task"] = {{"name", o.accuracy_task->name}, {"fingerprint", o.accuracy_task->fingerprint},
                          {"items", o.accuracy_task->items.size()}, {"norm", o.accuracy_norm},
                          {"max_length", o.accuracy_options.max_length}};
  if (!o.eval_tasks.empty()) {
    nlohmann::json t = nlohmann::json::array();
    for (const auto& e : o.eval_tasks) t.push_back({{"name", e->name}, {"fingerprint", e->fingerprint}});
    s["eval_tasks"] = t;
  }
  if (o.bench)
    s["bench"] = {{"batch", o.bench->batch}, {"length", o.bench->length}, {"prompt", o.bench->prompt},
                  {"decode_tokens", o.bench->decode_tokens}, {"repeats", o.bench->repeats}, {"warmup", o.bench->warmup}};
  return s;
}

// A score that is not a finite number (a removal that breaks the model) is written as null with the reason.
void put_score(nlohmann::json& j, const char* field, double v) {
  if (std::isfinite(v)) {
    j[field] = v;
  } else {
    j[field] = nullptr;
    j["invalid"] = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  }
}

double get_score(const nlohmann::json& j, const char* field) {
  const nlohmann::json& v = j.at(field);
  if (!v.is_null()) return v.get<double>();
  const std::string why = j.value("invalid", std::string("nan"));
  return why == "inf" ? std::numeric_limits<double>::infinity()
                      : why == "-inf" ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
}

const char* candidate_field(Metric m) {
  return m == Metric::Perplexity ? "ppl" : m == Metric::Accuracy ? "acc" : "score";
}

nlohmann::json accuracy_to_json(const std::vector<TaskResult>& acc) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& t : acc) j[t.name] = t.to_json();
  return j;
}

std::vector<TaskResult> accuracy_from_json(const nlohmann::json& j, const std::string& label) {
  std::vector<TaskResult> out;
  if (!j.is_object()) throw Error(label + ": malformed accuracy record");
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(TaskResult::from_json(it.key(), it.value(), label));
  return out;
}

// Writes the optional measurements of a step / the base into a journal or result record.
void measurements_to_json(nlohmann::json& j, const std::optional<BenchResult>& bench, const std::vector<TaskResult>& acc) {
  if (bench) j["bench"] = bench->to_json();
  if (!acc.empty()) j["accuracy"] = accuracy_to_json(acc);
}

std::vector<int64_t> candidates_for(const MambaModel& model, Granularity g, const RemovalSet& removed) {
  std::vector<int64_t> c;
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    if (removed.contains(Granularity::Block, l)) continue;
    if (g == Granularity::Ssm && (removed.contains(Granularity::Ssm, l) || !model.layers()[static_cast<size_t>(l)].has_ssm))
      continue;
    c.push_back(l);
  }
  return c;
}

std::string component_id(Granularity g, int64_t l) {
  return "layers." + std::to_string(l) + (g == Granularity::Ssm ? ".ssm" : "");
}

void check_journal_matches(const std::string& path, const JournalContents& c, const MambaModel& model,
                           const nlohmann::json& settings) {
  check_journal_model(path, c, model.dir());
  const nlohmann::json& h = c.header;
  if (!h.contains("search")) throw Error(path + ": journal header lacks the search settings");
  for (auto it = settings.begin(); it != settings.end(); ++it) {
    const nlohmann::json was = h["search"].contains(it.key()) ? h["search"][it.key()] : nlohmann::json();
    if (was != it.value())
      throw Error(path + ": this journal was written with " + it.key() + " = " + was.dump() + ", this run has " +
                  it.value().dump() + "; resume with the same settings or use a new --out folder");
  }
}

}  // namespace

std::optional<size_t> best_candidate(const std::vector<double>& scores, const std::vector<double>& logliks, Metric m) {
  std::optional<size_t> best;
  for (size_t k = 0; k < scores.size(); ++k) {
    if (!std::isfinite(scores[k])) continue;  // never wins
    if (!best) {
      best = k;
    } else if (m == Metric::Accuracy) {
      // Highest accuracy; ties: the higher gold log-likelihood, then the lowest index.
      const size_t b = *best;
      if (scores[k] > scores[b] || (scores[k] == scores[b] && logliks[k] > logliks[b])) best = k;
    } else if (scores[k] < scores[*best]) {
      best = k;  // strict: ties go to the lowest index, as the reference
    }
  }
  return best;
}

nlohmann::json step_to_json(const SearchStep& s, Metric m) {
  nlohmann::json j;
  j["step"] = s.step;
  j["removed"] = s.id;
  j["index"] = s.index;
  j["ppl"] = s.ppl;
  j["score"] = s.score;
  j["params_removed"] = s.params_removed;
  j["params_removed_pct"] = s.params_removed_pct;
  j["seconds"] = s.seconds;
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& c : s.candidates) {
    nlohmann::json cj{{"index", c.index}, {"id", c.id}};
    put_score(cj, candidate_field(m), c.score);
    if (m == Metric::Accuracy) cj["gold_loglik"] = c.loglik;
    cands.push_back(cj);
  }
  j["candidates"] = cands;
  measurements_to_json(j, s.bench, s.accuracy);
  return j;
}

SearchStep step_from_json(const nlohmann::json& j, Metric m, const std::string& label) {
  try {
    SearchStep s;
    s.step = j.at("step").get<int64_t>();
    s.id = j.at("removed").get<std::string>();
    s.index = j.at("index").get<int64_t>();
    s.ppl = j.at("ppl").is_null() ? std::numeric_limits<double>::quiet_NaN() : j.at("ppl").get<double>();
    s.score = j.at("score").get<double>();
    s.params_removed = j.at("params_removed").get<int64_t>();
    s.params_removed_pct = j.at("params_removed_pct").get<double>();
    s.seconds = j.value("seconds", 0.0);
    for (const auto& c : j.at("candidates"))
      s.candidates.push_back({c.at("index").get<int64_t>(), c.value("id", std::string()),
                              get_score(c, candidate_field(m)), c.value("gold_loglik", 0.0)});
    if (j.contains("bench")) s.bench = BenchResult::from_json(j["bench"]);
    if (j.contains("accuracy")) s.accuracy = accuracy_from_json(j["accuracy"], label);
    return s;
  } catch (const std::exception& e) {
    throw Error(label + ": malformed step record: " + e.what());
  }
}

nlohmann::json SearchResult::to_json(Granularity g, Metric m) const {
  nlohmann::json j;
  j["granularity"] = granularity_name(g);
  j["metric"] = metric_name(m);
  j["base_ppl"] = base_ppl;
  j["total_params"] = total_params;
  j["steps"] = nlohmann::json::array();
  for (const auto& s : steps) j["steps"].push_back(step_to_json(s, m));
  j["evaluations"] = evaluations;
  j["resumed_steps"] = resumed_steps;
  j["seconds"] = seconds;
  j["stop_reason"] = stop_reason;
  j["removed"] = removed.to_reference_json();
  if (base_bench) j["base_bench"] = base_bench->to_json();
  if (!base_accuracy.empty()) j["base_accuracy"] = accuracy_to_json(base_accuracy);
  return j;
}

SearchResult run_search(const MambaModel& model, const at::Tensor& windows, const SearchOptions& o,
                        const SearchCallbacks& cb, const CancelToken* cancel) {
  const auto t0 = Clock::now();
  if (windows.dim() != 2 || windows.size(0) < 1 || windows.size(1) < 2)
    throw Error("search: calibration windows must be a [windows, seq_len >= 2] tensor");
  if (o.steps < 0) throw Error("search: --steps must be >= 0");
  o.initial.validate(model.num_layers(), "search: initial removal set");
  if (o.metric == Metric::Accuracy && !o.accuracy_task)
    throw Error("search: metric accuracy needs a task to score (--task FILE.jsonl)");
  if (o.metric == Metric::Accuracy && o.accuracy_norm && o.accuracy_task->kind != TaskKind::MultipleChoice)
    throw Error("search: --accuracy-norm needs a multiple-choice task (" + o.accuracy_task->name + " is " +
                task_kind_name(o.accuracy_task->kind) + ")");
  at::Tensor win = windows.to(at::kLong).contiguous();

  SearchResult res;
  res.total_params = model.params().total;
  res.removed = o.initial;

  const nlohmann::json settings = search_settings(win, o);
  const bool dist = o.comm && o.comm->size() > 1;
  const bool lead = !dist || o.comm->rank() == 0;  // keeps the journal, takes the measurements
  std::optional<Journal> journal;
  std::vector<nlohmann::json> prior;
  auto open_journal = [&] {
    if (o.journal_path.empty() || !lead) return;
    std::error_code ec;
    if (o.resume && fs::exists(o.journal_path, ec)) {
      JournalContents c = Journal::read(o.journal_path);
      check_journal_matches(o.journal_path, c, model, settings);
      journal.emplace(Journal::reopen(o.journal_path, c));
      prior = c.records;
    } else {
      nlohmann::json header{{"type", "header"},       {"version", 1},       {"program", "mamba-shedder-workbench"},
                            {"created", std::time(nullptr)}, {"model", journal_model_identity(model.dir(), o.journal_path)}, {"search", settings},
                            {"args", o.args},          {"calibration", o.calibration_label}};
      journal.emplace(Journal::create(o.journal_path, header));
    }
  };
  if (!dist) {
    open_journal();
  } else {
    // Rank 0 opens (or resumes) the journal and sends its records, or its error, to the others.
    nlohmann::json msg;
    if (lead) {
      try {
        open_journal();
        msg["records"] = prior;
      } catch (const std::exception& e) {
        msg["error"] = e.what();
        o.comm->broadcast(msg.dump());
        throw;
      }
    }
    const nlohmann::json got = nlohmann::json::parse(o.comm->broadcast(lead ? msg.dump() : std::string()));
    if (got.contains("error")) throw Error("distributed search: rank 0 failed: " + got["error"].get<std::string>());
    if (!lead) prior = got.at("records").get<std::vector<nlohmann::json>>();
  }

  PrefixRunner runner(model, win, o.batch, o.prefix_cache, o.cache_every, o.cache_memory_mb);

  // Replay what the journal already holds.
  bool have_base = false;
  for (const auto& r : prior) {
    const std::string type = r.value("type", "");
    if (type == "base") {
      res.base_ppl = r.at("ppl").get<double>();
      if (r.contains("bench")) res.base_bench = BenchResult::from_json(r["bench"]);
      if (r.contains("accuracy")) res.base_accuracy = accuracy_from_json(r["accuracy"], o.journal_path);
      have_base = true;
    } else if (type == "step") {
      SearchStep s = step_from_json(r, o.metric, o.journal_path);
      if (s.step != static_cast<int64_t>(res.steps.size()))
        throw Error(o.journal_path + ": step records out of order (found step " + std::to_string(s.step) + ")");
      res.removed.add(o.granularity, s.index);
      res.steps.push_back(std::move(s));
      ++res.resumed_steps;
    }
  }
  res.removed.validate(model.num_layers(), o.journal_path);
  runner.set_mask(res.removed.to_mask(model.num_layers()));
  // JSON objects come back sorted by name: restore the order of the options (metric task, then eval tasks).
  {
    std::vector<std::string> names;
    if (o.metric == Metric::Accuracy) names.push_back(o.accuracy_task->name);
    for (const auto& t : o.eval_tasks) names.push_back(t->name);
    auto reorder = [&](std::vector<TaskResult>& acc) {
      std::stable_sort(acc.begin(), acc.end(), [&](const TaskResult& a, const TaskResult& b) {
        return std::find(names.begin(), names.end(), a.name) < std::find(names.begin(), names.end(), b.name);
      });
    };
    reorder(res.base_accuracy);
    for (auto& st : res.steps) reorder(st.accuracy);
  }

  // The optional measurements under `mask`; `metric_result` is the metric task's result when already known.
  const bool measuring = lead && (o.bench || !o.eval_tasks.empty() || o.metric == Metric::Accuracy);
  auto measure = [&](const ModelMask& mask, const TaskResult* metric_result, std::optional<BenchResult>& bench,
                     std::vector<TaskResult>& acc) {
    if (o.metric == Metric::Accuracy)
      acc.push_back(metric_result ? *metric_result
                                  : evaluate_task(model, *o.accuracy_task, mask, o.accuracy_options, nullptr, cancel));
    for (const auto& t : o.eval_tasks) {
      if (o.metric == Metric::Accuracy && t->name == o.accuracy_task->name) continue;
      acc.push_back(evaluate_task(model, *t, mask, o.accuracy_options, nullptr, cancel));
    }
    if (o.bench) bench = run_benchmark(model, mask, *o.bench, cancel);
  };

  if (cb.progress) cb.progress({"base", 0, 1, since(t0), -1});
  if (!have_base) {
    res.base_ppl = runner.rebuild(0, true, cancel);
    if (measuring) measure(runner.mask(), nullptr, res.base_bench, res.base_accuracy);
    if (journal) {
      nlohmann::json b{{"type", "base"}, {"ppl", res.base_ppl}};
      measurements_to_json(b, res.base_bench, res.base_accuracy);
      journal->append(b);
    }
  } else {
    runner.rebuild(0, false, cancel);
  }
  if (cb.on_base) cb.on_base(res.base_ppl);

  const double total = static_cast<double>(res.total_params);
  auto removed_pct = [&] { return 100.0 * static_cast<double>(res.removed.removed_parameters(model)) / total; };

  int64_t step = static_cast<int64_t>(res.steps.size());
  while (true) {
    if (step >= o.steps) {
      res.stop_reason = "steps";
      break;
    }
    if (o.target_params_pct > 0 && removed_pct() >= o.target_params_pct) {
      res.stop_reason = "target-params";
      break;
    }
    const std::vector<int64_t> cands = candidates_for(model, o.granularity, res.removed);
    if (cands.empty()) {
      res.stop_reason = "no-candidates";
      break;
    }
    const auto ts = Clock::now();
    SearchStep s;
    s.step = step;
    const std::string stage = "step " + std::to_string(step + 1);
    std::vector<double> scores(cands.size()), logliks(cands.size(), 0.0);
    std::vector<std::optional<TaskResult>> cand_results(cands.size());
    runner.reset_best();
    // Distributed: this rank scores candidates k % size == rank; a cancel or failure is passed on with the scores.
    auto mine = [&](size_t k) { return !dist || static_cast<int64_t>(k) % o.comm->size() == o.comm->rank(); };
    int rank_status = 0;  // 0 ok, 1 cancelled, 2 failed
    std::string rank_error;
    try {
      if (o.metric == Metric::Accuracy) {
        for (size_t k = 0; k < cands.size(); ++k) {
          if (!mine(k)) continue;
          ModelMask mask = runner.mask();
          LayerMask& lm = mask[static_cast<size_t>(cands[k])];
          (o.granularity == Granularity::Block ? lm.skip_block : lm.skip_ssm) = true;
          ProgressFn inner;
          if (cb.progress)
            inner = [&](const Progress& p) {
              const double el = since(ts), units = static_cast<double>(k) + static_cast<double>(p.done) / std::max<int64_t>(1, p.total);
              cb.progress({stage, static_cast<int64_t>(k), static_cast<int64_t>(cands.size()), el,
                           units > 0 ? el / units * (static_cast<double>(cands.size()) - units) : -1.0, p.done, p.total});
            };
          cand_results[k] = evaluate_task(model, *o.accuracy_task, mask, o.accuracy_options, inner, cancel);
          const TaskResult& tr = *cand_results[k];
          scores[k] = o.accuracy_norm && tr.acc_norm ? *tr.acc_norm : tr.acc;
          logliks[k] = tr.gold_loglik;
          ++res.evaluations;
        }
      } else if (o.metric == Metric::Perplexity) {
        double best_so_far = std::numeric_limits<double>::infinity();
        const double n = static_cast<double>(cands.size());
        auto report = [&](size_t k, int64_t wdone, int64_t wtotal) {
          if (!cb.progress) return;
          const double el = since(ts);
          const double units = static_cast<double>(k) + (wtotal > 0 ? static_cast<double>(wdone) / wtotal : 0.0);
          cb.progress({stage, static_cast<int64_t>(k), static_cast<int64_t>(cands.size()), el,
                       units > 0 ? el / units * (n - units) : -1.0, wdone, wtotal});
        };
        for (size_t k = 0; k < cands.size(); ++k) {
          if (!mine(k)) continue;
          ModelMask mask = runner.mask();
          LayerMask& lm = mask[static_cast<size_t>(cands[k])];
          (o.granularity == Granularity::Block ? lm.skip_block : lm.skip_ssm) = true;
          runner.set_on_batch([&](int64_t done, int64_t total) {
            if (done < total) report(k, done, total);
          });
          scores[k] = runner.ppl(mask, cands[k], cancel);
          runner.set_on_batch(nullptr);
          if (scores[k] < best_so_far) {  // same strict rule as the pick below
            best_so_far = scores[k];
            runner.keep_last_as_best(cands[k]);
          }
          ++res.evaluations;
          report(k + 1, 0, 0);
        }
      } else {
        const std::vector<double> infl = runner.influence(o.granularity, cands, cancel);
        for (size_t k = 0; k < cands.size(); ++k) scores[k] = infl[static_cast<size_t>(cands[k])];
        res.evaluations += static_cast<int64_t>(cands.size());
        if (cb.progress) cb.progress({stage, static_cast<int64_t>(cands.size()), static_cast<int64_t>(cands.size()), since(ts), 0});
      }
    } catch (const Cancelled&) {
      if (!dist) throw;
      rank_status = 1;
    } catch (const std::exception& e) {
      if (!dist) throw;
      rank_status = 2;
      rank_error = e.what();
    }
    if (dist && o.metric != Metric::Cosine) {
      // [status, scores..., logliks...] from every rank; candidate k comes from rank k % size.
      runner.set_on_batch(nullptr);
      std::vector<double> v(1 + 2 * cands.size(), 0.0);
      v[0] = rank_status;
      for (size_t k = 0; k < cands.size(); ++k) {
        v[1 + k] = scores[k];
        v[1 + cands.size() + k] = logliks[k];
      }
      const auto all = o.comm->allgather(v);
      for (size_t r = 0; r < all.size(); ++r)
        if (all[r][0] != 0 && rank_status == 0) rank_status = all[r][0] == 1 ? 1 : 3;
      if (rank_status == 1) throw Cancelled();
      if (rank_status == 2) throw Error(rank_error);
      if (rank_status == 3) throw Error("distributed search: another rank failed during " + stage + " (see its output)");
      for (size_t k = 0; k < cands.size(); ++k) {
        const auto& from = all[k % all.size()];
        scores[k] = from[1 + k];
        logliks[k] = from[1 + cands.size() + k];
      }
    } else if (rank_status == 1) {
      throw Cancelled();
    } else if (rank_status == 2) {
      throw Error(rank_error);
    }
    const std::optional<size_t> pick = best_candidate(scores, logliks, o.metric);
    for (size_t k = 0; k < cands.size(); ++k)
      s.candidates.push_back({cands[k], component_id(o.granularity, cands[k]), scores[k], logliks[k]});
    if (!pick) {  // every candidate broke the model (NaN or infinite scores): nothing can be removed
      res.stop_reason = "no-valid-score";
      break;
    }
    const size_t best = *pick;
    s.index = cands[best];
    s.id = component_id(o.granularity, s.index);
    s.score = scores[best];
    if (o.metric == Metric::Perplexity && o.max_ppl > 0 && s.score > o.max_ppl) {
      res.stop_reason = "max-ppl";
      break;
    }
    res.removed.add(o.granularity, s.index);
    runner.set_mask(res.removed.to_mask(model.num_layers()));
    if (o.metric == Metric::Perplexity) {
      runner.commit(s.index, cancel);
      s.ppl = s.score;
    } else {
      s.ppl = runner.rebuild(s.index, true, cancel);
      if (o.max_ppl > 0 && !(s.ppl <= o.max_ppl)) {  // NaN is above any ceiling
        auto& v = o.granularity == Granularity::Block ? res.removed.blocks : res.removed.ssms;
        v.pop_back();
        runner.set_mask(res.removed.to_mask(model.num_layers()));
        runner.rebuild(s.index, false, cancel);
        res.stop_reason = "max-ppl";
        break;
      }
    }
    s.params_removed = res.removed.removed_parameters(model);
    s.params_removed_pct = 100.0 * static_cast<double>(s.params_removed) / total;
    if (measuring) {
      if (cb.progress) cb.progress({stage + " measurements", 0, 1, since(ts), -1});
      measure(runner.mask(), o.metric == Metric::Accuracy && cand_results[best] ? &*cand_results[best] : nullptr, s.bench,
              s.accuracy);
    }
    s.seconds = since(ts);
    if (journal) journal->append([&] {
        nlohmann::json j = step_to_json(s, o.metric);
        j["type"] = "step";
        return j;
      }());
    res.steps.push_back(s);
    if (cb.on_step) cb.on_step(res.steps.back(), res.removed);
    ++step;
  }
  res.seconds = since(t0);
  if (journal)
    journal->append({{"type", "done"}, {"stop_reason", res.stop_reason}, {"steps", res.steps.size()},
                     {"evaluations", res.evaluations}, {"seconds", res.seconds}});
  return res;
}

void write_step_config(const std::string& dir, const RemovalSet& removed, Granularity g, int64_t step) {
  std::error_code ec;
  const fs::path sub = fs::path(dir) / "pruned_model_configs";
  fs::create_directories(sub, ec);
  if (ec) throw Error(sub.string() + ": cannot create folder: " + ec.message());
  const std::string name = std::string("config.") + reference_target_name(g) + "." + std::to_string(step) + ".json";
  write_file_atomic((sub / name).string(), removed.to_reference_json().dump(4) + "\n");
}

void write_pruning_configs(const std::string& dir, const SearchResult& result, Granularity g) {
  // Rebuild the cumulative set step by step: the initial set is what is removed minus the searched steps.
  RemovalSet cumulative = result.removed;
  auto& v = g == Granularity::Block ? cumulative.blocks : cumulative.ssms;
  v.resize(v.size() - std::min(v.size(), result.steps.size()));
  for (const auto& s : result.steps) {
    cumulative.add(g, s.index);
    write_step_config(dir, cumulative, g, s.step);
  }
  write_file_atomic((fs::path(dir) / "pruning_config.json").string(), result.removed.to_reference_json().dump(4) + "\n");
}

void write_search_outputs(const std::string& dir, const SearchResult& result, Granularity g, Metric m) {
  write_pruning_configs(dir, result, g);
  write_file_atomic((fs::path(dir) / "search_result.json").string(), result.to_json(g, m).dump(2) + "\n");
}

}  // namespace shedder

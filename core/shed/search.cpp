// The greedy Mamba-Shedder search over the model interface, with prefix caching, journaling and resume (see
// search.h). One run goes through phases: check the options, open (or resume) the journal, replay what it holds,
// measure the base, then steps — score every candidate (by metric; distributed: a share per rank), pick, commit,
// measure, journal — until a stop rule holds.
#include "shed/search.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>

#include "dist/communicator.h"
#include "runtime/device.h"
#include "shed/journal.h"
#include "shed/prefix_cache.h"
#include "util/error.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

nlohmann::json search_settings(const Model& model, const at::Tensor& windows, const SearchOptions& o) {
  nlohmann::json s;
  s["granularity"] = granularity_name(o.granularity);
  s["metric"] = metric_name(o.metric);
  s["windows"] = windows.size(0);
  s["seq_len"] = windows.size(1);
  s["calibration_fnv1a64"] =
      fnv1a64_hex(windows.data_ptr<int64_t>(), static_cast<size_t>(windows.numel()) * sizeof(int64_t));
  s["initial_removal"] = o.initial.to_json();
  // Only when they apply, so journals of runs without them keep matching.
  const nlohmann::json context = removal_context(model, o.granularity);
  for (auto it = context.begin(); it != context.end(); ++it) s[it.key()] = it.value();
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

void check_options(const Model& model, const at::Tensor& windows, const SearchOptions& o) {
  if (windows.dim() != 2 || windows.size(0) < 1 || windows.size(1) < 2)
    throw Error("search: calibration windows must be a [windows, seq_len >= 2] tensor");
  if (o.steps < 0) throw Error("search: --steps must be >= 0");
  if (!model.has_granularity(o.granularity))
    throw Error(std::string("search: a ") + model.arch() + " model has no " + granularity_name(o.granularity) +
                " components (its granularities: " + granularity_names(model.granularities()) + ")");
  if (o.metric == Metric::Cosine && !model.layer_local(o.granularity))
    throw Error(std::string("search: the cosine metric compares one layer's output with and without a component; a ") +
                granularity_name(o.granularity) + " of a " + model.arch() +
                " model acts in several layers (use --metric ppl)");
  model.plan(o.initial, "search: initial removal set");
  if (o.metric == Metric::Accuracy && !o.accuracy_task)
    throw Error("search: metric accuracy needs a task to score (--task FILE.jsonl)");
  if (o.metric == Metric::Accuracy && o.accuracy_norm && o.accuracy_task->kind != TaskKind::MultipleChoice)
    throw Error("search: --accuracy-norm needs a multiple-choice task (" + o.accuracy_task->name + " is " +
                task_kind_name(o.accuracy_task->kind) + ")");
}

// Everything one run shares across its phases.
struct Run {
  const Model& model;
  const SearchOptions& o;
  const SearchCallbacks& cb;
  const CancelToken* cancel;
  at::Tensor windows;
  Clock::time_point t0;
  bool dist = false, lead = true;  // distributed; this process keeps the journal and takes the measurements
  std::optional<Journal> journal;
  SearchResult res;
};

// Opens (or resumes) the journal and returns the records it already holds. Distributed: rank 0 opens it and sends
// its records, or its error, to the others.
std::vector<nlohmann::json> open_journal(Run& r, const nlohmann::json& settings) {
  std::vector<nlohmann::json> prior;
  const SearchOptions& o = r.o;
  auto open = [&] {
    if (o.journal_path.empty() || !r.lead) return;
    std::error_code ec;
    if (o.resume && fs::exists(o.journal_path, ec)) {
      JournalContents c = Journal::read(o.journal_path);
      check_journal_model(o.journal_path, c, r.model.dir());
      const nlohmann::json& h = c.header;
      if (!h.contains("search")) throw Error(o.journal_path + ": journal header lacks the search settings");
      for (auto it = settings.begin(); it != settings.end(); ++it) {
        const nlohmann::json was = h["search"].contains(it.key()) ? h["search"][it.key()] : nlohmann::json();
        if (was != it.value())
          throw Error(o.journal_path + ": this journal was written with " + it.key() + " = " + was.dump() +
                      ", this run has " + it.value().dump() + "; resume with the same settings or use a new --out folder");
      }
      r.journal.emplace(Journal::reopen(o.journal_path, c));
      prior = c.records;
    } else {
      const nlohmann::json header{{"type", "header"},
                                  {"version", 1},
                                  {"program", "mamba-shedder-workbench"},
                                  {"created", std::time(nullptr)},
                                  {"architecture", r.model.arch()},
                                  {"model", journal_model_identity(r.model.dir(), o.journal_path)},
                                  {"search", settings},
                                  {"args", o.args},
                                  {"calibration", o.calibration_label}};
      r.journal.emplace(Journal::create(o.journal_path, header));
    }
  };
  if (!r.dist) {
    open();
    return prior;
  }
  nlohmann::json msg;
  if (r.lead) {
    try {
      open();
      msg["records"] = prior;
    } catch (const std::exception& e) {
      msg["error"] = e.what();
      o.comm->broadcast(msg.dump());
      throw;
    }
  }
  const nlohmann::json got = nlohmann::json::parse(o.comm->broadcast(r.lead ? msg.dump() : std::string()));
  if (got.contains("error")) throw Error("distributed search: rank 0 failed: " + got["error"].get<std::string>());
  if (!r.lead) prior = got.at("records").get<std::vector<nlohmann::json>>();
  return prior;
}

// Takes the base and the steps a resumed journal holds into r.res; true when it held the base.
bool replay(Run& r, const std::vector<nlohmann::json>& prior) {
  const SearchOptions& o = r.o;
  bool have_base = false;
  for (const auto& rec : prior) {
    const std::string type = rec.value("type", "");
    if (type == "base") {
      r.res.base_ppl = rec.at("ppl").get<double>();
      if (rec.contains("bench")) r.res.base_bench = BenchResult::from_json(rec["bench"]);
      if (rec.contains("accuracy")) r.res.base_accuracy = accuracy_from_json(rec["accuracy"], o.journal_path);
      have_base = true;
    } else if (type == "step") {
      SearchStep s = step_from_json(rec, o.metric, o.journal_path);
      if (s.step != static_cast<int64_t>(r.res.steps.size()))
        throw Error(o.journal_path + ": step records out of order (found step " + std::to_string(s.step) + ")");
      r.res.removed.add(ComponentId::parse(s.id));
      r.res.steps.push_back(std::move(s));
      ++r.res.resumed_steps;
    }
  }
  r.model.plan(r.res.removed, o.journal_path);
  // JSON objects come back sorted by name: restore the order of the options (metric task, then eval tasks).
  std::vector<std::string> names;
  if (o.metric == Metric::Accuracy) names.push_back(o.accuracy_task->name);
  for (const auto& t : o.eval_tasks) names.push_back(t->name);
  auto reorder = [&](std::vector<TaskResult>& acc) {
    std::stable_sort(acc.begin(), acc.end(), [&](const TaskResult& a, const TaskResult& b) {
      return std::find(names.begin(), names.end(), a.name) < std::find(names.begin(), names.end(), b.name);
    });
  };
  reorder(r.res.base_accuracy);
  for (auto& st : r.res.steps) reorder(st.accuracy);
  return have_base;
}

// The optional measurements under `removed`; `metric_result` is the metric task's result when already known.
void measure(Run& r, const RemovalSet& removed, const TaskResult* metric_result, std::optional<BenchResult>& bench,
             std::vector<TaskResult>& acc) {
  const SearchOptions& o = r.o;
  if (o.metric == Metric::Accuracy)
    acc.push_back(metric_result ? *metric_result
                                : evaluate_task(r.model, *o.accuracy_task, removed, o.accuracy_options, nullptr, r.cancel));
  for (const auto& t : o.eval_tasks) {
    if (o.metric == Metric::Accuracy && t->name == o.accuracy_task->name) continue;
    acc.push_back(evaluate_task(r.model, *t, removed, o.accuracy_options, nullptr, r.cancel));
  }
  if (o.bench) bench = run_benchmark(r.model, removed, *o.bench, r.cancel);
}

// One step's candidates with their scores (and, for the accuracy metric, the task results).
struct Scored {
  std::vector<ComponentId> cands;
  std::vector<double> scores, logliks;
  std::vector<char> bounds;  // metric ppl: abandoned early, the score is a lower bound
  std::vector<std::optional<TaskResult>> results;
};

// The order in which this step evaluates its candidates, for the early abandonment to bite soon: best first by the
// previous step's scores (complete or bounds; candidates without one last); the first step from the output back (the
// cheapest under the prefix cache, so that the costly candidates near the input meet a bound). No extra pass: an
// ordering by the cosine influence cost a full forward per step and saved less than it cost on the demo models.
// Ties keep the candidates' own order.
std::vector<size_t> evaluation_order(const Run& r, const Scored& sc) {
  const size_t n = sc.cands.size();
  std::vector<double> key(n, std::numeric_limits<double>::infinity());
  if (!r.res.steps.empty()) {
    std::map<std::string, double> prev;
    for (const CandidateScore& c : r.res.steps.back().candidates) prev[c.id] = c.score;
    for (size_t k = 0; k < n; ++k) {
      const auto it = prev.find(sc.cands[k].str());
      if (it != prev.end() && !std::isnan(it->second)) key[k] = it->second;
    }
  } else {
    for (size_t k = 0; k < n; ++k) key[k] = -static_cast<double>(r.model.first_layer(sc.cands[k]));
  }
  std::vector<size_t> order(n);
  for (size_t k = 0; k < n; ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const double ka = std::isnan(key[a]) ? std::numeric_limits<double>::infinity() : key[a];
    const double kb = std::isnan(key[b]) ? std::numeric_limits<double>::infinity() : key[b];
    return ka < kb;
  });
  return order;
}

// The committed removal set with candidate `c` removed on top.
RemovalSet with_candidate(const PrefixCache& cache, const ComponentId& c) {
  RemovalSet s = cache.removal();
  s.add(c);
  return s;
}

// Candidates evaluated together (SearchOptions::candidate_batch); 1 where stacking does not apply.
int64_t stack_size(const Run& r, const PrefixCache& cache, size_t n) {
  if (!r.o.prefix_cache || !cache.stackable() || n < 2) return 1;
  if (r.o.candidate_batch > 0) return std::min<int64_t>(r.o.candidate_batch, static_cast<int64_t>(n));
  if (r.model.device().is_cpu()) return 1;
  const double budget = static_cast<double>(cache_memory_budget_mb(r.model.device())) * 1048576.0;  // half the free
  const double fit = budget / static_cast<double>(std::max<int64_t>(1, cache.member_bytes()));
  return std::clamp<int64_t>(static_cast<int64_t>(fit), 1, static_cast<int64_t>(n));
}

bool out_of_memory(const std::exception& e) { return std::string(e.what()).find("out of memory") != std::string::npos; }

// Scores `share` (in evaluation order) in groups of `group` stacked candidates, handing each result to `record` in
// order (which tightens `bound` for the next group). A group that does not fit the device's memory is retried in
// halves.
void score_stacked(Run& r, PrefixCache& cache, const Scored& sc, const std::vector<size_t>& share, int64_t group,
                   const std::function<void(size_t, const PrefixCache::Eval&)>& record,
                   const std::function<void(const std::vector<size_t>&, int64_t, int64_t)>& progress, bool abandon,
                   const double& bound) {
  for (size_t i = 0; i < share.size();) {
    const std::vector<size_t> g(share.begin() + static_cast<std::ptrdiff_t>(i),
                                share.begin() + static_cast<std::ptrdiff_t>(std::min(share.size(), i + static_cast<size_t>(group))));
    std::vector<PlanPtr> plans;
    std::vector<PrefixCache::Member> ms;
    for (const size_t k : g) {
      plans.push_back(r.model.plan(with_candidate(cache, sc.cands[k]), "candidate"));
      ms.push_back({plans.back().get(), r.model.first_layer(sc.cands[k]), r.model.last_layer(sc.cands[k])});
    }
    cache.set_on_batch([&](int64_t wd, int64_t total) { progress(g, wd, total); });
    std::vector<PrefixCache::Eval> got;
    try {
      got = cache.ppl_stacked(ms, r.cancel, abandon ? bound : std::numeric_limits<double>::infinity());
    } catch (const std::exception& e) {
      cache.set_on_batch(nullptr);
      if (group > 1 && out_of_memory(e)) {
        group /= 2;
        continue;
      }
      throw;
    }
    cache.set_on_batch(nullptr);
    r.res.candidate_batch = std::max(r.res.candidate_batch, static_cast<int64_t>(g.size()));
    for (size_t t = 0; t < g.size(); ++t) record(g[t], got[t]);
    i += g.size();
  }
}

// The cosine metric: every candidate's influence from one pass (every rank scores all of them).
void score_cosine(Run& r, PrefixCache& cache, Scored& sc, const std::string& stage, Clock::time_point ts) {
  const size_t n = sc.cands.size();
  std::vector<int64_t> layers;
  std::vector<PlanPtr> plans;
  for (size_t k = 0; k < n; ++k) {
    layers.push_back(sc.cands[k].layer);
    plans.push_back(r.model.plan(with_candidate(cache, sc.cands[k]), "candidate"));
  }
  sc.scores = cache.influence(r.o.granularity, layers, plans, r.cancel);
  r.res.evaluations += static_cast<int64_t>(n);
  if (r.cb.progress) r.cb.progress({stage, static_cast<int64_t>(n), static_cast<int64_t>(n), since(ts), 0});
}

// Scores this rank's share of the candidates (all of them in a single process) by the run's metric.
void score_share(Run& r, PrefixCache& cache, Scored& sc, const std::string& stage, Clock::time_point ts) {
  const SearchOptions& o = r.o;
  const size_t n = sc.cands.size();
  auto mine = [&](size_t k) { return !r.dist || static_cast<int64_t>(k) % o.comm->size() == o.comm->rank(); };
  // The ETA weighs every candidate by the layers it runs (under the prefix cache, from its first changed layer to the
  // head): extrapolating per candidate misjudges a step whose first candidates are the cheapest or the costliest.
  std::vector<double> cost(n, 1.0);
  double cost_total = 0, cost_done = 0;
  for (size_t k = 0; k < n; ++k) {
    if (o.metric == Metric::Perplexity && o.prefix_cache)
      cost[k] = static_cast<double>(r.model.num_layers() - r.model.first_layer(sc.cands[k])) + 1.0;
    if (mine(k)) cost_total += cost[k];
  }
  // `units`: candidates done (fractional within one); `frac_cost`: the cost done including the current one's part.
  auto report = [&](double units, double frac_cost, int64_t wdone, int64_t wtotal) {
    if (!r.cb.progress) return;
    const double el = since(ts);
    r.cb.progress({stage, static_cast<int64_t>(units), static_cast<int64_t>(n), el,
                   frac_cost > 0 ? el / frac_cost * std::max(0.0, cost_total - frac_cost) : -1.0, wdone, wtotal});
  };
  if (o.metric == Metric::Cosine) return score_cosine(r, cache, sc, stage, ts);
  const bool abandon = o.metric == Metric::Perplexity && !o.exhaustive;
  std::vector<size_t> order;
  if (abandon) {
    order = evaluation_order(r, sc);
  } else {
    for (size_t k = 0; k < n; ++k) order.push_back(k);
  }
  // The best complete candidate so far by the pick rule (lowest ppl, ties to the lowest index): its NLL sum bounds
  // the others.
  double best_ppl = std::numeric_limits<double>::infinity(), bound = std::numeric_limits<double>::infinity();
  size_t best_k = n;
  double done = 0;
  auto advance = [&](size_t k) {  // one more candidate done
    ++r.res.evaluations;
    done += 1;
    cost_done += cost[k];
    report(done, cost_done, 0, 0);
  };
  // A perplexity result: the bound and the best (with its boundaries when `own_boundaries`) follow the pick rule.
  auto record = [&](size_t k, const PrefixCache::Eval& e, bool own_boundaries) {
    sc.scores[k] = e.ppl;
    sc.bounds[k] = !e.complete;
    if (!e.complete) {
      ++r.res.abandoned;
    } else if (e.ppl < best_ppl || (e.ppl == best_ppl && k < best_k)) {  // the pick rule
      best_ppl = e.ppl;
      best_k = k;
      bound = e.nll_sum;
      if (own_boundaries) {
        cache.keep_last_as_best(r.model.first_layer(sc.cands[k]));
      } else {
        cache.reset_best();  // a stacked evaluation keeps no boundaries: the commit recomputes them
      }
    }
    advance(k);
  };
  const int64_t group = o.metric == Metric::Perplexity ? stack_size(r, cache, n) : 1;
  if (group > 1) {
    std::vector<size_t> share;
    for (const size_t k : order)
      if (mine(k)) share.push_back(k);
    score_stacked(r, cache, sc, share, group, [&](size_t k, const PrefixCache::Eval& e) { record(k, e, false); },
                  [&](const std::vector<size_t>& g, int64_t wd, int64_t total) {
                    double c = 0;
                    for (const size_t k : g) c += cost[k];
                    const double f = static_cast<double>(wd) / static_cast<double>(total);
                    if (wd < total) report(done + f * static_cast<double>(g.size()), cost_done + f * c, wd, total);
                  },
                  abandon, bound);
    return;
  }
  for (const size_t k : order) {
    if (!mine(k)) continue;
    const RemovalSet removed = with_candidate(cache, sc.cands[k]);
    if (o.metric == Metric::Accuracy) {
      ProgressFn inner;
      if (r.cb.progress)
        inner = [&](const Progress& p) {
          const double f = static_cast<double>(p.done) / static_cast<double>(std::max<int64_t>(1, p.total));
          report(done + f, cost_done + f * cost[k], p.done, p.total);
        };
      sc.results[k] = evaluate_task(r.model, *o.accuracy_task, removed, o.accuracy_options, inner, r.cancel);
      const TaskResult& tr = *sc.results[k];
      sc.scores[k] = o.accuracy_norm && tr.acc_norm ? *tr.acc_norm : tr.acc;
      sc.logliks[k] = tr.gold_loglik;
    } else {
      const int64_t first = r.model.first_layer(sc.cands[k]);
      cache.set_on_batch([&](int64_t wd, int64_t total) {
        const double f = static_cast<double>(wd) / static_cast<double>(total);
        if (wd < total) report(done + f, cost_done + f * cost[k], wd, total);
      });
      const PrefixCache::Eval e =
          cache.ppl(*r.model.plan(removed, "candidate"), first, r.cancel, abandon ? bound : std::numeric_limits<double>::infinity());
      cache.set_on_batch(nullptr);
      record(k, e, true);
      continue;
    }
    advance(k);
  }
}

// Scores every candidate: this rank's share, then (distributed) the exchange — [status, scores, logliks, bounds] from
// every rank, candidate k from rank k % size; a cancel or failure anywhere stops every rank here.
void score_all(Run& r, PrefixCache& cache, Scored& sc, const std::string& stage, Clock::time_point ts) {
  int status = 0;  // 0 ok, 1 cancelled, 2 failed
  std::string error;
  try {
    score_share(r, cache, sc, stage, ts);
  } catch (const Cancelled&) {
    if (!r.dist) throw;
    status = 1;
  } catch (const std::exception& e) {
    if (!r.dist) throw;
    status = 2;
    error = e.what();
  }
  if (!r.dist || r.o.metric == Metric::Cosine) return;
  cache.set_on_batch(nullptr);
  const size_t n = sc.cands.size();
  std::vector<double> v(1 + 3 * n, 0.0);
  v[0] = status;
  for (size_t k = 0; k < n; ++k) {
    v[1 + k] = sc.scores[k];
    v[1 + n + k] = sc.logliks[k];
    v[1 + 2 * n + k] = sc.bounds[k];
  }
  const auto all = r.o.comm->allgather(v);
  for (const auto& from : all)
    if (from[0] != 0 && status == 0) status = from[0] == 1 ? 1 : 3;
  if (status == 1) throw Cancelled();
  if (status == 2) throw Error(error);
  if (status == 3) throw Error("distributed search: another rank failed during " + stage + " (see its output)");
  for (size_t k = 0; k < n; ++k) {
    const auto& from = all[k % all.size()];
    sc.scores[k] = from[1 + k];
    sc.logliks[k] = from[1 + n + k];
    sc.bounds[k] = from[1 + 2 * n + k] != 0;
  }
}

// The reason to stop before step `step`, or "" to go on.
std::string stop_before(const Run& r, int64_t step, const std::vector<ComponentId>& cands) {
  if (step >= r.o.steps) return "steps";
  if (r.o.target_params_pct > 0 &&
      100.0 * static_cast<double>(r.model.removed_parameters(r.res.removed)) / static_cast<double>(r.res.total_params) >=
          r.o.target_params_pct)
    return "target-params";
  if (cands.empty()) return "no-candidates";
  return "";
}

// Scores, picks and commits one step; "" when taken (r.res has it), else the stop reason.
std::string take_step(Run& r, PrefixCache& cache, int64_t step, std::vector<ComponentId> cands) {
  const SearchOptions& o = r.o;
  const auto ts = Clock::now();
  const std::string stage = "step " + std::to_string(step + 1);
  Scored sc;
  sc.cands = std::move(cands);
  sc.scores.assign(sc.cands.size(), 0.0);
  sc.logliks.assign(sc.cands.size(), 0.0);
  sc.bounds.assign(sc.cands.size(), 0);
  sc.results.resize(sc.cands.size());
  cache.reset_best();
  score_all(r, cache, sc, stage, ts);
  const std::optional<size_t> pick = best_candidate(sc.scores, sc.logliks, o.metric);
  if (!pick) return "no-valid-score";  // every candidate broke the model (NaN or infinite scores)
  const size_t best = *pick;
  if (sc.bounds[best]) throw InternalError("search: " + stage + " picked a candidate abandoned early (" + sc.cands[best].str() + ")");
  SearchStep s;
  s.step = step;
  for (size_t k = 0; k < sc.cands.size(); ++k)
    s.candidates.push_back({sc.cands[k].layer, sc.cands[k].str(), sc.scores[k], sc.logliks[k], sc.bounds[k] != 0});
  const ComponentId chosen = sc.cands[best];
  s.index = chosen.layer;
  s.id = chosen.str();
  s.score = sc.scores[best];
  if (o.metric == Metric::Perplexity && o.max_ppl > 0 && s.score > o.max_ppl) return "max-ppl";
  const int64_t from = r.model.first_layer(chosen);
  RemovalSet after = r.res.removed;
  after.add(chosen);
  cache.set_removal(after);
  if (o.metric == Metric::Perplexity) {
    cache.commit(from, r.cancel);
    s.ppl = s.score;
  } else {
    s.ppl = cache.rebuild(from, true, r.cancel);
    if (o.max_ppl > 0 && !(s.ppl <= o.max_ppl)) {  // NaN is above any ceiling
      cache.set_removal(r.res.removed);
      cache.rebuild(from, false, r.cancel);
      return "max-ppl";
    }
  }
  r.res.removed = after;
  s.params_removed = r.model.removed_parameters(r.res.removed);
  s.params_removed_pct = 100.0 * static_cast<double>(s.params_removed) / static_cast<double>(r.res.total_params);
  if (r.lead && (o.bench || !o.eval_tasks.empty() || o.metric == Metric::Accuracy)) {
    if (r.cb.progress) r.cb.progress({stage + " measurements", 0, 1, since(ts), -1});
    measure(r, r.res.removed, o.metric == Metric::Accuracy && sc.results[best] ? &*sc.results[best] : nullptr, s.bench,
            s.accuracy);
  }
  s.seconds = since(ts);
  if (r.journal) {
    nlohmann::json j = step_to_json(s, o.metric);
    j["type"] = "step";
    r.journal->append(j);
  }
  r.res.steps.push_back(s);
  if (r.cb.on_step) r.cb.on_step(r.res.steps.back(), r.res.removed);
  return "";
}

}  // namespace

SearchResult run_search(const Model& model, const at::Tensor& windows, const SearchOptions& o,
                        const SearchCallbacks& cb, const CancelToken* cancel) {
  Run r{model, o, cb, cancel, windows.to(at::kLong).contiguous(), Clock::now()};
  check_options(model, r.windows, o);
  r.dist = o.comm && o.comm->size() > 1;
  r.lead = !r.dist || o.comm->rank() == 0;
  r.res.total_params = model.total_parameters();
  r.res.removed = o.initial;

  const std::vector<nlohmann::json> prior = open_journal(r, search_settings(model, r.windows, o));
  PrefixCache cache(model, r.windows, o.batch, o.prefix_cache, o.cache_every, o.cache_memory_mb);
  const bool have_base = replay(r, prior);
  cache.set_removal(r.res.removed);

  if (cb.progress) {  // the base pass, window by window ("base": the committed set, i.e. the initial removals)
    const auto tb = Clock::now();
    cb.progress({"base", 0, r.windows.size(0), since(r.t0), -1, 0, r.windows.size(0)});
    cache.set_on_batch([&, tb](int64_t wd, int64_t total) {
      const double el = since(tb);
      cb.progress({"base", wd, total, el, wd > 0 ? el / static_cast<double>(wd) * static_cast<double>(total - wd) : -1.0, wd, total});
    });
  }
  if (!have_base) {
    r.res.base_ppl = cache.rebuild(0, true, cancel);
    if (r.lead && (o.bench || !o.eval_tasks.empty() || o.metric == Metric::Accuracy))
      measure(r, r.res.removed, nullptr, r.res.base_bench, r.res.base_accuracy);
    if (r.journal) {
      nlohmann::json b{{"type", "base"}, {"ppl", r.res.base_ppl}};
      measurements_to_json(b, r.res.base_bench, r.res.base_accuracy);
      r.journal->append(b);
    }
  } else {
    cache.rebuild(0, false, cancel);
  }
  cache.set_on_batch(nullptr);
  if (cb.on_base) cb.on_base(r.res.base_ppl);
  if (cb.on_step) {  // the resumed steps, reported as they were taken
    RemovalSet so_far = o.initial;
    for (const SearchStep& st : r.res.steps) {
      so_far.add(ComponentId::parse(st.id));
      cb.on_step(st, so_far);
    }
  }

  for (int64_t step = static_cast<int64_t>(r.res.steps.size());; ++step) {
    const std::vector<ComponentId> cands =
        step >= o.steps ? std::vector<ComponentId>{} : model.candidates(o.granularity, r.res.removed);
    std::string stop = stop_before(r, step, cands);
    if (stop.empty()) stop = take_step(r, cache, step, cands);
    if (!stop.empty()) {
      r.res.stop_reason = stop;
      break;
    }
  }
  r.res.layers_run = cache.layers_run();
  r.res.seconds = since(r.t0);
  if (r.journal)
    r.journal->append({{"type", "done"}, {"stop_reason", r.res.stop_reason}, {"steps", r.res.steps.size()},
                       {"evaluations", r.res.evaluations}, {"seconds", r.res.seconds}});
  return r.res;
}

}  // namespace shedder

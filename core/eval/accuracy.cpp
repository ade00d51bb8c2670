// Log-likelihood scoring of tasks with shared-context batching (see accuracy.h).
#include "eval/accuracy.h"

#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>

#include "eval/harness_text.h"
#include "kernels/mixer_ops.h"
#include "util/hash.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder {

EncodedPair encode_pair(const BpeTokenizer& tok, const std::string& context, const std::string& continuation,
                        int32_t prefix_token) {
  EncodedPair p;
  if (context.empty()) {
    p.continuation = tok.encode(continuation);
    if (!p.continuation.empty() && p.continuation[0] == prefix_token) {
      p.context.assign(p.continuation.begin(), p.continuation.begin() + 1);
      p.continuation.erase(p.continuation.begin());
    } else {
      p.context = {prefix_token};
    }
    return p;
  }
  const std::string ctx = harness::rstrip(context);
  const std::string cont = context.substr(ctx.size()) + continuation;
  const std::vector<int32_t> whole = tok.encode(ctx + cont);
  p.context = tok.encode(ctx);
  if (whole.size() > p.context.size()) p.continuation.assign(whole.begin() + static_cast<ptrdiff_t>(p.context.size()), whole.end());
  return p;
}

EncodedTask encode_task(const Task& task, const BpeTokenizer& tok, int32_t prefix_token, int64_t max_items) {
  EncodedTask e;
  e.name = task.name;
  e.path = task.path;
  e.kind = task.kind;
  std::vector<int64_t> fp;
  fp.push_back(static_cast<int64_t>(task.kind));
  for (const TaskItem& it : task.items) {
    if (max_items > 0 && static_cast<int64_t>(e.items.size()) >= max_items) break;
    EncodedItem ei;
    ei.where = task.path + ":" + std::to_string(it.line);
    ei.gold = it.gold;
    if (task.kind == TaskKind::Target) {
      ei.pairs.push_back(encode_pair(tok, it.context, it.target, prefix_token));
      ei.norm_lengths.push_back(static_cast<double>(harness::char_length(it.target)));
    } else {
      for (const std::string& c : it.choices) {
        const bool mc = task.kind == TaskKind::MultipleChoice;
        ei.pairs.push_back(mc ? encode_pair(tok, it.context, it.delimiter + c, prefix_token)
                              : encode_pair(tok, c, it.delimiter + it.target, prefix_token));
        ei.norm_lengths.push_back(static_cast<double>(harness::char_length(c)));
      }
    }
    for (size_t k = 0; k < ei.pairs.size(); ++k) {
      if (ei.pairs[k].context.empty())
        throw Error(ei.where + ": the context" +
                    (task.kind == TaskKind::Partial ? " of choice " + std::to_string(k) : std::string()) +
                    " is only whitespace (lm-evaluation-harness cannot score it either; use \"\" for no context)");
      if (ei.pairs[k].continuation.empty())
        throw Error(ei.where + ": the continuation" +
                    (task.kind == TaskKind::Target ? std::string() : " of choice " + std::to_string(k)) +
                    " tokenizes to nothing (it is absorbed into the context's tokens)");
      fp.push_back(-1);
      for (int32_t t : ei.pairs[k].context) fp.push_back(t);
      fp.push_back(-2);
      for (int32_t t : ei.pairs[k].continuation) fp.push_back(t);
    }
    fp.push_back(-3 - ei.gold);
    e.items.push_back(std::move(ei));
  }
  e.fingerprint = fnv1a64_hex(fp.data(), fp.size() * sizeof(int64_t));
  return e;
}

namespace {

at::Tensor ids_tensor(const std::vector<std::vector<int32_t>>& seqs, int64_t len) {
  at::Tensor t = at::zeros({static_cast<int64_t>(seqs.size()), len}, at::kLong);
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t b = 0; b < seqs.size(); ++b)
    for (size_t i = 0; i < seqs[b].size(); ++i) p[static_cast<int64_t>(b) * len + static_cast<int64_t>(i)] = seqs[b][i];
  return t;
}

// Log-probabilities of `targets` under the head applied to `rows` ([M, H]); spans[i] rows belong to pair i.
void score_rows(const Model& model, const at::Tensor& rows, const std::vector<int32_t>& targets,
                const std::vector<int64_t>& spans, std::vector<ChoiceScore>& out, size_t first) {
  const int64_t M = rows.size(0);
  // [M, V] in the head's dtype: row_nll reads 16-bit logits on a GPU as they are, and their argmax is that of the
  // float32 values (the conversion is exact).
  at::Tensor logits = model.head_logits(rows.unsqueeze(0)).squeeze(0).contiguous();
  at::Tensor tg = at::empty({M}, at::kLong);
  for (int64_t i = 0; i < M; ++i) tg.data_ptr<int64_t>()[i] = targets[static_cast<size_t>(i)];
  at::Tensor nll = ops::row_nll(logits, tg).cpu();
  at::Tensor am = logits.argmax(1).contiguous().cpu();
  const double* np = nll.data_ptr<double>();
  const int64_t* ap = am.data_ptr<int64_t>();
  int64_t r = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    ChoiceScore& s = out[first + i];
    s.loglik = 0;
    s.greedy = true;
    s.tokens = spans[i];
    for (int64_t k = 0; k < spans[i]; ++k, ++r) {
      s.loglik -= np[r];
      s.greedy = s.greedy && ap[r] == targets[static_cast<size_t>(r)];
    }
  }
}

}  // namespace

std::vector<ChoiceScore> score_pairs(const Model& model, const std::vector<EncodedPair>& pairs, const ForwardPlan& plan,
                                     const AccuracyOptions& o) {
  c10::NoGradGuard no_grad;
  std::vector<ChoiceScore> out(pairs.size());
  if (pairs.empty()) return out;
  const int64_t max_len = std::max<int64_t>(1, o.max_length);
  bool shared = o.share_context;
  for (const auto& p : pairs) {
    if (p.context.empty() || p.continuation.empty()) throw Error("score_pairs: empty context or continuation");
    if (static_cast<int64_t>(p.continuation.size()) > max_len)
      throw Error("a continuation of " + std::to_string(p.continuation.size()) + " tokens is longer than --max-length " +
                  std::to_string(max_len));
    shared = shared && p.context == pairs[0].context &&
             static_cast<int64_t>(p.context.size() + p.continuation.size()) <= max_len + 1;
  }

  if (shared) {
    // The context once; its state continued by every choice in one batch.
    const auto& ctx = pairs[0].context;
    const int64_t c = static_cast<int64_t>(ctx.size());
    RecurrentState state = model.state(1, plan);
    at::Tensor hc = model.hidden_states(ids_tensor({ctx}, c), plan, &state);  // [1, c, H]
    at::Tensor last = hc.select(1, c - 1);                                      // [1, H]: predicts token 0
    int64_t rest = 0;
    std::vector<std::vector<int32_t>> inputs;
    for (const auto& p : pairs) {
      inputs.emplace_back(p.continuation.begin(), p.continuation.end() - 1);
      rest = std::max<int64_t>(rest, static_cast<int64_t>(inputs.back().size()));
    }
    at::Tensor hn;
    if (rest > 0) {
      RecurrentState st = state.repeat(static_cast<int64_t>(pairs.size()));
      hn = model.hidden_states(ids_tensor(inputs, rest), plan, &st);  // [n, rest, H]
    }
    std::vector<at::Tensor> rows;
    std::vector<int32_t> targets;
    std::vector<int64_t> spans;
    for (size_t i = 0; i < pairs.size(); ++i) {
      const int64_t k = static_cast<int64_t>(pairs[i].continuation.size());
      rows.push_back(last);
      if (k > 1) rows.push_back(hn[static_cast<int64_t>(i)].narrow(0, 0, k - 1));
      targets.insert(targets.end(), pairs[i].continuation.begin(), pairs[i].continuation.end());
      spans.push_back(k);
    }
    score_rows(model, at::cat(rows, 0), targets, spans, out, 0);
    return out;
  }

  // Every pair a full sequence (cut from the left to max_length + 1 tokens, the last one dropped), batched
  // with right padding (padding after a sequence cannot change its earlier positions).
  const size_t batch = static_cast<size_t>(std::max<int64_t>(1, o.batch));
  for (size_t b0 = 0; b0 < pairs.size(); b0 += batch) {
    const size_t b1 = std::min(pairs.size(), b0 + batch);
    std::vector<std::vector<int32_t>> seqs;
    int64_t longest = 0;
    for (size_t i = b0; i < b1; ++i) {
      std::vector<int32_t> all(pairs[i].context);
      all.insert(all.end(), pairs[i].continuation.begin(), pairs[i].continuation.end());
      const size_t keep = std::min(all.size(), static_cast<size_t>(max_len + 1));
      std::vector<int32_t> inp(all.end() - static_cast<ptrdiff_t>(keep), all.end() - 1);
      longest = std::max<int64_t>(longest, static_cast<int64_t>(inp.size()));
      seqs.push_back(std::move(inp));
    }
    at::Tensor h = model.hidden_states(ids_tensor(seqs, longest), plan);  // [b, longest, H]
    std::vector<at::Tensor> rows;
    std::vector<int32_t> targets;
    std::vector<int64_t> spans;
    for (size_t i = b0; i < b1; ++i) {
      const int64_t len = static_cast<int64_t>(seqs[i - b0].size());
      const int64_t k = static_cast<int64_t>(pairs[i].continuation.size());
      rows.push_back(h[static_cast<int64_t>(i - b0)].narrow(0, len - k, k));
      targets.insert(targets.end(), pairs[i].continuation.begin(), pairs[i].continuation.end());
      spans.push_back(k);
    }
    score_rows(model, at::cat(rows, 0), targets, spans, out, b0);
  }
  return out;
}

nlohmann::json TaskResult::to_json() const {
  nlohmann::json j;
  j["kind"] = task_kind_name(kind);
  j["items"] = items;
  j["acc"] = acc;
  if (acc_norm) j["acc_norm"] = *acc_norm;
  if (perplexity) j["perplexity"] = *perplexity;
  j["gold_loglik"] = gold_loglik;
  j["seconds"] = seconds;
  return j;
}

TaskResult TaskResult::from_json(const std::string& name, const nlohmann::json& j, const std::string& label) {
  try {
    TaskResult r;
    r.name = name;
    const std::string kind = j.at("kind").get<std::string>();
    r.kind = kind == "target" ? TaskKind::Target : kind == "partial" ? TaskKind::Partial : TaskKind::MultipleChoice;
    r.items = j.at("items").get<int64_t>();
    r.acc = j.at("acc").get<double>();
    if (j.contains("acc_norm")) r.acc_norm = j["acc_norm"].get<double>();
    if (j.contains("perplexity")) r.perplexity = j["perplexity"].get<double>();
    r.gold_loglik = j.value("gold_loglik", 0.0);
    r.seconds = j.value("seconds", 0.0);
    return r;
  } catch (const std::exception& e) {
    throw Error(label + ": malformed accuracy record for task '" + name + "': " + e.what());
  }
}

namespace {

// np.argmax: the first index of the largest value.
int64_t first_argmax(const std::vector<double>& v) {
  int64_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  return best;
}

}  // namespace

TaskResult evaluate_task(const Model& model, const EncodedTask& task, const RemovalSet& removed,
                         const AccuracyOptions& o, const ProgressFn& progress, const CancelToken* cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  const PlanPtr plan = model.plan(removed);
  if (task.items.empty()) throw Error(task.path + ": no task items");
  int32_t top = 0;
  for (const auto& it : task.items)
    for (const auto& p : it.pairs) {
      for (int32_t t : p.context) top = std::max(top, t);
      for (int32_t t : p.continuation) top = std::max(top, t);
    }
  if (top >= model.vocab_rows())
    throw Error(task.path + ": tokenizes to id " + std::to_string(top) + " but the model's vocabulary has " +
                std::to_string(model.vocab_rows()) + " entries; the tokenizer does not belong to this model");

  TaskResult r;
  r.name = task.name;
  r.kind = task.kind;
  r.items = static_cast<int64_t>(task.items.size());
  double correct = 0, correct_norm = 0, ll_sum = 0, gold_sum = 0;
  const size_t n = task.items.size();
  // Target items are single pairs: several go through one forward pass.
  const size_t group = task.kind == TaskKind::Target ? static_cast<size_t>(std::max<int64_t>(1, o.batch)) : 1;
  auto report = [&](size_t done) {
    if (!progress) return;
    Progress p;
    p.stage = "accuracy " + task.name;
    p.done = static_cast<int64_t>(done);
    p.total = static_cast<int64_t>(n);
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    p.eta_s = p.elapsed_s / static_cast<double>(done) * static_cast<double>(n - done);
    progress(p);
  };
  for (size_t i0 = 0; i0 < n; i0 += group) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    const size_t i1 = std::min(n, i0 + group);
    std::vector<EncodedPair> pairs;
    for (size_t i = i0; i < i1; ++i) pairs.insert(pairs.end(), task.items[i].pairs.begin(), task.items[i].pairs.end());
    std::vector<ChoiceScore> scores;
    try {
      scores = score_pairs(model, pairs, *plan, o);
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      throw Error(task.items[i0].where + ": " + e.what());
    }
    size_t off = 0;
    for (size_t i = i0; i < i1; ++i) {
      const EncodedItem& it = task.items[i];
      ItemResult ir;
      ir.choices.assign(scores.begin() + static_cast<ptrdiff_t>(off),
                        scores.begin() + static_cast<ptrdiff_t>(off + it.pairs.size()));
      off += it.pairs.size();
      if (task.kind == TaskKind::Target) {
        ir.correct = ir.choices[0].greedy;
        ll_sum += ir.choices[0].loglik;
        gold_sum += ir.choices[0].loglik;
      } else {
        std::vector<double> ll, norm;
        for (size_t k = 0; k < ir.choices.size(); ++k) {
          ll.push_back(ir.choices[k].loglik);
          norm.push_back(ir.choices[k].loglik / it.norm_lengths[k]);
        }
        ir.pred = first_argmax(ll);
        ir.pred_norm = first_argmax(norm);
        ir.correct = ir.pred == it.gold;
        ir.correct_norm = ir.pred_norm == it.gold;
        gold_sum += ll[static_cast<size_t>(it.gold)];
      }
      correct += ir.correct ? 1 : 0;
      correct_norm += ir.correct_norm ? 1 : 0;
      if (o.keep_items) r.details.push_back(std::move(ir));
    }
    report(i1);
  }
  const double N = static_cast<double>(n);
  r.acc = correct / N;
  if (task.kind == TaskKind::MultipleChoice) r.acc_norm = correct_norm / N;
  if (task.kind == TaskKind::Target) r.perplexity = std::exp(-ll_sum / N);
  r.gold_loglik = gold_sum / N;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace shedder

// The search's prefix cache over the model interface (see prefix_cache.h).
#include "shed/prefix_cache.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "eval/perplexity.h"
#include "runtime/device.h"
#include "util/error.h"

namespace shedder {

PrefixCache::PrefixCache(const Model& model, const at::Tensor& windows, int64_t batch, bool use_cache, int64_t every,
                         int64_t memory_mb)
    : m_(model), windows_(windows), batch_(std::max<int64_t>(1, batch)), n_(model.num_layers()) {
  set_removal({});
  carried_.resize(static_cast<size_t>(n_));
  if (!use_cache) return;
  c10::NoGradGuard no_grad;
  {  // the stream's length (the model may put rows before the tokens)
    const Activations a = m_.embed(windows.narrow(0, 0, 1).narrow(1, 0, 1), *plan_, nullptr);
    prefix_ = a.prefix;
  }
  const int64_t W = windows.size(0), T = windows.size(1) + prefix_, H = model.hidden_size();
  const double bytes = static_cast<double>(W) * static_cast<double>(T) * static_cast<double>(H) * 4.0;
  // Without an explicit budget the cache may take half of the machine's (or the GPU's free) memory.
  if (memory_mb <= 0) memory_mb = cache_memory_budget_mb(model.device());
  const int64_t fit = static_cast<int64_t>(static_cast<double>(memory_mb) * 1024.0 * 1024.0 / bytes);
  every_ = every > 0 ? every : fit >= n_ - 1 ? 1 : (fit <= 0 ? n_ : (n_ - 1 + fit - 1) / fit);
  cache_.resize(static_cast<size_t>(n_));
  int64_t kept = 0;
  try {
    for (int64_t b = 1; b < n_; ++b)
      if (b % every_ == 0) {
        cache_[static_cast<size_t>(b)] = at::empty({W, T, H}, at::TensorOptions().device(model.device()).dtype(at::kFloat));
        ++kept;
      }
  } catch (const std::exception&) {
    throw Error("prefix cache: cannot allocate " + std::to_string(static_cast<int64_t>(bytes / 1048576.0)) +
                " MB per block boundary for " + std::to_string(kept + 1) +
                " boundaries; use fewer --windows, --cache-memory-mb or a larger --cache-every");
  }
  // Keeping the best candidate's boundaries (two more sets: the one being evaluated and the best so far) makes the
  // refresh after each step free; only when that memory is allowed.
  capture_ = kept > 0 && 3.0 * static_cast<double>(kept) * bytes <= static_cast<double>(memory_mb) * 1024.0 * 1024.0;
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

void PrefixCache::set_removal(const RemovalSet& r) {
  removal_ = r;
  plan_ = m_.plan(r, "search");
}

bool PrefixCache::cached(int64_t b) const {
  return b >= 0 && b < static_cast<int64_t>(cache_.size()) && cache_[static_cast<size_t>(b)].defined();
}

int64_t PrefixCache::start_boundary(int64_t layer) const {
  for (int64_t b = std::min(layer, n_ - 1); b >= 1; --b)
    if (cached(b)) return b;
  return 0;
}

int64_t PrefixCache::cached_boundaries() const {
  int64_t c = 0;
  for (const auto& t : cache_) c += t.defined() ? 1 : 0;
  return c;
}

void PrefixCache::keep_last_as_best(int64_t first_diff) {
  if (!capture_) return;
  std::swap(scratch_, best_);
  best_from_ = first_diff;
}

void PrefixCache::commit(int64_t from, const CancelToken* cancel) {
  // A model that carries tensors between layers has them recomputed (the captured boundaries hold hidden states).
  bool carries = false;
  for (const auto& c : carried_) carries |= !c.empty();
  if (capture_ && best_from_ == from && !carries) {
    for (int64_t b = from + 1; b < n_; ++b)
      if (cached(b)) std::swap(cache_[static_cast<size_t>(b)], best_[static_cast<size_t>(b)]);
    best_from_ = -1;
    return;
  }
  rebuild(from, false, cancel);
}

double PrefixCache::rebuild(int64_t from, bool with_ppl, const CancelToken* cancel) {
  const int64_t j = start_boundary(from);
  bool needs_store = false;
  for (int64_t b = std::max<int64_t>(j + 1, from + 1); b < n_; ++b) needs_store |= cached(b);
  if (!needs_store && !with_ppl) return 0;
  return run(*plan_, j, from, /*store=*/true, with_ppl, cancel).ppl;
}

PrefixCache::Eval PrefixCache::ppl(const ForwardPlan& p, int64_t first_diff, const CancelToken* cancel, double bound) {
  return run(p, start_boundary(first_diff), first_diff, /*store=*/false, /*with_ppl=*/true, cancel,
             capture_ ? &scratch_ : nullptr, bound);
}

Activations PrefixCache::resume(int64_t j, int64_t w0, int64_t nb, const ForwardPlan& p) const {
  const at::Tensor ids = windows_.narrow(0, w0, nb);
  if (j == 0) return m_.embed(ids, p, nullptr);
  Activations a;
  a.ids = ids.to(m_.device());
  a.hidden = cache_[static_cast<size_t>(j)].narrow(0, w0, nb);
  a.prefix = prefix_;
  a.carried.resize(static_cast<size_t>(n_));
  for (int64_t l = 0; l < j; ++l)
    for (const at::Tensor& t : carried_[static_cast<size_t>(l)]) a.carried[static_cast<size_t>(l)].push_back(t.narrow(0, w0, nb));
  return a;
}

namespace {

// Every term a candidate's running NLL sum adds is >= 0 (a window's mean of -log_softmax), so the sum only grows:
// past the best complete candidate's sum `bound` (with a margin that keeps the final perplexity strictly above the
// best's whatever the rounding of exp) the candidate cannot win.
double abandon_limit(double bound) { return bound + 1e-9 * std::fabs(bound); }

// The sum over windows of the mean NLL of `ids` given the last hidden states of the stream (its first `prefix` rows,
// a model's prefix rows, dropped).
double window_nll_sum(const Model& m, const at::Tensor& hidden, int64_t prefix, const at::Tensor& ids) {
  const at::Tensor h = prefix > 0 ? hidden.narrow(1, prefix, hidden.size(1) - prefix) : hidden;
  return window_mean_nll(m.head_logits(h), ids).sum().item<double>();
}

// Appends the streams `add` to the rows of `stack` (batch first): hidden and ids; the scratch stays only when every
// part has it (it is recomputable). Nothing may be carried between layers (PrefixCache::stackable()).
void append_rows(Activations& stack, std::vector<Activations>& add) {
  std::vector<Activations> parts;
  if (stack.hidden.defined()) parts.push_back(std::move(stack));
  for (Activations& a : add) parts.push_back(std::move(a));
  add.clear();
  std::vector<at::Tensor> hidden, ids, scratch;
  for (const Activations& p : parts) {
    if (p.prefix != parts[0].prefix || p.position != parts[0].position)
      throw InternalError("prefix cache: stacked streams differ in layout");
    for (const auto& c : p.carried)
      if (!c.empty()) throw InternalError("prefix cache: a stacked stream carries tensors between layers");
    hidden.push_back(p.hidden);
    ids.push_back(p.ids);
    if (p.scratch.defined()) scratch.push_back(p.scratch);
  }
  if (parts.size() <= 1) {  // nothing to join
    if (!parts.empty()) stack = std::move(parts[0]);
    return;
  }
  Activations out;
  out.prefix = parts[0].prefix;
  out.position = parts[0].position;
  out.hidden = at::cat(hidden, 0);
  out.ids = at::cat(ids, 0);
  if (scratch.size() == parts.size()) out.scratch = at::cat(scratch, 0);
  stack = std::move(out);
}

}  // namespace

PrefixCache::Eval PrefixCache::run(const ForwardPlan& p, int64_t j, int64_t from, bool store, bool with_ppl,
                                   const CancelToken* cancel, std::vector<at::Tensor>* capture, double bound) {
  c10::NoGradGuard no_grad;
  const int64_t W = windows_.size(0);
  const double limit = abandon_limit(bound);
  double nll_sum = 0;
  for (int64_t w0 = 0; w0 < W; w0 += batch_) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    const int64_t nb = std::min(batch_, W - w0);
    Activations a = resume(j, w0, nb, p);
    for (int64_t l = j; l < n_; ++l) {
      if (l > from && cached(l)) {
        if (store) cache_[static_cast<size_t>(l)].narrow(0, w0, nb).copy_(a.hidden);
        if (capture) (*capture)[static_cast<size_t>(l)].narrow(0, w0, nb).copy_(a.hidden);
      }
      m_.layer(l, a, p, nullptr);
      ++layers_run_;
      if (store && !a.carried.empty() && !a.carried[static_cast<size_t>(l)].empty()) {
        std::vector<at::Tensor>& keep = carried_[static_cast<size_t>(l)];
        const std::vector<at::Tensor>& got = a.carried[static_cast<size_t>(l)];
        if (keep.size() != got.size()) keep.assign(got.size(), at::Tensor());
        for (size_t t = 0; t < got.size(); ++t) {
          std::vector<int64_t> shape = got[t].sizes().vec();
          shape[0] = W;
          if (!keep[t].defined() || keep[t].sizes() != at::IntArrayRef(shape))
            keep[t] = at::empty(shape, got[t].options());
          keep[t].narrow(0, w0, nb).copy_(got[t]);
        }
      }
    }
    if (with_ppl) {
      nll_sum += window_nll_sum(m_, a.hidden, a.prefix, a.ids);
    }
    if (on_batch_) on_batch_(w0 + nb, W);
    if (nll_sum > limit && w0 + nb < W) return {std::exp(nll_sum / static_cast<double>(W)), nll_sum, false};
  }
  return {with_ppl ? std::exp(nll_sum / static_cast<double>(W)) : 0.0, nll_sum, true};
}

bool PrefixCache::stackable() const {
  if (cache_.empty()) return false;
  for (const auto& c : carried_)
    if (!c.empty()) return false;
  return true;
}

int64_t PrefixCache::member_bytes() const {
  // Per stream row: the float32 residual (held by the stack, plus a layer's input and output copies and a norm) and
  // about a dozen hidden-size rows of activations in the compute dtype (in_proj's output, conv, scan, gate, out_proj).
  const int64_t T = windows_.size(1) + prefix_, H = m_.hidden_size();
  const int64_t elem = static_cast<int64_t>(c10::elementSize(m_.compute_dtype()));
  return batch_ * T * H * (4 * 4 + 16 * elem);
}

Activations PrefixCache::committed_at(int64_t l, int64_t w0, int64_t nb, Activations& c, int64_t& c_at) {
  const int64_t j = start_boundary(l);
  if (j == l) return resume(l, w0, nb, *plan_);
  if (c_at < j || c_at > l) {
    c = resume(j, w0, nb, *plan_);
    c_at = j;
  }
  for (; c_at < l; ++c_at) {
    m_.layer(c_at, c, *plan_, nullptr);
    ++layers_run_;
  }
  return c;
}

std::vector<PrefixCache::Eval> PrefixCache::ppl_stacked(const std::vector<Member>& ms, const CancelToken* cancel,
                                                        double bound) {
  if (!stackable()) throw InternalError("prefix cache: stacked evaluation without a cache or with carried tensors");
  c10::NoGradGuard no_grad;
  const int64_t W = windows_.size(0);
  const double limit = abandon_limit(bound);
  const size_t K = ms.size();
  for (const Member& m : ms)
    if (!m.plan || m.first < 0 || m.last < m.first || m.last >= n_)
      throw InternalError("prefix cache: a stacked member's layers are out of range");
  std::vector<Eval> out(K);
  std::vector<char> alive(K, 1);
  for (int64_t w0 = 0; w0 < W; w0 += batch_) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    const int64_t nb = std::min(batch_, W - w0);
    int64_t j = n_, first_max = -1;
    for (size_t k = 0; k < K; ++k)
      if (alive[k]) {
        j = std::min(j, ms[k].first);
        first_max = std::max(first_max, ms[k].first);
      }
    if (first_max < 0) break;
    Activations c, stack;
    int64_t c_at = -1;
    std::vector<Activations> solo(K);
    std::vector<size_t> rows;  // the stack's members, in row order
    for (int64_t l = j; l < n_; ++l) {
      std::vector<Activations> joining;
      std::vector<size_t> joiners;
      for (size_t k = 0; k < K; ++k) {
        if (!alive[k] || l < ms[k].first || l > ms[k].last) continue;
        if (l == ms[k].first) solo[k] = committed_at(l, w0, nb, c, c_at);
        m_.layer(l, solo[k], *ms[k].plan, nullptr);
        ++layers_run_;
        if (l == ms[k].last) {
          joining.push_back(std::move(solo[k]));
          joiners.push_back(k);
          solo[k] = Activations();
        }
      }
      if (!rows.empty()) {
        m_.layer(l, stack, *plan_, nullptr);
        layers_run_ += static_cast<int64_t>(rows.size());
      }
      append_rows(stack, joining);
      rows.insert(rows.end(), joiners.begin(), joiners.end());
    }
    const at::Tensor ids = windows_.narrow(0, w0, nb).to(m_.device());
    for (size_t i = 0; i < rows.size(); ++i)
      out[rows[i]].nll_sum +=
          window_nll_sum(m_, stack.hidden.narrow(0, static_cast<int64_t>(i) * nb, nb), stack.prefix, ids);
    if (on_batch_) on_batch_(w0 + nb, W);
    for (size_t k = 0; k < K; ++k)
      if (alive[k] && out[k].nll_sum > limit && w0 + nb < W) {
        alive[k] = 0;
        out[k].complete = false;
      }
  }
  for (Eval& e : out) e.ppl = std::exp(e.nll_sum / static_cast<double>(W));
  return out;
}

std::vector<double> PrefixCache::influence(Granularity g, const std::vector<int64_t>& layers,
                                           const std::vector<PlanPtr>& plans, const CancelToken* cancel) {
  c10::NoGradGuard no_grad;
  std::vector<double> sum(layers.size(), 0.0);
  int64_t count = 0;
  const int64_t W = windows_.size(0);
  for (int64_t w0 = 0; w0 < W; w0 += batch_) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    const int64_t nb = std::min(batch_, W - w0);
    Activations a = m_.embed(windows_.narrow(0, w0, nb), *plan_, nullptr);
    for (int64_t l = 0; l < n_; ++l) {
      const at::Tensor in = a.hidden;
      Activations with = a;  // the stream the committed set leaves after layer l
      m_.layer(l, with, *plan_, nullptr);
      ++layers_run_;
      for (size_t k = 0; k < layers.size(); ++k) {
        if (layers[k] != l) continue;
        at::Tensor cos;
        if (g == Granularity::Block) {
          cos = at::cosine_similarity(in, with.hidden, -1, 1e-8);
        } else {
          Activations without = a;
          m_.layer(l, without, *plans[k], nullptr);
          ++layers_run_;
          cos = at::cosine_similarity(with.hidden - in, without.hidden - in, -1, 1e-8);
        }
        if (a.prefix > 0) cos = cos.narrow(1, a.prefix, cos.size(1) - a.prefix);
        sum[k] += cos.to(at::kDouble).sum().item<double>();
      }
      a = std::move(with);
    }
    count += nb * windows_.size(1);
  }
  std::vector<double> out(layers.size());
  for (size_t k = 0; k < layers.size(); ++k) out[k] = 1.0 - sum[k] / static_cast<double>(count);
  return out;
}

}  // namespace shedder

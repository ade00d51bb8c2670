// Chunked linear recurrence (see chunked_scan.h). Within every chunk of T steps the recurrence runs from a
// zero state, all chunks at once (T sequential steps); the states entering each chunk are then carried
// across chunks (L/T sequential steps) and added back, decayed by the chunk-local cumulative decay.
#include "kernels/chunked_scan.h"

#include <cmath>
#include <vector>

#include "util/error.h"

namespace shedder {

at::Tensor chunked_linear_recurrence(const at::Tensor& log_a, const at::Tensor& u, int64_t chunk) {
  if (u.dim() < 2 || log_a.dim() != u.dim())
    throw Error("chunked_linear_recurrence: log_a and u need the same rank >= 2");
  const int64_t B = u.size(0), L = u.size(1);
  if (L == 0) return u.clone();
  int64_t T = chunk > 0 ? chunk : static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(L))));
  T = std::max<int64_t>(1, std::min(T, L));
  const int64_t nc = (L + T - 1) / T, Lp = nc * T;

  at::Tensor uu = u, la = log_a;
  if (Lp != L) {
    // Padding at the end: u = 0 and log_a = 0 leave every state before it unchanged.
    std::vector<int64_t> us = u.sizes().vec(), ls = log_a.sizes().vec();
    us[1] = Lp - L;
    ls[1] = Lp - L;
    uu = at::cat({u, at::zeros(us, u.options())}, 1);
    la = at::cat({log_a, at::zeros(ls, log_a.options())}, 1);
  }
  auto chunked = [&](const at::Tensor& t) {
    std::vector<int64_t> s = t.sizes().vec();
    std::vector<int64_t> r = {t.size(0), nc, T};
    r.insert(r.end(), s.begin() + 2, s.end());
    return t.reshape(r);
  };
  at::Tensor u4 = chunked(uu), la4 = chunked(la);
  at::Tensor a4 = at::exp(la4);
  at::Tensor cum = at::cumsum(la4, 2);  // log of the decay from the chunk start through step t

  // 1. Local scans from a zero state, every chunk at once.
  std::vector<at::Tensor> hs;
  hs.reserve(static_cast<size_t>(T));
  at::Tensor h = u4.select(2, 0);
  hs.push_back(h);
  for (int64_t t = 1; t < T; ++t) {
    h = a4.select(2, t) * h + u4.select(2, t);
    hs.push_back(h);
  }
  at::Tensor hloc = at::stack(hs, 2);
  if (nc == 1) return hloc.reshape(u.sizes());

  // 2. States entering each chunk.
  at::Tensor chunk_decay = at::exp(cum.select(2, T - 1));  // [B, nc, ...]
  at::Tensor last = hloc.select(2, T - 1);                  // [B, nc, S...]
  std::vector<at::Tensor> starts;
  starts.reserve(static_cast<size_t>(nc));
  at::Tensor H = at::zeros_like(last.select(1, 0));
  starts.push_back(H);
  for (int64_t c = 1; c < nc; ++c) {
    H = chunk_decay.select(1, c - 1) * H + last.select(1, c - 1);
    starts.push_back(H);
  }
  at::Tensor Hs = at::stack(starts, 1).unsqueeze(2);  // [B, nc, 1, S...]

  // 3. Add each chunk's entering state, decayed to every step of the chunk.
  at::Tensor full = hloc + at::exp(cum) * Hs;
  std::vector<int64_t> out = u.sizes().vec();
  out[1] = Lp;
  full = full.reshape(out);
  (void)B;
  return Lp == L ? full : full.narrow(1, 0, L);
}

}  // namespace shedder

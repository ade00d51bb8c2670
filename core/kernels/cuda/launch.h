// The CUDA kernels' launch functions (conv.cu, selective_scan.cu, ssd_recurrent.cu / ssd_chunked.cu, rms_norm.cu,
// nll.cu, device.cu), on raw pointers so the .cu files need no torch headers.
// Element types: 0 float32, 1 float16, 2 bfloat16. Strides are in elements; the last dimension of every
// tensor is contiguous. Each returns false when it does not handle the shape (the caller falls back).
#pragma once

#include <cstdint>

namespace shedder::cuda {

enum ElemType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

struct ConvArgs {
  const void* x; int64_t sx_b, sx_t;        // [B, L, C]
  const void* prev; int64_t sp_b, sp_t;     // [B, K-1, C] or null
  const float* w;                           // [K, C]
  const float* bias;                        // [C] or null
  void* out;                                // [B, L, C] contiguous
  int64_t B, L, C, K;
  bool silu;
};
bool launch_causal_conv1d(const ConvArgs& a, ElemType t, void* stream);

struct Scan1Args {
  const void* u; int64_t su_b, su_t;        // [B, L, D]
  const void* dt; int64_t sdt_b, sdt_t;     // [B, L, D] raw (softplus inside)
  const float* A;                           // [N, D]
  const void* Bm; int64_t sB_b, sB_t;       // [B, L, N]
  const void* Cm; int64_t sC_b, sC_t;       // [B, L, N]
  const float* Dv;                          // [D]
  const void* z; int64_t sz_b, sz_t;        // [B, L, D] or null
  float* state;                             // [B, D, N] in/out or null
  void* y;                                  // [B, L, D] contiguous
  int64_t B, L, D, N;
  int64_t chunks;                           // time chunks scanned in parallel (1: one pass)
  float* ws;                                // workspace: B*chunks*D*(2N+1) floats when chunks > 1
  const float* dt_bias;                     // [D] added to dt before the softplus, or null
};
bool launch_selective_scan(const Scan1Args& a, ElemType t, void* stream);
// Threads per channel of the Mamba-1 scan for state size N (N / 4 where the states are spread over lanes).
int64_t scan1_lanes_per_channel(int64_t N);

struct Scan2Args {
  const void* x; int64_t sx_b, sx_t;        // [B, L, H*P]
  const void* dt; int64_t sdt_b, sdt_t;     // [B, L, H] raw
  const float* dt_bias; const float* A; const float* Dv;  // [H]
  const void* Bm; int64_t sB_b, sB_t;       // [B, L, G*N]
  const void* Cm; int64_t sC_b, sC_t;
  float* state;                             // [B, H, P, N] in/out or null
  void* y;                                  // [B, L, H*P] contiguous
  int64_t B, L, H, P, G, N;
  float dt_min, dt_max;
  bool allow_chunked;                       // float16/bfloat16: the chunked tensor-core form where it applies
  float* ws;                                // the chunked form's workspace (ssd_workspace_floats) or null
};
bool launch_ssd_scan(const Scan2Args& a, ElemType t, void* stream);
// Floats of workspace the chunked form needs for these arguments (0: it does not apply).
int64_t ssd_workspace_floats(const Scan2Args& a, ElemType t);

struct NormArgs {
  const void* x; ElemType xt; int64_t sx;   // [M, H] rows (row stride sx)
  const void* z; int64_t sz;                // gate rows (x's dtype) or null: the gated norm of Mamba-2
  const void* w; ElemType wt;               // [H]
  void* out; ElemType ot;                   // [M, H] contiguous
  ElemType nt;                              // dtype the normalised value is rounded to before w * it
  int64_t M, H, groups;
  float eps;
  bool round_input;                         // x rounded to w's dtype first (block norms)
  const void* delta; ElemType dlt; int64_t sd;  // residual branch added to x first (float32 sum), or null
  float* hout;                              // [M, H] float32: x + delta (with delta)
};
bool launch_rms_norm(const NormArgs& a, void* stream);

struct NllArgs {
  const void* logits; ElemType t;           // [M, V] rows (row stride row_stride)
  int64_t M, V, row_stride;
  const int64_t* targets;                   // [M] the gold token of each row; one outside [0, V) gives NaN
  double* out;                              // [M] logsumexp(row) - row[target], at least 0
};
bool launch_row_nll(const NllArgs& a, void* stream);

int64_t multiprocessor_count(int device);
void synchronize_device();  // the current device

}  // namespace shedder::cuda

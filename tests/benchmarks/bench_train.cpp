// Training-step benchmark (recovery tuning). For the demo-model shape (16 blocks, hidden 128, vocab 4096) of
// Mamba-1 and Mamba-2, times forward + backward of B windows x L tokens on the CPU with the fused scan kernels
// and with the chunked ATen scan (what non-CPU devices run), in the same run, and prints tokens/s, the speed-up
// of the fused path, and the ratio of training FLOP/s (6 x parameters x tokens / time) to plain fp32 matmul FLOP/s.
//
//   bench_train [--batch 8] [--seq-len 256] [--threads 0] [--layers 16] [--hidden 128] [--reps 3]
#include <ATen/ATen.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_util.h"
#include "kernels/mixer_ops.h"
#include "model/random_model.h"
#include "runtime/threads.h"
#include "train/trainable_model.h"
#include "util/file_util.h"

using namespace shedder;
using namespace shedder::bench;

namespace {

// Median seconds of a forward + backward step.
double time_step(TrainableModel& m, const at::Tensor& ids, int reps) {
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {  // the first is a warm-up
    for (auto& p : m.params())
      if (p.value.grad().defined()) p.value.grad().zero_();
    auto t0 = Clock::now();
    m.loss(ids).backward();
    if (r > 0) t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 8, seq = 256, layers = 16, hidden = 128;
  int threads = 0, reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (a == "--batch") batch = v;
    else if (a == "--seq-len") seq = v;
    else if (a == "--threads") threads = static_cast<int>(v);
    else if (a == "--layers") layers = v;
    else if (a == "--hidden") hidden = v;
    else if (a == "--reps") reps = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const int used = configure_threads(threads);
  const double mm = matmul_flops(batch * seq, hidden, 4 * hidden);
  std::printf("threads %d; plain fp32 matmul [%lld x %lld] x [%lld x %lld]: %.1f GFLOP/s\n", used,
              static_cast<long long>(batch * seq), static_cast<long long>(hidden), static_cast<long long>(hidden),
              static_cast<long long>(4 * hidden), mm / 1e9);
  const std::string dir = "/tmp/shedder-bench-train-" + std::to_string(::getpid());
  for (Arch arch : {Arch::Mamba1, Arch::Mamba2}) {
    nlohmann::json ov = {{"expand", 2}};
    if (arch == Arch::Mamba2) ov["head_dim"] = 32, ov["num_heads"] = 2 * hidden / 32;
    write_random_model(dir, small_model_config(arch, layers, hidden, arch == Arch::Mamba1 ? 16 : 32, 4096, ov), 0, true);
    TrainableModel m = TrainableModel::load(dir, {}, at::kCPU, 0);
    int64_t params = 0;
    for (const auto& p : m.params()) params += p.value.numel();
    at::Tensor ids = at::randint(0, 4096, {batch, seq}, at::kLong);
    ops::set_fused_training_scan(true);
    const double fused = time_step(m, ids, reps);
    ops::set_fused_training_scan(false);
    const double chunked = time_step(m, ids, reps);
    const double tokens = static_cast<double>(batch * seq);
    std::printf("%-7s %lld layers, %.2fM params, %lld x %lld tokens: fused %.3f s (%.0f tokens/s), chunked ATen %.3f s "
                "(%.0f tokens/s), fused speed-up %.2fx, fused train FLOP/s / matmul %.2f\n",
                arch_name(arch), static_cast<long long>(layers), params / 1e6, static_cast<long long>(batch),
                static_cast<long long>(seq), fused, tokens / fused, chunked, tokens / chunked, chunked / fused,
                6.0 * params * tokens / fused / mm);
  }
  remove_tree(dir);
  return 0;
}

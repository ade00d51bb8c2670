// Forward-pass benchmark (issue: foundation performance target). For a Mamba-1 of mamba-130m shape and a
// Mamba-2 of mamba2-130m shape (random weights), evaluates W windows x L tokens on the CPU and prints
// tokens/s and the ratio  model forward FLOP/s / plain matmul FLOP/s  measured in the same run, where
// forward FLOPs ~= 2 x parameters x tokens. Target: ratio >= 0.5 (the scan and glue cost less than the matmuls).
//
//   bench_forward [--windows 8] [--seq-len 512] [--threads 0] [--arch mamba|mamba2|both] [--layers 24] [--repeats 5]
//
// The repetitions alternate the baseline and the model (medians compared; the range of the per-repetition ratios
// is printed too), so that a machine whose speed drifts does not skew the ratio.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/perplexity.h"
#include "model/mamba_model.h"
#include "bench_util.h"
#include "model/random_model.h"
#include "runtime/threads.h"
#include "util/file_util.h"

namespace fs = std::filesystem;
using namespace shedder;
using namespace shedder::bench;

namespace {

struct Result {
  double tokens_per_s, model_flops, seconds, matmul_flops;
  double ratio_lo, ratio_hi;  // the smallest and largest ratio of one repetition
  int64_t params;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Repetitions alternate the matmul baseline and the model's evaluation, so both see the same machine (a shared or
// turbo-clocked CPU drifts by tens of percent between seconds); the medians are compared.
Result bench_model(Arch arch, int64_t layers, int64_t windows, int64_t seq_len, int repeats) {
  ModelConfig cfg = small_model_config(arch, layers, 768, arch == Arch::Mamba1 ? 16 : 128, 50280);
  const fs::path dir = fs::temp_directory_path() / (std::string("shedder-bench-") + arch_name(arch));
  write_random_model(dir.string(), cfg, 1, /*force=*/true);
  auto model = MambaModel::load(dir.string());
  at::manual_seed(0);
  at::Tensor ids = at::randint(0, cfg.padded_vocab, {windows, seq_len}, at::kLong);
  (void)evaluate_perplexity(*model, ids.narrow(0, 0, 1), 1);  // warm-up
  const double tokens = static_cast<double>(windows * seq_len);
  Result r;
  r.params = model->total_parameters();
  std::vector<double> secs, mms, ratios;
  for (int rep = 0; rep < repeats; ++rep) {
    mms.push_back(matmul_flops(seq_len, 768, 3072));
    auto t0 = Clock::now();
    (void)evaluate_perplexity(*model, ids, 1);
    secs.push_back(seconds_since(t0));
    ratios.push_back(2.0 * static_cast<double>(r.params) * tokens / secs.back() / mms.back());
  }
  remove_tree(dir.string());
  r.seconds = median(secs);
  r.matmul_flops = median(mms);
  r.tokens_per_s = tokens / r.seconds;
  r.model_flops = 2.0 * static_cast<double>(r.params) * tokens / r.seconds;
  r.ratio_lo = *std::min_element(ratios.begin(), ratios.end());
  r.ratio_hi = *std::max_element(ratios.begin(), ratios.end());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t windows = 8, seq_len = 512, layers = 24;
  int threads = 0, repeats = 5;
  std::string which = "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--windows") windows = std::atoll(v.c_str());
    else if (k == "--seq-len") seq_len = std::atoll(v.c_str());
    else if (k == "--threads") threads = std::atoi(v.c_str());
    else if (k == "--arch") which = v;
    else if (k == "--layers") layers = std::atoll(v.c_str());
    else if (k == "--repeats") repeats = std::max(1, std::atoi(v.c_str()));
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const int nthreads = configure_threads(threads);
  c10::NoGradGuard no_grad;
  std::printf("threads %d; baseline: plain fp32 matmul [%lld x 768] x [768 x 3072]; medians of %d repetitions, "
              "each the baseline then the model\n",
              nthreads, static_cast<long long>(seq_len), repeats);
  for (Arch a : {Arch::Mamba1, Arch::Mamba2}) {
    if (which != "both" && which != arch_name(a)) continue;
    const Result r = bench_model(a, layers, windows, seq_len, repeats);
    std::printf("%-7s %lld layers, %.1fM params, %lld windows x %lld tokens: %.2f s, %.0f tokens/s, "
                "model %.1f GFLOP/s, matmul %.1f GFLOP/s, ratio to matmul %.2f (repetitions %.2f-%.2f)\n",
                arch_name(a), static_cast<long long>(layers), r.params / 1e6, static_cast<long long>(windows),
                static_cast<long long>(seq_len), r.seconds, r.tokens_per_s, r.model_flops / 1e9, r.matmul_flops / 1e9,
                r.model_flops / r.matmul_flops, r.ratio_lo, r.ratio_hi);
    std::fflush(stdout);
  }
  return 0;
}

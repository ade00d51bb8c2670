// Shared-context batching benchmark: multiple-choice items scored with the context run once and its
// recurrent state continued by every choice in one batch, against every choice as a full sequence
// (right-padded batch), in the same run on the same model and items, interleaved, median of the repeats.
// Prints items/s of both and the speed-up, and checks both give the same log-likelihoods.
//
//   bench_accuracy [--hidden 768] [--layers 24] [--vocab 50280] [--items 16] [--context 96] [--choice 12]
//                  [--choices 4] [--repeats 3] [--threads 0]
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/mamba_model.h"
#include "bench_util.h"
#include "eval/accuracy.h"
#include "model/random_model.h"
#include "runtime/threads.h"

namespace fs = std::filesystem;
using namespace shedder;

int main(int argc, char** argv) {
  int64_t hidden = 768, layers = 24, vocab = 50280, items = 16, context = 96, choice = 12, choices = 4, repeats = 3;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (k == "--hidden") hidden = v;
    else if (k == "--layers") layers = v;
    else if (k == "--vocab") vocab = v;
    else if (k == "--items") items = v;
    else if (k == "--context") context = v;
    else if (k == "--choice") choice = v;
    else if (k == "--choices") choices = v;
    else if (k == "--repeats") repeats = v;
    else if (k == "--threads") threads = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const int nthreads = configure_threads(threads);
  std::printf("threads %d; %lld layers, hidden %lld, vocab %lld; %lld items: context %lld tokens, %lld choices of "
              "%lld tokens (median of %lld, interleaved)\n",
              nthreads, static_cast<long long>(layers), static_cast<long long>(hidden), static_cast<long long>(vocab),
              static_cast<long long>(items), static_cast<long long>(context), static_cast<long long>(choices),
              static_cast<long long>(choice), static_cast<long long>(repeats));
  int failures = 0;
  for (Arch a : {Arch::Mamba1, Arch::Mamba2}) {
    const ModelConfig cfg = small_model_config(a, layers, hidden, a == Arch::Mamba1 ? 16 : 64, vocab);
    const fs::path dir = fs::temp_directory_path() / (std::string("shedder-bench-accuracy-") + arch_name(a));
    write_random_model(dir.string(), cfg, 3, true);
    auto model = MambaModel::load(dir.string());
    std::mt19937_64 rng(1);
    std::vector<std::vector<EncodedPair>> work;
    for (int64_t i = 0; i < items; ++i) {
      std::vector<int32_t> ctx;
      for (int64_t t = 0; t < context; ++t) ctx.push_back(static_cast<int32_t>(rng() % vocab));
      std::vector<EncodedPair> pairs;
      for (int64_t c = 0; c < choices; ++c) {
        EncodedPair p;
        p.context = ctx;
        const int64_t len = choice / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(choice));  // ragged
        for (int64_t t = 0; t < len; ++t) p.continuation.push_back(static_cast<int32_t>(rng() % vocab));
        pairs.push_back(p);
      }
      work.push_back(pairs);
    }
    std::vector<double> t_shared, t_full;
    std::vector<std::vector<ChoiceScore>> shared_scores;
    double max_diff = 0;
    for (int64_t rep = 0; rep <= repeats; ++rep) {  // rep 0: warm-up
      for (bool share : {true, false}) {
        AccuracyOptions o;
        o.share_context = share;
        o.batch = choices;
        const auto t0 = bench::Clock::now();
        std::vector<std::vector<ChoiceScore>> got;
        for (const auto& pairs : work) got.push_back(score_pairs(*model, pairs, {}, o));
        const double s = bench::seconds_since(t0);
        if (rep > 0) (share ? t_shared : t_full).push_back(s);
        if (share) {
          shared_scores = got;
        } else {
          for (size_t i = 0; i < got.size(); ++i)
            for (size_t c = 0; c < got[i].size(); ++c)
              max_diff = std::max(max_diff, std::abs(got[i][c].loglik - shared_scores[i][c].loglik) /
                                                std::max(1.0, std::abs(shared_scores[i][c].loglik)));
        }
      }
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double s = median(t_shared), f = median(t_full);
    std::printf("%-7s %.1fM params: full sequences %.2f items/s (%.2f s), shared context %.2f items/s (%.2f s): "
                "speed-up %.2fx; max rel. log-likelihood difference %.1e\n",
                arch_name(a), model->total_parameters() / 1e6, items / f, f, items / s, s, f / s, max_diff);
    if (max_diff > 1e-4) {
      std::printf("  MISMATCH between shared and full-sequence scoring\n");
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

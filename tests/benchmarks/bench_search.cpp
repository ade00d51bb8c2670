// Search-speed benchmark, in the same run on the same model, windows and thread count, for a 24-block Mamba-1 and
// Mamba-2 (random weights) — or, with --model DIR, for that model folder of any architecture (e.g. the 24-layer Zamba2
// of tests/data/make_zamba2_references.py) and each of --granularities — best of three interleaved runs each:
// - the prefix cache: candidate evaluations per second of the exhaustive search with and without it (target >= 1.6x);
// - exact early abandonment (the default search) against --exhaustive, both cached: block passes (blocks_run) and
//   time, with the ratio of block passes (the target: <= 0.5).
// Checks that every run picks the same components and that every candidate the default search completed has the
// exhaustive search's perplexity bit for bit, and every one it stopped early a lower bound of it.
//
//   bench_search [--hidden 256] [--vocab 8192] [--layers 24] [--windows 4] [--seq-len 256] [--steps 2]
//                [--batch WINDOWS] [--threads 0] [--model DIR [--granularities block,ssm,...]]
// The abandonment check runs after every batch of windows: --batch 1 lets it stop a candidate after any window.
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "model/mamba_model.h"
#include "model/random_model.h"
#include "runtime/threads.h"
#include "util/file_util.h"
#include "shed/search.h"

namespace fs = std::filesystem;
using namespace shedder;

int main(int argc, char** argv) {
  int64_t hidden = 256, vocab = 8192, layers = 24, windows = 4, seq_len = 256, steps = 2, batch = 0;
  int threads = 0;
  std::string model_dir, granularities = "block";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (k == "--model") model_dir = argv[i + 1];
    else if (k == "--granularities") granularities = argv[i + 1];
    else if (k == "--hidden") hidden = v;
    else if (k == "--vocab") vocab = v;
    else if (k == "--layers") layers = v;
    else if (k == "--windows") windows = v;
    else if (k == "--seq-len") seq_len = v;
    else if (k == "--steps") steps = v;
    else if (k == "--batch") batch = v;
    else if (k == "--threads") threads = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (batch <= 0) batch = windows;  // one pass per candidate: the prefix-cache comparison's setting
  const int nthreads = configure_threads(threads);
  std::printf("threads %d; %lld layers, hidden %lld, vocab %lld; %lld windows x %lld tokens; %lld search steps\n",
              nthreads, static_cast<long long>(layers), static_cast<long long>(hidden), static_cast<long long>(vocab),
              static_cast<long long>(windows), static_cast<long long>(seq_len), static_cast<long long>(steps));
  int failures = 0;
  // Both runs, interleaved, best time of each: the machine's background load hits both alike.
  auto compare = [&](const Model& model, const at::Tensor& ids, Granularity g, const std::string& label) {
    SearchOptions o;
    o.granularity = g;
    o.steps = steps;
    o.batch = batch;
    SearchResult plain, cached, early;
    for (int rep = 0; rep < 3; ++rep) {
      o.exhaustive = true;
      o.prefix_cache = false;
      SearchResult p = run_search(model, ids, o);
      if (rep == 0 || p.seconds < plain.seconds) plain = p;
      o.prefix_cache = true;
      SearchResult c = run_search(model, ids, o);
      if (rep == 0 || c.seconds < cached.seconds) cached = c;
      o.exhaustive = false;
      SearchResult e = run_search(model, ids, o);
      if (rep == 0 || e.seconds < early.seconds) early = e;
    }
    bool same = plain.steps.size() == cached.steps.size() && early.steps.size() == cached.steps.size();
    bool exact = same;
    for (size_t i = 0; same && i < plain.steps.size(); ++i) {
      same = plain.steps[i].id == cached.steps[i].id && early.steps[i].id == cached.steps[i].id;
      for (size_t k = 0; exact && k < cached.steps[i].candidates.size(); ++k) {
        const CandidateScore& full = cached.steps[i].candidates[k];
        const CandidateScore& got = early.steps[i].candidates[k];
        exact = got.id == full.id && (got.lower_bound ? got.score <= full.score : got.score == full.score);
      }
    }
    const double e1 = plain.evaluations / plain.seconds, e2 = cached.evaluations / cached.seconds;
    std::printf("%-16s %.1fM params: without cache %.2f evals/s (%.1f s), with prefix cache %.2f evals/s (%.1f s): "
                "speed-up %.2fx; layer passes %lld -> %lld; same picks: %s\n",
                label.c_str(), model.total_parameters() / 1e6, e1, plain.seconds, e2, cached.seconds, e2 / e1,
                static_cast<long long>(plain.layers_run), static_cast<long long>(cached.layers_run), same ? "yes" : "NO");
    std::printf("%-16s exact early abandonment: %lld of %lld evaluations stopped early; block passes %lld -> %lld "
                "(ratio %.3f), %.1f s -> %.1f s (%.2fx); same picks: %s; scores exact / bounds: %s\n",
                label.c_str(), static_cast<long long>(early.abandoned), static_cast<long long>(early.evaluations),
                static_cast<long long>(cached.layers_run), static_cast<long long>(early.layers_run),
                static_cast<double>(early.layers_run) / static_cast<double>(cached.layers_run), cached.seconds,
                early.seconds, cached.seconds / early.seconds, same ? "yes" : "NO", exact ? "yes" : "NO");
    failures += same && exact ? 0 : 1;
  };
  if (!model_dir.empty()) {
    auto model = Model::load(model_dir);
    at::manual_seed(0);
    const at::Tensor ids = at::randint(0, std::min<int64_t>(model->vocab_size(), vocab), {windows, seq_len}, at::kLong);
    std::printf("%s: %s\n", model_dir.c_str(), model->description().c_str());
    size_t start = 0;
    while (start <= granularities.size()) {
      const size_t comma = granularities.find(',', start);
      const std::string name = granularities.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const auto g = parse_granularity(name);
      if (!g || !model->has_granularity(*g)) {
        std::fprintf(stderr, "--granularities: %s is not one of this model's\n", name.c_str());
        return 2;
      }
      compare(*model, ids, *g, std::string(model->arch()) + " " + name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return failures;
  }
  for (Arch a : {Arch::Mamba1, Arch::Mamba2}) {
    const ModelConfig cfg = small_model_config(a, layers, hidden, a == Arch::Mamba1 ? 16 : 64, vocab);
    const fs::path dir = fs::temp_directory_path() / (std::string("shedder-bench-search-") + arch_name(a));
    write_random_model(dir.string(), cfg, 3, true);
    auto model = MambaModel::load(dir.string());
    at::manual_seed(0);
    const at::Tensor ids = at::randint(0, vocab, {windows, seq_len}, at::kLong);
    compare(*model, ids, Granularity::Block, arch_name(a));
    remove_tree(dir.string());
  }
  return failures;
}

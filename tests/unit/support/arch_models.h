// One small checkpoint of every architecture the engine has, for the suites that run each architecture through the
// same checks (a QTest data column "arch"): the trained Mamba-1 and Mamba-2 of tests/data/trained_tiny, the Zamba2
// of tests/data/hybrid/zamba2-tiny (written by transformers: two shared blocks with LoRA adapters, RoPE) and a
// random Hymba written here (meta tokens, a sliding window, global layers, K/V reuse). Removal sets are made from
// what each model reports (Model::granularities, Model::candidates), never from its architecture's name.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/model.h"
#include "shed/search.h"

namespace shedder::test {

// "mamba1", "mamba2", "zamba2", "hymba".
const std::vector<std::string>& architectures();
// The checkpoint folder of `arch` (the Hymba one is written on first use).
std::string arch_model(const std::string& arch);
// Adds the column "arch" (QString) and one row per architecture (call from a test's _data function).
void add_arch_rows();

// Labelled removal sets for `m`: for every granularity it has, its first and last candidate; then one mixed set
// (a candidate of every granularity, as many as the model can take together).
std::vector<std::pair<std::string, RemovalSet>> removals_for(const Model& m);
// Random token ids [batch, length] below min(vocab_size, 250) (seeded by the caller's at::manual_seed).
at::Tensor random_ids(const Model& m, int64_t batch, int64_t length);

// A tiny Hymba config (4 layers, hidden 32, 4 heads / 2 KV, 3 meta tokens, sliding window 5, global layers 0 and 3,
// layers 1 and 2 sharing K/V) and a random checkpoint for a config of that shape, in transformers' layout.
nlohmann::json tiny_hymba_config();
std::string write_tiny_hymba(const std::string& tag, const nlohmann::json& cfg, uint64_t seed = 3);

// Small steps the per-architecture suites share: export `r` from `m` into the new folder `out`; a search of `steps`
// removals of granularity `g` by calibration perplexity on `windows`; whether `v` holds the component `id`.
void export_to(const Model& m, const RemovalSet& r, const std::string& out);
SearchResult search(const Model& m, const at::Tensor& windows, Granularity g, int64_t steps);
bool has(const std::vector<ComponentId>& v, const std::string& id);

}  // namespace shedder::test

// Runs the search a reference.json records (the hybrid references made with transformers or modeling_hymba.py:
// {"base_ppl", "searches": {granularity: {"steps": [{"removed", "candidates": {id: ppl}}]}}}) on our engine, scoring
// every candidate fully, and compares: the same picks in the same order, the same candidates, and the largest
// relative perplexity difference (base and every candidate).
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <string>

#include "model/model.h"

namespace shedder::test {

struct SearchComparison {
  std::string error;  // "" when the picks and candidate sets agree; else what differs first
  double worst = 0;   // the largest relative perplexity difference
  int64_t candidate_batch = 1;  // the most candidates the search evaluated together
};

// `candidate_batch`: SearchOptions::candidate_batch (> 1: candidates stacked, PrefixCache::ppl_stacked).
SearchComparison compare_search_with_reference(const Model& m, const at::Tensor& windows, const nlohmann::json& ref,
                                               const std::string& granularity, int64_t batch,
                                               int64_t candidate_batch = 1);

}  // namespace shedder::test

// Our search against a recorded reference search (see search_reference.h).
#include "support/search_reference.h"

#include <algorithm>
#include <cmath>

#include "shed/search.h"

namespace shedder::test {

SearchComparison compare_search_with_reference(const Model& m, const at::Tensor& windows, const nlohmann::json& ref,
                                               const std::string& granularity, int64_t batch,
                                               int64_t candidate_batch) {
  SearchComparison out;
  const nlohmann::json& r = ref.at("searches").at(granularity);
  SearchOptions o;
  o.granularity = *parse_granularity(granularity);
  o.steps = static_cast<int64_t>(r.at("steps").size());
  o.batch = batch;
  o.exhaustive = true;  // every candidate's perplexity is compared
  o.candidate_batch = candidate_batch;
  const SearchResult res = run_search(m, windows, o);
  out.candidate_batch = res.candidate_batch;
  const double base_ppl = ref.at("base_ppl").get<double>();
  out.worst = std::abs(res.base_ppl - base_ppl) / base_ppl;
  if (res.steps.size() != r["steps"].size()) {
    out.error = "took " + std::to_string(res.steps.size()) + " steps, the reference " + std::to_string(r["steps"].size());
    return out;
  }
  for (size_t s = 0; s < res.steps.size(); ++s) {
    const nlohmann::json& rs = r["steps"][s];
    const std::string label = granularity + " step " + std::to_string(s) + ": ";
    if (res.steps[s].id != rs.at("removed").get<std::string>()) {
      out.error = label + "removed " + res.steps[s].id + ", the reference " + rs["removed"].get<std::string>();
      return out;
    }
    const nlohmann::json& rc = rs.at("candidates");
    if (res.steps[s].candidates.size() != rc.size()) {
      out.error = label + std::to_string(res.steps[s].candidates.size()) + " candidates, the reference " +
                  std::to_string(rc.size());
      return out;
    }
    for (const CandidateScore& c : res.steps[s].candidates) {
      if (!rc.contains(c.id) || c.lower_bound) {
        out.error = label + c.id + (c.lower_bound ? " was not scored fully" : " is no candidate of the reference");
        return out;
      }
      const double want = rc[c.id].get<double>();
      out.worst = std::max(out.worst, std::abs(c.score - want) / want);
    }
  }
  return out;
}

}  // namespace shedder::test

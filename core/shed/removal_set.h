// What is removed from a model: whole blocks and/or SSMs, in removal order. Converts to the forward
// pass's ModelMask, to component ids ("layers.8", "layers.3.ssm"), and to/from the reference tool's
// pruning_config.json ({"pruned_mamba_block_idx": [...]} / {"pruned_ssm_idx": [...]}).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/mamba_model.h"
#include "util/file_util.h"

namespace shedder {

enum class Granularity { Block, Ssm };
const char* granularity_name(Granularity g);       // "block" / "ssm"
const char* reference_target_name(Granularity g);  // "mamba_block" / "ssm" (the reference's prune_target)
std::optional<Granularity> parse_granularity(const std::string& s);

struct RemovalSet {
  std::vector<int64_t> blocks;  // removal order
  std::vector<int64_t> ssms;

  bool empty() const { return blocks.empty() && ssms.empty(); }
  bool contains(Granularity g, int64_t layer) const;
  void add(Granularity g, int64_t layer);  // no-op when already present
  const std::vector<int64_t>& of(Granularity g) const { return g == Granularity::Block ? blocks : ssms; }

  // Throws shedder::Error (prefixed by `label`) when an index is outside [0, num_layers).
  void validate(int64_t num_layers, const std::string& label) const;
  // validate() plus: every removed SSM exists (an exported model may have layers without one).
  void check_against(const MambaModel& model, const std::string& label) const;
  ModelMask to_mask(int64_t num_layers) const;
  // Parameters that go away: whole blocks, plus the SSM parameters of layers whose block is kept.
  int64_t removed_parameters(const MambaModel& model) const;
  std::vector<std::string> ids() const;

  // Adds the components of a spec: "block:8,3", "ssm:1", "layers.8", "layers.8.ssm" (comma-separated).
  void add_spec(const std::string& spec);
  nlohmann::json to_reference_json() const;
  void add_reference_json(const nlohmann::json& j, const std::string& label);
  static RemovalSet from_reference_file(const std::string& path);
};

}  // namespace shedder

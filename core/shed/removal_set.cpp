// Removal sets and the reference tool's pruning_config.json format (see removal_set.h).
#include "shed/removal_set.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

const char* granularity_name(Granularity g) { return g == Granularity::Block ? "block" : "ssm"; }
const char* reference_target_name(Granularity g) { return g == Granularity::Block ? "mamba_block" : "ssm"; }

std::optional<Granularity> parse_granularity(const std::string& s) {
  if (s == "block" || s == "mamba_block") return Granularity::Block;
  if (s == "ssm") return Granularity::Ssm;
  return std::nullopt;
}

bool RemovalSet::contains(Granularity g, int64_t layer) const {
  const auto& v = of(g);
  return std::find(v.begin(), v.end(), layer) != v.end();
}

void RemovalSet::add(Granularity g, int64_t layer) {
  if (contains(g, layer)) return;
  (g == Granularity::Block ? blocks : ssms).push_back(layer);
}

void RemovalSet::validate(int64_t num_layers, const std::string& label) const {
  for (Granularity g : {Granularity::Block, Granularity::Ssm})
    for (int64_t i : of(g))
      if (i < 0 || i >= num_layers)
        throw Error(label + ": " + granularity_name(g) + " index " + std::to_string(i) +
                    " is outside the model's layers (0.." + std::to_string(num_layers - 1) + ")");
}

void RemovalSet::check_against(const MambaModel& model, const std::string& label) const {
  validate(model.num_layers(), label);
  for (int64_t s : ssms)
    if (!model.layers()[static_cast<size_t>(s)].has_ssm)
      throw Error(label + ": layer " + std::to_string(s) + " has no SSM to remove");
}

ModelMask RemovalSet::to_mask(int64_t num_layers) const {
  validate(num_layers, "removal set");
  ModelMask m(static_cast<size_t>(num_layers));
  for (int64_t i : blocks) m[static_cast<size_t>(i)].skip_block = true;
  for (int64_t i : ssms) m[static_cast<size_t>(i)].skip_ssm = true;
  return m;
}

int64_t RemovalSet::removed_parameters(const MambaModel& model) const {
  int64_t n = 0;
  for (int64_t i : blocks) n += model.params().block.at(static_cast<size_t>(i));
  for (int64_t i : ssms)
    if (!contains(Granularity::Block, i)) n += model.params().ssm.at(static_cast<size_t>(i));
  return n;
}

std::vector<std::string> RemovalSet::ids() const {
  std::vector<std::string> out;
  for (int64_t i : blocks) out.push_back("layers." + std::to_string(i));
  for (int64_t i : ssms) out.push_back("layers." + std::to_string(i) + ".ssm");
  return out;
}

namespace {

int64_t parse_index(const std::string& s, const std::string& spec) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    throw Error("removal spec '" + spec + "': '" + s + "' is not a layer index");
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    throw Error("removal spec '" + spec + "': '" + s + "' is not a layer index");
  }
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream is(s);
  while (std::getline(is, cur, sep)) out.push_back(cur);
  return out;
}

}  // namespace

void RemovalSet::add_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    const auto g = parse_granularity(spec.substr(0, colon));
    if (!g) throw Error("removal spec '" + spec + "': expected block:I,J,... or ssm:I,J,...");
    for (const auto& part : split(spec.substr(colon + 1), ',')) add(*g, parse_index(part, spec));
    return;
  }
  for (const auto& part : split(spec, ',')) {
    if (part.rfind("layers.", 0) != 0) throw Error("removal spec '" + spec + "': expected layers.N or layers.N.ssm");
    std::string rest = part.substr(7);
    Granularity g = Granularity::Block;
    if (rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".ssm") == 0) {
      g = Granularity::Ssm;
      rest = rest.substr(0, rest.size() - 4);
    }
    add(g, parse_index(rest, spec));
  }
}

nlohmann::json RemovalSet::to_reference_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (!blocks.empty() || ssms.empty()) j["pruned_mamba_block_idx"] = blocks;
  if (!ssms.empty()) j["pruned_ssm_idx"] = ssms;
  return j;
}

void RemovalSet::add_reference_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) throw Error(label + ": expected a JSON object with pruned_mamba_block_idx / pruned_ssm_idx");
  bool any = false;
  for (Granularity g : {Granularity::Block, Granularity::Ssm}) {
    const std::string key = std::string("pruned_") + reference_target_name(g) + "_idx";
    if (!j.contains(key)) continue;
    any = true;
    if (!j[key].is_array()) throw Error(label + ": " + key + " must be a list of layer indices");
    for (const auto& v : j[key]) {
      if (!v.is_number_integer()) throw Error(label + ": " + key + " holds a non-integer entry " + v.dump());
      add(g, v.get<int64_t>());
    }
  }
  if (!any) throw Error(label + ": no pruned_mamba_block_idx or pruned_ssm_idx list");
}

RemovalSet RemovalSet::from_reference_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open pruning config");
  std::ostringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) throw Error(path + ": malformed JSON");
  RemovalSet r;
  r.add_reference_json(j, path);
  return r;
}

}  // namespace shedder

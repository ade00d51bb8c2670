// Granularities, component ids and removal sets (see removal.h).
#include "model/removal.h"

#include <algorithm>

#include "util/error.h"
#include "util/file_util.h"
#include "util/json_util.h"

namespace shedder {

namespace {

struct GranularityName {
  Granularity g;
  const char* name;
};
constexpr GranularityName kNames[] = {
    {Granularity::Block, "block"},          {Granularity::Ssm, "ssm"},
    {Granularity::SharedBlock, "shared"},   {Granularity::Attention, "attn"},
    {Granularity::Mlp, "mlp"},              {Granularity::AttentionHeads, "head"},
    {Granularity::MlpChannels, "channel"},  {Granularity::SsmHeads, "ssm-head"},
    {Granularity::MixerChannels, "mixer-channel"}, {Granularity::SsmState, "state"},
};

const char* kIdGrammar =
    "layers.N, layers.N.ssm, layers.N.shared, layers.N.attn, layers.N.mlp, layers.N.attn.heads.G, "
    "layers.N.mlp.channels.C, layers.N.ssm.heads.S, layers.N.mixer.channels.C, layers.N.ssm.state.J, "
    "shared.K.attn.heads.G or shared.K.mlp.channels.C";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep) {
      out.emplace_back();
    } else {
      out.back() += ch;
    }
  }
  return out;
}

// A non-negative decimal index of at most 9 digits; -1 when `s` is not one.
int64_t index_of(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(s);
}

}  // namespace

const char* granularity_name(Granularity g) {
  for (const auto& n : kNames)
    if (n.g == g) return n.name;
  return "?";
}

std::optional<Granularity> parse_granularity(const std::string& s) {
  if (s == "mamba_block" || s == "blocks") return Granularity::Block;
  for (const auto& n : kNames)
    if (s == n.name) return n.g;
  return std::nullopt;
}

const std::vector<Granularity>& all_granularities() {
  static const std::vector<Granularity> all = [] {
    std::vector<Granularity> v;
    for (const auto& n : kNames) v.push_back(n.g);
    return v;
  }();
  return all;
}

std::string granularity_names(const std::vector<Granularity>& gs, const char* sep) {
  std::string out;
  for (Granularity g : gs) out += (out.empty() ? "" : sep) + std::string(granularity_name(g));
  return out;
}

ComponentId ComponentId::layer_of(Granularity kind, int64_t layer, int64_t index) {
  ComponentId c;
  c.kind = kind;
  c.layer = layer;
  c.index = index;
  return c;
}

ComponentId ComponentId::shared_of(Granularity kind, int64_t block, int64_t index) {
  ComponentId c;
  c.kind = kind;
  c.shared = block;
  c.index = index;
  return c;
}

ComponentId ComponentId::parse(const std::string& text) {
  const std::vector<std::string> p = split(text, '.');
  auto bad = [&]() { return Error("'" + text + "' is not a component id (" + kIdGrammar + ")"); };
  if (p.size() < 2) throw bad();
  const int64_t n = index_of(p[1]);
  if (n < 0) throw bad();
  if (p[0] == "shared") {
    if (p.size() != 5) throw bad();
    const int64_t k = index_of(p[4]);
    if (k < 0) throw bad();
    if (p[2] == "attn" && p[3] == "heads") return shared_of(Granularity::AttentionHeads, n, k);
    if (p[2] == "mlp" && p[3] == "channels") return shared_of(Granularity::MlpChannels, n, k);
    throw bad();
  }
  if (p[0] != "layers") throw bad();
  if (p.size() == 2) return layer_of(Granularity::Block, n);
  if (p.size() == 3) {
    if (p[2] == "ssm") return layer_of(Granularity::Ssm, n);
    if (p[2] == "shared") return layer_of(Granularity::SharedBlock, n);
    if (p[2] == "attn") return layer_of(Granularity::Attention, n);
    if (p[2] == "mlp") return layer_of(Granularity::Mlp, n);
    throw bad();
  }
  if (p.size() == 5) {
    const int64_t k = index_of(p[4]);
    if (k < 0) throw bad();
    if (p[2] == "attn" && p[3] == "heads") return layer_of(Granularity::AttentionHeads, n, k);
    if (p[2] == "mlp" && p[3] == "channels") return layer_of(Granularity::MlpChannels, n, k);
    if (p[2] == "ssm" && p[3] == "heads") return layer_of(Granularity::SsmHeads, n, k);
    if (p[2] == "mixer" && p[3] == "channels") return layer_of(Granularity::MixerChannels, n, k);
    if (p[2] == "ssm" && p[3] == "state") return layer_of(Granularity::SsmState, n, k);
  }
  throw bad();
}

std::string ComponentId::str() const {
  const std::string where = shared >= 0 ? "shared." + std::to_string(shared) : "layers." + std::to_string(layer);
  const std::string i = std::to_string(index);
  switch (kind) {
    case Granularity::Block: return where;
    case Granularity::Ssm: return where + ".ssm";
    case Granularity::SharedBlock: return where + ".shared";
    case Granularity::Attention: return where + ".attn";
    case Granularity::Mlp: return where + ".mlp";
    case Granularity::AttentionHeads: return where + ".attn.heads." + i;
    case Granularity::MlpChannels: return where + ".mlp.channels." + i;
    case Granularity::SsmHeads: return where + ".ssm.heads." + i;
    case Granularity::MixerChannels: return where + ".mixer.channels." + i;
    case Granularity::SsmState: return where + ".ssm.state." + i;
  }
  return where;
}

bool RemovalSet::contains(const ComponentId& c) const {
  return std::find(items.begin(), items.end(), c) != items.end();
}

void RemovalSet::add(const ComponentId& c) {
  if (!contains(c)) items.push_back(c);
}

std::vector<int64_t> RemovalSet::layers_of(Granularity g) const {
  std::vector<int64_t> out;
  for (const auto& c : items)
    if (c.kind == g && c.shared < 0) out.push_back(c.layer);
  return out;
}

std::vector<std::string> RemovalSet::ids() const {
  std::vector<std::string> out;
  for (const auto& c : items) out.push_back(c.str());
  return out;
}

bool RemovalSet::blocks_and_ssms_only() const {
  for (const auto& c : items)
    if (c.kind != Granularity::Block && c.kind != Granularity::Ssm) return false;
  return true;
}

void RemovalSet::add_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    const auto g = parse_granularity(spec.substr(0, colon));
    if (!g || (*g != Granularity::Block && *g != Granularity::Ssm))
      throw Error("removal spec '" + spec + "': expected block:I,J,... or ssm:I,J,... (or component ids)");
    for (const auto& part : split(spec.substr(colon + 1), ',')) {
      const int64_t l = index_of(part);
      if (l < 0) throw Error("removal spec '" + spec + "': '" + part + "' is not a layer index");
      add(*g, l);
    }
    return;
  }
  for (const auto& part : split(spec, ',')) {
    try {
      add(ComponentId::parse(part));
    } catch (const Error& e) {
      throw Error("removal spec '" + spec + "': " + e.what());
    }
  }
}

nlohmann::json RemovalSet::to_json(const nlohmann::json& extra) const {
  nlohmann::json j = nlohmann::json::object();
  if (blocks_and_ssms_only()) {
    const std::vector<int64_t> blocks = layers_of(Granularity::Block), ssms = layers_of(Granularity::Ssm);
    if (!blocks.empty() || ssms.empty()) j["pruned_mamba_block_idx"] = blocks;
    if (!ssms.empty()) j["pruned_ssm_idx"] = ssms;
  } else {
    j["removed"] = ids();
  }
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

void RemovalSet::add_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object())
    throw Error(label + ": expected a JSON object with \"removed\" or pruned_mamba_block_idx / pruned_ssm_idx");
  bool any = false;
  const JsonFields f(j, label);
  for (Granularity g : {Granularity::Block, Granularity::Ssm}) {
    const char* key = g == Granularity::Block ? "pruned_mamba_block_idx" : "pruned_ssm_idx";
    if (!f.has(key)) continue;
    any = true;
    for (int64_t l : f.integers(key, 0, int64_t{1} << 20)) add(g, l);
  }
  if (f.has("removed")) {
    any = true;
    const nlohmann::json& r = j["removed"];
    if (!r.is_array()) throw Error(label + ": \"removed\" must be a list of component ids");
    for (const auto& id : r) {
      if (!id.is_string()) throw Error(label + ": \"removed\" must be a list of component ids (got " + id.dump() + ")");
      try {
        add(ComponentId::parse(id.get<std::string>()));
      } catch (const Error& e) {
        throw Error(label + ": " + e.what());
      }
    }
  }
  if (!any) throw Error(label + ": no \"removed\", pruned_mamba_block_idx or pruned_ssm_idx list");
}

RemovalSet RemovalSet::from_file(const std::string& path) {
  RemovalSet r;
  r.add_json(read_json_file_lenient(path), path);
  return r;
}

}  // namespace shedder

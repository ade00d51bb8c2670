// Small checkpoints of every architecture and removal sets made from what each model reports (see arch_models.h).
#include "support/arch_models.h"

#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "export/exporter.h"
#include "io/safetensors.h"
#include "shed/search.h"
#include "support/test_support.h"
#include "util/error.h"

namespace shedder::test {

const std::vector<std::string>& architectures() {
  static const std::vector<std::string> a = {"mamba1", "mamba2", "zamba2", "hymba"};
  return a;
}

std::string arch_model(const std::string& arch) {
  static std::map<std::string, std::string> written;
  if (arch == "mamba1" || arch == "mamba2") return test_data_dir() + "/trained_tiny/" + arch;
  if (arch == "zamba2") return test_data_dir() + "/hybrid/zamba2-tiny";
  if (arch == "hymba") {
    auto it = written.find(arch);
    if (it == written.end()) it = written.emplace(arch, write_tiny_hymba("arch-hymba", tiny_hymba_config())).first;
    return it->second;
  }
  throw std::logic_error("arch_model: unknown architecture " + arch);
}

void add_arch_rows() {
  QTest::addColumn<QString>("arch");
  for (const std::string& a : architectures()) QTest::newRow(a.c_str()) << QString::fromStdString(a);
}

std::vector<std::pair<std::string, RemovalSet>> removals_for(const Model& m) {
  std::vector<std::pair<std::string, RemovalSet>> out;
  RemovalSet mixed;
  for (Granularity g : m.granularities()) {
    const std::vector<ComponentId> c = m.candidates(g, {});
    if (c.empty()) continue;
    RemovalSet r;
    r.add(c.front());
    if (c.size() > 1) {
      RemovalSet two = r;
      two.add(c.back());
      try {
        m.plan(two);
        r = two;
      } catch (const Error&) {  // the two together leave nothing to compute with: the first alone
      }
    }
    out.emplace_back(granularity_name(g), r);
    // The mixed set takes the first candidate of g that the model still accepts on top of it.
    for (const ComponentId& id : m.candidates(g, mixed)) {
      RemovalSet t = mixed;
      t.add(id);
      try {
        m.plan(t);
        mixed = t;
        break;
      } catch (const Error&) {
      }
    }
  }
  out.emplace_back("mixed", mixed);
  return out;
}

at::Tensor random_ids(const Model& m, int64_t batch, int64_t length) {
  return at::randint(1, std::min<int64_t>(m.vocab_size(), 250), {batch, length}, at::kLong);
}

nlohmann::json tiny_hymba_config() {
  return {{"model_type", "hymba"}, {"architectures", {"HymbaForCausalLM"}}, {"vocab_size", 64}, {"hidden_size", 32},
          {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"mamba_expand", 2},
          {"mamba_d_state", 4}, {"mamba_d_conv", 4}, {"mamba_dt_rank", 4}, {"mamba_conv_bias", true},
          {"mamba_proj_bias", false}, {"mamba_inner_layernorms", true}, {"intermediate_size", 48},
          {"mlp_hidden_act", "silu"}, {"hidden_act", "silu"}, {"rms_norm_eps", 1e-6}, {"num_memory_tokens", 3},
          {"memory_tokens_interspersed_every", 0}, {"sliding_window", 5}, {"global_attn_idx", {0, 3}},
          {"kv_reuse_group", {{1, 2}}}, {"kq_norm", "none"}, {"rope", true}, {"rope_theta", 10000.0},
          {"rope_type", "default"}, {"max_position_embeddings", 128}, {"tie_word_embeddings", true}, {"num_experts", 1}};
}

std::string write_tiny_hymba(const std::string& tag, const nlohmann::json& cfg, uint64_t seed) {
  at::manual_seed(static_cast<int64_t>(seed));
  const int64_t H = 32, D = 64, N = 4, R = 4, K = 4, I = 48, V = 64, L = cfg["num_hidden_layers"].get<int64_t>();
  const int64_t heads = 4, kv = 2, qhd = 8, vhd = 16;
  // Producers store the K/V rows in in_proj; the layers reusing them only q, x and z.
  std::vector<int64_t> consumer(static_cast<size_t>(L), 0);
  for (const auto& g : cfg["kv_reuse_group"])
    for (size_t k = 1; k < g.size(); ++k) consumer[g[k].get<size_t>()] = 1;
  auto rnd = [](std::vector<int64_t> shape, double scale) { return at::randn(shape) * scale; };
  auto norm = [](int64_t n) { return 1.0 + 0.2 * at::randn({n}); };
  std::vector<std::pair<std::string, at::Tensor>> t{{"model.embed_tokens.weight", rnd({V, H}, 1.0)},
                                                    {"model.final_layernorm.weight", norm(H)},
                                                    {"model.memory_tokens", rnd({3, H}, 1.0)}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const int64_t rows = heads * qhd + (consumer[static_cast<size_t>(l)] ? 0 : kv * (qhd + vhd)) + 2 * D;
    t.emplace_back(p + "input_layernorm.weight", norm(H));
    t.emplace_back(p + "mamba.in_proj.weight", rnd({rows, H}, 1 / std::sqrt(32.0)));
    t.emplace_back(p + "mamba.conv1d.weight", rnd({D, 1, K}, 0.5));
    t.emplace_back(p + "mamba.conv1d.bias", rnd({D}, 0.1));
    t.emplace_back(p + "mamba.x_proj.0.weight", rnd({R + 2 * N, D}, 1 / 8.0));
    t.emplace_back(p + "mamba.dt_proj.0.weight", rnd({D, R}, 0.5));
    t.emplace_back(p + "mamba.dt_proj.0.bias", rnd({D}, 0.5) - 1.0);
    t.emplace_back(p + "mamba.A_log.0", at::log(at::rand({D, N}) * 3 + 0.5));
    t.emplace_back(p + "mamba.D.0", rnd({D}, 1.0));
    t.emplace_back(p + "mamba.dt_layernorm.weight", norm(R));
    t.emplace_back(p + "mamba.B_layernorm.weight", norm(N));
    t.emplace_back(p + "mamba.C_layernorm.weight", norm(N));
    t.emplace_back(p + "mamba.pre_avg_layernorm1.weight", norm(D));
    t.emplace_back(p + "mamba.pre_avg_layernorm2.weight", norm(D));
    t.emplace_back(p + "mamba.out_proj.weight", rnd({H, D}, 1 / 8.0));
    t.emplace_back(p + "pre_moe_layernorm.weight", norm(H));
    t.emplace_back(p + "moe.experts.0.gate_proj.weight", rnd({I, H}, 1 / std::sqrt(32.0)));
    t.emplace_back(p + "moe.experts.0.up_proj.weight", rnd({I, H}, 1 / std::sqrt(32.0)));
    t.emplace_back(p + "moe.experts.0.down_proj.weight", rnd({H, I}, 1 / std::sqrt(48.0)));
  }
  (void)vhd;
  const std::string dir = make_temp_dir(tag);
  write_safetensors(dir + "/model.safetensors", t);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  return dir;
}

void export_to(const Model& m, const RemovalSet& r, const std::string& out) {
  ExportOptions o;
  o.out_dir = out;
  export_pruned(m, r, o);
}

SearchResult search(const Model& m, const at::Tensor& windows, Granularity g, int64_t steps) {
  SearchOptions o;
  o.granularity = g;
  o.steps = steps;
  return run_search(m, windows, o);
}

bool has(const std::vector<ComponentId>& v, const std::string& id) {
  return std::find(v.begin(), v.end(), ComponentId::parse(id)) != v.end();
}

}  // namespace shedder::test

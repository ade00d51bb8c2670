// libFuzzer target for the config.json parsers of every architecture (Mamba-1/2 in both layouts, Zamba2, Hymba):
// any bytes either give a shedder::Error (one line naming the file) or a configuration whose sizes obey the
// invariants the loaders build tensors from — never another exception, a crash, UB or a huge allocation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/hymba_config.h"
#include "model/model_config.h"
#include "model/zamba2_config.h"
#include "util/error.h"
#include "util/json_util.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void mamba(const nlohmann::json& j) {
  const shedder::ModelConfig c = shedder::ModelConfig::from_json(j, "config.json");
  check(c.vocab_size >= 1 && c.padded_vocab >= c.vocab_size && c.hidden_size >= 1 && c.num_layers >= 1);
  check(c.state_size >= 1 && c.intermediate_size >= 1 && c.conv_kernel >= 1);
  if (c.arch == shedder::Arch::Mamba2) {
    check(c.num_heads >= 1 && c.n_groups >= 1 && c.num_heads % c.n_groups == 0);
    check(c.num_heads * c.head_dim == c.intermediate_size && c.in_proj_rows() > 0);
  } else {
    check(c.time_step_rank >= 1);
  }
  for (int64_t l : c.layers_without_ssm) check(l >= 0 && l < c.num_layers);
}

void zamba2(const nlohmann::json& j) {
  const shedder::Zamba2Config c = shedder::Zamba2Config::from_json(j, "config.json");
  check(c.num_heads >= 1 && c.num_kv_heads >= 1 && c.num_heads % c.num_kv_heads == 0);
  check(c.mamba_heads >= 1 && c.mamba_inner % c.mamba_heads == 0 && c.n_groups >= 1);
  check(static_cast<int64_t>(c.hybrid.size()) == c.num_layers && c.use_block.size() == c.hybrid_layer_ids.size());
  for (int64_t b : c.use_block) check(b >= 0 && b < c.num_mem_blocks);
}

void hymba(const nlohmann::json& j) {
  const shedder::HymbaConfig c = shedder::HymbaConfig::from_json(j, "config.json");
  check(c.num_heads >= 1 && c.num_kv_heads >= 1 && c.num_heads % c.num_kv_heads == 0 && c.inner % c.num_heads == 0);
  check(static_cast<int64_t>(c.kv_producer.size()) == c.num_layers);
  for (size_t l = 0; l < c.kv_producer.size(); ++l) check(c.kv_producer[l] >= 0 && c.kv_producer[l] <= static_cast<int64_t>(l));
  for (const auto& g : c.kept_groups)
    for (int64_t x : g) check(x >= 0 && x < c.num_kv_heads);
}

template <class F>
void run(F&& f, const nlohmann::json& j) {
  try {
    f(j);
  } catch (const shedder::Error&) {
    // A clear refusal is a correct outcome.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = shedder::parse_json_lenient(std::string(reinterpret_cast<const char*>(data), size), "config.json");
  } catch (const shedder::Error&) {
    return 0;
  }
  run(mamba, j);
  run(zamba2, j);
  run(hymba, j);
  return 0;
}

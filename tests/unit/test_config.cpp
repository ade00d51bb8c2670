// Hostile config.json files for every architecture: each is refused with one line that names the file and the
// field, before anything is allocated from it — overflowing sizes, floats or NaN where integers are expected,
// inconsistent head counts, malformed token ids — and the weights must match the config exactly (no extra
// in_proj rows). The CLI reports such a config as a user error (exit 1), never an internal one.
#include <ATen/ATen.h>

#include <QtTest/QtTest>

#include <filesystem>
#include <functional>
#include <string>

#include "io/safetensors.h"
#include "model/hymba_config.h"
#include "model/mamba_model.h"
#include "model/model_config.h"
#include "model/zamba2_config.h"
#include "support/cli_runner.h"
#include "support/expect_error.h"
#include "support/test_support.h"
#include "util/json_util.h"

namespace fs = std::filesystem;
using namespace shedder;
using test::expect_error;

namespace {

nlohmann::json read_config(const std::string& dir) {
  return nlohmann::json::parse(test::read_file(dir + "/config.json"), nullptr, true, true);
}
std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }

// `base` edited by `edit`, parsed as ModelConfig; the error must name config.json and every phrase.
void refuse_mamba(const nlohmann::json& base, const std::function<void(nlohmann::json&)>& edit,
                  const std::vector<std::string>& phrases) {
  nlohmann::json j = base;
  edit(j);
  std::vector<std::string> all = {"config.json"};
  all.insert(all.end(), phrases.begin(), phrases.end());
  expect_error([&] { ModelConfig::from_json(j, "/m/config.json"); }, all);
}

nlohmann::json hymba_config() {
  return nlohmann::json::parse(R"({"model_type": "hymba", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 4,
    "num_attention_heads": 4, "num_key_value_heads": 2, "mamba_expand": 2, "mamba_d_state": 4, "mamba_d_conv": 4,
    "mamba_dt_rank": 4, "intermediate_size": 48, "num_memory_tokens": 3, "sliding_window": 5,
    "global_attn_idx": [0, 3], "kv_reuse_group": [[1, 2]]})");
}

}  // namespace

class TestConfig : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void mamba_sizes_are_range_checked() {
    const nlohmann::json m1 = read_config(trained("mamba1")), m2 = read_config(trained("mamba2"));
    ModelConfig::from_json(m1, "config.json");  // the unedited configs are fine
    ModelConfig::from_json(m2, "config.json");
    refuse_mamba(m1, [](auto& j) { j["vocab_size"] = 9223372036854775807LL; }, {"vocab_size", "between"});
    refuse_mamba(m1, [](auto& j) { j["vocab_size"] = 18446744073709551615ULL; }, {"vocab_size", "too large"});
    refuse_mamba(m1, [](auto& j) { j["num_hidden_layers"] = 2.5; }, {"num_hidden_layers", "integer"});
    refuse_mamba(m1, [](auto& j) { j["num_hidden_layers"] = "8"; }, {"num_hidden_layers", "integer"});
    refuse_mamba(m1, [](auto& j) { j["hidden_size"] = -4; }, {"hidden_size", "between"});
    refuse_mamba(m1, [](auto& j) { j["expand"] = nlohmann::json{{"__float__", "NaN"}}; }, {"expand", "NaN"});
    refuse_mamba(m1, [](auto& j) { j["expand"] = 1e300; }, {"expand", "between"});
    refuse_mamba(m1, [](auto& j) { j["state_size"] = 1e12; }, {"state_size", "between"});
    refuse_mamba(m1, [](auto& j) { j["pad_vocab_size_multiple"] = 0; }, {"pad_vocab_size_multiple"});
    refuse_mamba(m1, [](auto& j) { j["layer_norm_epsilon"] = nlohmann::json{{"__float__", "Infinity"}}; },
                 {"layer_norm_epsilon"});
    refuse_mamba(m1, [](auto& j) { j["use_bias"] = 1; }, {"use_bias", "true or false"});
    // num_heads * head_dim must be the inner width, and num_heads * head_dim must not overflow.
    refuse_mamba(m2, [](auto& j) { j["num_heads"] = 7; }, {"num_heads * head_dim"});
    refuse_mamba(m2, [](auto& j) {
      j["num_heads"] = 4611686018427387904LL;
      j["head_dim"] = 4;
    }, {"num_heads", "between"});
    refuse_mamba(m2, [](auto& j) { j["n_groups"] = 3; }, {"multiple of n_groups"});
    refuse_mamba(m2, [](auto& j) { j["time_step_limit"] = {1.0, 0.5}; }, {"time_step_limit"});
  }

  // eos_token_id may be an integer or a list; anything else is a one-line error naming the file.
  void malformed_token_ids() {
    const nlohmann::json m1 = read_config(trained("mamba1"));
    nlohmann::json list = m1;
    list["eos_token_id"] = {5, 7};
    QCOMPARE(ModelConfig::from_json(list, "config.json").eos_token_id, int64_t(5));
    refuse_mamba(m1, [](auto& j) { j["eos_token_id"] = {"a"}; }, {"eos_token_id"});
    refuse_mamba(m1, [](auto& j) { j["eos_token_id"] = {{{"x", 1}}}; }, {"eos_token_id"});
    refuse_mamba(m1, [](auto& j) { j["eos_token_id"] = -3; }, {"eos_token_id"});
    refuse_mamba(m1, [](auto& j) { j["bos_token_id"] = 1e20; }, {"bos_token_id"});
    // Through the CLI: a user error (exit 1) with one line naming the file, not an internal error (exit 3).
    if (test::cli_path().empty()) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string dir = test::make_temp_dir("cfg-eos") + "/m";
    fs::create_directories(dir);
    for (const char* f : {"model.safetensors", "tokenizer.json"}) fs::copy_file(trained("mamba1") + "/" + f, dir + "/" + f);
    nlohmann::json bad = m1;
    bad["eos_token_id"] = {"a"};
    test::write_file(dir + "/config.json", bad.dump());
    const test::CliResult r = test::run({"info", test::q(dir)});
    const std::string why = test::check_failure(r, {dir + "/config.json", "eos_token_id"}, 1);
    QVERIFY2(why.empty(), why.c_str());
  }

  // mamba_ssm layout: d_inner must split into whole heads of headdim.
  void mamba_ssm_layout_heads_are_consistent() {
    nlohmann::json j = read_config(test::test_data_dir() + "/mamba_ssm/mamba1-tiny");
    j["ssm_cfg"]["layer"] = "Mamba2";
    j["ssm_cfg"]["headdim"] = 24;  // d_inner 128 is not a multiple of 24
    expect_error([&] { ModelConfig::from_json(j, "config.json"); }, {"config.json", "headdim"});
    j["ssm_cfg"]["headdim"] = 32;
    j["ssm_cfg"]["ngroups"] = 3;  // 4 heads in 3 groups
    expect_error([&] { ModelConfig::from_json(j, "config.json"); }, {"config.json", "n_groups"});
    j["ssm_cfg"] = "Mamba2";
    expect_error([&] { ModelConfig::from_json(j, "config.json"); }, {"config.json", "ssm_cfg"});
  }

  // in_proj must have exactly the rows the config implies (no silently ignored extra rows).
  void in_proj_rows_must_match_exactly() {
    const std::string dir = test::make_temp_dir("cfg-rows");
    fs::copy_file(trained("mamba2") + "/config.json", dir + "/config.json");
    auto f = SafetensorsFile::open(trained("mamba2") + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> t;
    for (const auto& n : f->names()) {
      at::Tensor x = f->tensor(n).clone();
      if (n == "backbone.layers.1.mixer.in_proj.weight") x = at::cat({x, at::zeros({4, x.size(1)})});
      t.emplace_back(n, x);
    }
    write_safetensors(dir + "/model.safetensors", t);
    expect_error([&] { MambaModel::load(dir); }, {"backbone.layers.1.mixer.in_proj.weight", "shape"});
  }

  void hybrid_sizes_are_range_checked() {
    const nlohmann::json z = read_config(test::test_data_dir() + "/hybrid/zamba2-tiny");
    Zamba2Config::from_json(z, "config.json");
    auto refuse_z = [&](const std::function<void(nlohmann::json&)>& edit, const std::vector<std::string>& phrases) {
      nlohmann::json j = z;
      edit(j);
      std::vector<std::string> all = {"config.json"};
      all.insert(all.end(), phrases.begin(), phrases.end());
      expect_error([&] { Zamba2Config::from_json(j, "config.json"); }, all);
    };
    refuse_z([](auto& j) { j["mamba_expand"] = nlohmann::json{{"__float__", "NaN"}}; }, {"mamba_expand"});
    refuse_z([](auto& j) { j["mamba_expand"] = 1e18; }, {"mamba_expand"});
    refuse_z([](auto& j) { j["num_attention_heads"] = 1e9; }, {"num_attention_heads", "between"});
    refuse_z([](auto& j) { j["num_key_value_heads"] = 0; }, {"num_key_value_heads", "between"});
    refuse_z([](auto& j) { j["num_mem_blocks"] = 18446744073709551615ULL; }, {"num_mem_blocks"});
    refuse_z([](auto& j) { j["hidden_act"] = 3; }, {"hidden_act", "string"});
    refuse_z([](auto& j) { j["shedder_use_blocks"] = {0, 0, 7}; }, {"shedder_use_blocks"});

    const nlohmann::json h = hymba_config();
    HymbaConfig::from_json(h, "config.json");
    auto refuse_h = [&](const std::function<void(nlohmann::json&)>& edit, const std::vector<std::string>& phrases) {
      nlohmann::json j = h;
      edit(j);
      std::vector<std::string> all = {"config.json"};
      all.insert(all.end(), phrases.begin(), phrases.end());
      expect_error([&] { HymbaConfig::from_json(j, "config.json"); }, all);
    };
    refuse_h([](auto& j) { j["sliding_window"] = -1; }, {"sliding_window"});
    refuse_h([](auto& j) { j["num_memory_tokens"] = 1e12; }, {"num_memory_tokens"});
    refuse_h([](auto& j) { j["kv_reuse_group"] = {{1, 9}}; }, {"kv_reuse_group"});
    refuse_h([](auto& j) { j["kv_reuse_group"] = {{1, -2}}; }, {"kv_reuse_group"});
    refuse_h([](auto& j) { j["global_attn_idx"] = {0, 4}; }, {"global_attn_idx"});
    refuse_h([](auto& j) { j["mlp_hidden_act"] = nullptr; j["kq_norm"] = {1}; }, {"kq_norm", "string"});
    refuse_h([](auto& j) { j["shedder_attn_groups"] = {{0}, {0}, {5}, {0}}; }, {"shedder_attn_groups"});
    refuse_h([](auto& j) { j["shedder_attn_groups"] = {1, 2, 3, 4}; }, {"shedder_attn_groups"});
    refuse_h([](auto& j) { j["rope_type"] = "ntk"; j["num_attention_heads"] = 16; j["num_key_value_heads"] = 16; },
             {"ntk"});
  }
};

QTEST_APPLESS_MAIN(TestConfig)
#include "test_config.moc"

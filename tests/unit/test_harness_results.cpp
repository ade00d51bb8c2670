// Tests of lm-evaluation-harness's file layouts. read_harness_results: a results file written by hand in the
// harness's v0.4 layout (tests/data/harness/README.md says where the layout comes from) gives the values it holds, in
// the file's task order, "N/A" and NaN standard errors as absent; the model's name comes from model_args (string or
// object), else model_name, else the folder; a file that is no results file is refused by name. The samples
// (--log_samples records) against lines made by Python from the harness's own code path (json.dumps, hashlib), SHA-256
// against the FIPS 180-4 examples, Python's float repr and json.dumps against Python's output, and the console table
// against tables the harness printed (its tests/testdata/*pythia-14m*.txt and a task README).
#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <string>

#include "eval/harness_results.h"
#include "eval/harness_samples.h"
#include "eval/harness_table.h"
#include "util/sha256.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace shedder;
using namespace shedder::test;

class TestHarnessResults : public QObject {
  Q_OBJECT

  // Line i of tests/data/harness/expected_samples.jsonl, with its newline.
  static std::string expected_line(int i) {
    std::istringstream in(test::read_file(test_data_dir() + "/harness/expected_samples.jsonl"));
    std::string line;
    for (int k = 0; k <= i; ++k) std::getline(in, line);
    return line + "\n";
  }

  std::string hand_file() const {
    return test_data_dir() + "/harness/state-spaces__mamba-130m-hf/results_2024-06-01T10-20-30.123456.json";
  }

 private Q_SLOTS:
  void reads_a_harness_results_file() {
    const HarnessResultsFile f = read_harness_results(hand_file());
    QCOMPARE(f.model, std::string("state-spaces/mamba-130m-hf"));
    QCOMPARE(f.path, hand_file());
    QCOMPARE(f.tasks.size(), size_t(5));
    const char* order[] = {"piqa", "lambada_openai", "hellaswag", "arc_easy", "winogrande"};
    for (size_t i = 0; i < 5; ++i) QCOMPARE(f.tasks[i].task, std::string(order[i]));
    const HarnessTaskScores& piqa = f.tasks[0];
    QCOMPARE(*piqa.acc, 0.6458);
    QCOMPARE(*piqa.acc_stderr, 0.011158);
    QCOMPARE(*piqa.acc_norm, 0.6447);
    QCOMPARE(*piqa.acc_norm_stderr, 0.011166);
    QVERIFY(!piqa.perplexity);
    QCOMPARE(piqa.n_samples, int64_t(1838));
    const HarnessTaskScores& lambada = f.tasks[1];
    QCOMPARE(*lambada.perplexity, 16.0467);
    QCOMPARE(*lambada.acc, 0.4425);
    QCOMPARE(*lambada.acc_stderr, 0.006920);
    QVERIFY(!lambada.acc_norm && !lambada.acc_norm_stderr);
    QCOMPARE(lambada.n_samples, int64_t(5153));
    const HarnessTaskScores& arc = f.tasks[3];
    QCOMPARE(*arc.acc, 0.4798);
    QVERIFY(!arc.acc_stderr);       // "N/A"
    QVERIFY(!arc.acc_norm_stderr);  // NaN
    QCOMPARE(*arc.acc_norm, 0.4196);
    QCOMPARE(f.tasks[4].n_samples, int64_t(1267));
    QVERIFY(!f.tasks[4].acc_norm);
  }

  // pretrained= from a model_args object; config.model_name; the top-level model_name; the folder's name; another
  // filter than "none"; a task without n-samples.
  void model_name_and_filters() {
    const std::string root = make_temp_dir("harness-read");
    fs::create_directories(root + "/my-model");
    auto write = [&](const std::string& name, const nlohmann::json& j) {
      write_file(root + "/my-model/" + name, j.dump(2));
      return read_harness_results(root + "/my-model/" + name);
    };
    const nlohmann::json results = {
        {"gsm", {{"exact_match,strict-match", 0.25}, {"acc,flexible", 0.5}, {"acc_stderr,flexible", 0.125}}}};
    nlohmann::json j = {{"results", results}, {"config", {{"model_args", {{"pretrained", "org/name"}, {"dtype", "bf16"}}}}}};
    HarnessResultsFile f = write("a.json", j);
    QCOMPARE(f.model, std::string("org/name"));
    QCOMPARE(*f.tasks[0].acc, 0.5);
    QCOMPARE(*f.tasks[0].acc_stderr, 0.125);
    QCOMPARE(f.tasks[0].n_samples, int64_t(0));
    j["config"] = {{"model_args", "dtype=bf16,trust_remote_code=True"}, {"model_name", "from-config"}};
    QCOMPARE(write("b.json", j).model, std::string("from-config"));
    j["config"] = {{"model", "hf"}};
    j["model_name"] = "top-level";
    QCOMPARE(write("c.json", j).model, std::string("top-level"));
    j.erase("model_name");
    QCOMPARE(write("d.json", j).model, std::string("my-model"));
  }

  void refuses_what_is_not_a_results_file() {
    const std::string root = make_temp_dir("harness-bad");
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"[1, 2]", {"list.json", "not an lm-evaluation-harness results file"}},
        {"{\"steps\": []}", {"journal.json", "\"results\""}},
        {"{\"results\": {}}", {"empty.json", "no tasks"}},
        {"{\"results\": {\"piqa\": 0.5}}", {"flat.json", "piqa"}},
        {"{\"results\": {\"piqa\": {\"acc,none\": \"high\"}}}", {"word.json", "piqa", "acc,none", "not a number"}},
        {"{\"results\": {\"piqa\": {\"acc,none\": 0.5}}, \"n-samples\": {\"piqa\": {\"effective\": -3}}}",
         {"count.json", "effective"}},
        {"{\"results\": ", {"cut.json", "malformed JSON"}},
    };
    for (const auto& [text, phrases] : cases) {
      const std::string file = root + "/" + phrases[0];
      write_file(file, text);
      expect_error([&] { read_harness_results(file); }, phrases);
    }
    expect_error([&] { read_harness_results(root + "/absent.json"); }, {"absent.json"});
  }

  // FIPS 180-4's examples (one block, two blocks, a million 'a's fed in uneven pieces).
  void sha256_matches_fips_examples() {
    QCOMPARE(sha256_hex(""), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    QCOMPARE(sha256_hex("abc"), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    QCOMPARE(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
             std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    Sha256 s;
    const std::string a(1001, 'a');
    for (int i = 0; i < 1000; ++i) s.update(a.data(), i % 2 ? 999 : 1001);
    QCOMPARE(s.hex(), std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
  }

  // Python 3's repr() and json.dumps(..., ensure_ascii=False), printed by Python.
  void python_float_repr_and_json_dumps() {
    const std::vector<std::pair<double, std::string>> reprs = {
        {0.1, "0.1"}, {-6.267270872126581, "-6.267270872126581"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
        {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {123456789.125, "123456789.125"}, {-0.0, "-0.0"},
        {2.5e-300, "2.5e-300"}, {1.7976931348623157e308, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
        {-33.798292017923956, "-33.798292017923956"}, {100.0, "100.0"}};
    for (const auto& [x, want] : reprs) QCOMPARE(python_float_repr(x), want);
    const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
        "{\"id\": \"q1\", \"context\": \"Q: caf\\u00e9 \\\"tab\\\"\\there\\nA:\\u0001\", \"choices\": [\"yes\", "
        "\"no \\u00b1 \\u2191\"], \"gold\": 1, \"nested\": {\"empty_list\": [], \"empty_obj\": {}, \"t\": true, "
        "\"n\": null, \"f\": 1.5, \"i\": -3}}");
    QCOMPARE(python_json_dumps(doc),
             std::string("{\"id\": \"q1\", \"context\": \"Q: café \\\"tab\\\"\\there\\nA:\\u0001\", \"choices\": [\"yes\", \"no ± ↑\"],"
                         " \"gold\": 1, \"nested\": {\"empty_list\": [], \"empty_obj\": {}, \"t\": true, \"n\": null, \"f\": 1.5, \"i\": -3}}"));
    const std::string indented = python_json_dumps(doc, 2);
    QCOMPARE(indented, std::string("{\n  \"id\": \"q1\",\n  \"context\": \"Q: café \\\"tab\\\"\\there\\nA:\\u0001\",\n"
                                   "  \"choices\": [\n    \"yes\",\n    \"no ± ↑\"\n  ],\n  \"gold\": 1,\n"
                                   "  \"nested\": {\n    \"empty_list\": [],\n    \"empty_obj\": {},\n    \"t\": true,\n"
                                   "    \"n\": null,\n    \"f\": 1.5,\n    \"i\": -3\n  }\n}"));
    QCOMPARE(sha256_hex(indented), std::string("f255edcb478da7efeb620fc94ae2b8585ebff36fd83666bf639e7fd1c8bfd07a"));
  }

  // One item of each kind, scored by hand; the expected lines (tests/data/harness/expected_samples.jsonl) were made by
  // Python following the harness's code (evaluator.py's `example`, evaluation_tracker.py's sanitizing and
  // json.dumps, utils.hash_string).
  void samples_are_the_harness_records() {
    Task mc;
    mc.name = "mc";
    mc.kind = TaskKind::MultipleChoice;
    TaskItem m;
    m.id = "m1";
    m.context = "The sky is";
    m.choices = {"blue", "a"};
    m.gold = 0;
    mc.items = {m};
    TaskResult rm;
    rm.items = 1;
    ItemResult im;
    im.choices = {{-2.5, false, 1}, {-1.25, true, 1}};
    im.pred = 1;       // argmax(-2.5, -1.25)
    im.pred_norm = 0;  // argmax(-2.5 / 4, -1.25 / 1)
    im.correct = false;
    im.correct_norm = true;
    rm.details = {im};
    const auto sm = harness_samples(mc, rm);
    QCOMPARE(harness_samples_jsonl(sm),
             expected_line(0));
    QCOMPARE(harness_task_hash(sm), std::string("d3007a76a57ef492889a23e5d827bc2e08db2d7a0204b06d1d517c57d9e27547"));

    Task tt;
    tt.name = "cloze";
    tt.kind = TaskKind::Target;
    TaskItem t;
    t.context = "It is a good day to";
    t.target = " die";
    tt.items = {t};
    TaskResult rt;
    rt.items = 1;
    ItemResult it;
    it.choices = {{-3.75, true, 1}};
    it.correct = true;
    rt.details = {it};
    QCOMPARE(harness_samples_jsonl(harness_samples(tt, rt)),
             expected_line(1));

    Task pt;
    pt.name = "wino";
    pt.kind = TaskKind::Partial;
    TaskItem p;
    p.choices = {"The trophy does not fit in the case because the trophy",
                 "The trophy does not fit in the case because the case"};
    p.target = "is too small.";
    p.gold = 1;
    pt.items = {p};
    TaskResult rp;
    rp.items = 1;
    ItemResult ip;
    ip.choices = {{-7.0, false, 1}, {-6.5, false, 1}};
    ip.pred = 1;
    ip.correct = true;
    rp.details = {ip};
    QCOMPARE(harness_samples_jsonl(harness_samples(pt, rp)),
             expected_line(2));
    QCOMPARE(harness_samples_file_name("wino", "2024-06-01T10-20-30.123456"),
             std::string("samples_wino_2024-06-01T10-20-30.123456.jsonl"));
  }

  // Tables the harness printed (lm-evaluation-harness tests/testdata/{ai2_arc,lambada_openai}_10_hf_pretrained-
  // EleutherAI-pythia-14m-deduped-dtype-float32-device-cpu.txt and lm_eval/tasks/jsonschema_bench/README.md), made
  // again from results holding the values those runs had: a column of 0.0/0.3/0.1 prints one decimal, an integral
  // version prints as an integer, a column of "   N/A" is text (left-aligned rule), 0.0 beside 0.1333 prints 0.0000.
  void table_is_the_harness_table() {
    using J = nlohmann::json;
    const J arc = {
        {"results",
         {{"arc_challenge", {{"alias", "arc_challenge"}, {"acc,none", 0.0}, {"acc_stderr,none", "N/A"},
                             {"acc_norm,none", 0.0}, {"acc_norm_stderr,none", "N/A"}}},
          {"arc_easy", {{"alias", "arc_easy"}, {"acc,none", 0.3}, {"acc_stderr,none", "N/A"}, {"acc_norm,none", 0.1},
                        {"acc_norm_stderr,none", "N/A"}}}}},
        {"versions", {{"arc_challenge", 1.0}, {"arc_easy", 1.0}}},
        {"n-shot", {{"arc_challenge", 0}, {"arc_easy", 0}}},
        {"higher_is_better", {{"arc_challenge", {{"acc", true}, {"acc_norm", true}}},
                              {"arc_easy", {{"acc", true}, {"acc_norm", true}}}}}};
    QCOMPARE(harness_table(arc), std::string("|    Tasks    |Version|Filter|n-shot| Metric |   |Value|   |Stderr|\n"
                                             "|-------------|------:|------|-----:|--------|---|----:|---|------|\n"
                                             "|arc_challenge|      1|none  |     0|acc     |↑  |  0.0|±  |   N/A|\n"
                                             "|             |       |none  |     0|acc_norm|↑  |  0.0|±  |   N/A|\n"
                                             "|arc_easy     |      1|none  |     0|acc     |↑  |  0.3|±  |   N/A|\n"
                                             "|             |       |none  |     0|acc_norm|↑  |  0.1|±  |   N/A|\n"));
    const J lambada = {{"results",
                        {{"lambada_openai", {{"alias", "lambada_openai"}, {"perplexity,none", 605.38661},
                                             {"perplexity_stderr,none", "N/A"}, {"acc,none", 0.1},
                                             {"acc_stderr,none", "N/A"}}}}},
                       {"versions", {{"lambada_openai", 1.0}}},
                       {"n-shot", {{"lambada_openai", 0}}},
                       {"higher_is_better", {{"lambada_openai", {{"perplexity", false}, {"acc", true}}}}}};
    QCOMPARE(harness_table(lambada),
             std::string("|    Tasks     |Version|Filter|n-shot|  Metric  |   | Value  |   |Stderr|\n"
                         "|--------------|------:|------|-----:|----------|---|-------:|---|------|\n"
                         "|lambada_openai|      1|none  |     0|acc       |↑  |  0.1000|±  |   N/A|\n"
                         "|              |       |none  |     0|perplexity|↓  |605.3866|±  |   N/A|\n"));
    const J schema = {
        {"results",
         {{"jsonschema_bench_medium", {{"alias", "jsonschema_bench_medium"}, {"json_validity,none", 1.0},
                                       {"json_validity_stderr,none", 0.0}, {"schema_compliance,none", 0.2},
                                       {"schema_compliance_stderr,none", 0.13333}}}}},
        {"versions", {{"jsonschema_bench_medium", 0.1}}},
        {"n-shot", {{"jsonschema_bench_medium", 2}}},
        {"higher_is_better", {{"jsonschema_bench_medium", {{"json_validity", true}, {"schema_compliance", true}}}}}};
    QCOMPARE(harness_table(schema),
             std::string("|         Tasks         |Version|Filter|n-shot|     Metric      |   |Value|   |Stderr|\n"
                         "|-----------------------|------:|------|-----:|-----------------|---|----:|---|-----:|\n"
                         "|jsonschema_bench_medium|    0.1|none  |     2|json_validity    |↑  |  1.0|±  |0.0000|\n"
                         "|                       |       |none  |     2|schema_compliance|↑  |  0.2|±  |0.1333|\n"));
    J ours = schema;
    ours["config"] = {{"model", "mamba-shedder"}, {"model_args", "pretrained=m"}, {"batch_size", 8}, {"limit", nullptr}};
    QCOMPARE(harness_run_line(ours), std::string("mamba-shedder (pretrained=m), gen_kwargs: (None), limit: None, "
                                                 "num_fewshot: None, batch_size: 8"));
  }
};

QTEST_APPLESS_MAIN(TestHarnessResults)
#include "test_harness_results.moc"

// Tests of lm-evaluation-harness results files read back (read_harness_results): a results file written by hand in
// the harness's v0.4 layout (tests/data/harness/README.md says where the layout comes from) gives the values it
// holds, in the file's task order, "N/A" and NaN standard errors as absent; the model's name comes from model_args
// (string or object), else model_name, else the folder; a file that is no results file is refused by name.
#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "eval/harness_results.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace shedder;
using namespace shedder::test;

class TestHarnessResults : public QObject {
  Q_OBJECT

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
};

QTEST_APPLESS_MAIN(TestHarnessResults)
#include "test_harness_results.moc"

// End-to-end tests of the evaluation commands of the real shedder-cli binary: accuracy (--json keyed by the
// task file's stem, values recomputed in-process, with removals, the harness's table; --output-path and
// --log-samples write the harness's results and samples files), generate (greedy text
// equals the in-process generation; seeded sampling reproducible), bench (fields, baseline and ratios),
// make-demo-tasks (valid, deterministic task files), convert-task, search with the accuracy metric and
// per-step measurements, the export's model card with accuracy before/after (journal, harness results files),
// and bad input: one stderr line naming the file and the problem, exit code 1.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "eval/accuracy.h"
#include "eval/generation.h"
#include "eval/harness_results.h"
#include "util/json_util.h"
#include "util/sha256.h"
#include "eval/task_format.h"
#include "model/mamba_model.h"
#include "model/removal.h"
#include "support/cli_runner.h"
#include "support/test_support.h"
#include "tokenizer/bpe_tokenizer.h"

namespace fs = std::filesystem;
using namespace shedder;
using namespace shedder::test;
using json = nlohmann::json;

namespace {

std::string trained(const std::string& m) { return test_data_dir() + "/trained_tiny/" + m; }

json parse_one_line(const CliResult& r) {
  if (!r.ok() || count_lines(r.out) != 1) return json();
  return json::parse(r.out, nullptr, false);
}

const char* kMc =
    "{\"context\": \"Q: What do you call a fish with no eyes?\\nA:\", \"choices\": [\"A fsh.\", \"A bird.\", \"Nothing\"], \"gold\": 0}\n"
    "{\"context\": \"You will be married within a\", \"choices\": [\"year.\", \"spoon.\", \"ocean of\"], \"gold\": 0}\n"
    "{\"context\": \"The fortune cookie\", \"choices\": [\"said nothing.\", \"was blue.\", \"xylophone\"], \"gold\": 1}\n"
    "{\"context\": \"He ordered a\", \"choices\": [\"sofa\", \"caf\xc3\xa9 au lait\"], \"gold\": 1}\n";
const char* kCloze =
    "{\"context\": \"Q: How many\", \"target\": \" \"}\n{\"context\": \"Q: Why\", \"target\": \" d\"}\n"
    "{\"context\": \"It is a good day to\", \"target\": \" die\"}\n";
const char* kWino =
    "{\"contexts\": [\"The trophy does not fit in the case because the trophy\", \"The trophy does not fit in the case "
    "because the case\"], \"continuation\": \"is too small.\", \"gold\": 1}\n";

}  // namespace

class TestCliEval : public QObject {
  Q_OBJECT

  std::string root_, tasks_, m2_, notok_;
  std::string path(const std::string& n) const { return root_ + "/" + n; }

 private Q_SLOTS:
  void initTestCase() {
    if (cli_path().empty() || !fs::exists(cli_path()))
      SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI is not set to the shedder-cli binary (run the test through ctest)"));
    at::set_num_threads(1);
    root_ = make_temp_dir("cli-eval");
    tasks_ = path("tasks");
    fs::create_directories(tasks_);
    write_file(tasks_ + "/quiz.jsonl", kMc);
    write_file(tasks_ + "/cloze.jsonl", kCloze);
    write_file(tasks_ + "/wino.jsonl", kWino);
    m2_ = trained("mamba2");
    notok_ = path("notok");
    fs::create_directories(notok_);
    for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(m2_ + "/" + f, notok_ + "/" + f);
  }

  // --output-path writes lm-evaluation-harness's results layout: the same accuracies as --json, and the harness's
  // standard error of a mean (sample standard deviation over sqrt(n)); for 0/1 outcomes that is
  // sqrt(p (1 - p) / (n - 1)), computed here from acc and n alone.
  void accuracy_writes_harness_results() {
    const double hand = std::sqrt(1.0 / 3.0) / 2.0;  // {1, 0, 0, 1}: variance 1/3 (n - 1 = 3), n 4
    QVERIFY(std::abs(mean_stderr({1, 0, 0, 1}) - hand) <= 1e-14 * hand);
    QVERIFY(std::isnan(mean_stderr({1})));
    // From the mean and the count alone (what a journal keeps): the same as over the scores themselves.
    QVERIFY(std::abs(binary_mean_stderr(0.5, 4) - hand) <= 1e-14 * hand);
    const std::vector<double> seven{1, 1, 0, 1, 0, 0, 1};
    QVERIFY(std::abs(binary_mean_stderr(4.0 / 7.0, 7) - mean_stderr(seven)) <= 1e-14 * mean_stderr(seven));
    QVERIFY(std::isnan(binary_mean_stderr(1.0, 1)));
    const std::string out = path("harness-out");
    const auto res = run_many({{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), q(tasks_ + "/cloze.jsonl"),
                                q(tasks_ + "/wino.jsonl"), "--output-path", q(out), "--log-samples", "--json",
                                "--threads", "1"}});
    const json j = parse_one_line(res[0]);
    QVERIFY2(j.is_object() && j.contains("harness_results"), res[0].describe().c_str());
    const std::string file = j["harness_results"].get<std::string>();
    QVERIFY2(fs::path(file).parent_path() == fs::path(out) &&
                 fs::path(file).filename().string().rfind("results_", 0) == 0,
             file.c_str());
    const json h = json::parse(test::read_file(file));
    for (const char* name : {"quiz", "cloze", "wino"}) {
      const json& t = j["tasks"][name];
      const json& r = h["results"][name];
      const double p = t["acc"].get<double>();
      const auto n = t["items"].get<int64_t>();
      QCOMPARE(r["acc,none"].get<double>(), p);
      QCOMPARE(r["alias"].get<std::string>(), std::string(name));
      const double want = std::sqrt(p * (1 - p) / double(n - 1));  // relative: the two sums round differently
      if (n > 1) QVERIFY(std::abs(r["acc_stderr,none"].get<double>() - want) <= 1e-12 * want);
      QCOMPARE(h["n-samples"][name]["effective"].get<int64_t>(), n);
      QCOMPARE(h["n-shot"][name].get<int>(), 0);
      QCOMPARE(r.contains("acc_norm,none"), std::string(name) == "quiz");
      QCOMPARE(r.contains("perplexity,none"), std::string(name) == "cloze");
    }
    const double pn = j["tasks"]["quiz"]["acc_norm"].get<double>();
    const auto nq = j["tasks"]["quiz"]["items"].get<int64_t>();
    QCOMPARE(h["results"]["quiz"]["acc_norm,none"].get<double>(), pn);
    const double se = h["results"]["quiz"]["acc_norm_stderr,none"].get<double>();
    const double want_norm = std::sqrt(pn * (1 - pn) / double(nq - 1));
    QVERIFY(std::abs(se - want_norm) <= 1e-12 * want_norm);
    QCOMPARE(h["results"]["cloze"]["perplexity,none"].get<double>(), j["tasks"]["cloze"]["perplexity"].get<double>());
    QCOMPARE(h["results"]["cloze"]["perplexity_stderr,none"].get<std::string>(), std::string("N/A"));
    QVERIFY(h["config"]["model_args"].get<std::string>().find(m2_) != std::string::npos);
    QCOMPARE(h["higher_is_better"]["cloze"]["perplexity"].get<bool>(), false);
    // read_harness_results reads the file back: the model folder and every task's numbers as --json gave them.
    const HarnessResultsFile back = read_harness_results(file);
    QCOMPARE(back.model, m2_);
    QCOMPARE(back.tasks.size(), size_t(3));
    for (const HarnessTaskScores& s : back.tasks) {
      const json& t = j["tasks"][s.task];
      QVERIFY2(t.is_object(), s.task.c_str());
      QCOMPARE(*s.acc, t["acc"].get<double>());
      QCOMPARE(s.n_samples, t["items"].get<int64_t>());
      QCOMPARE(s.acc_stderr.has_value(), t["items"].get<int64_t>() > 1);  // "N/A" for wino's single item
      QCOMPARE(s.acc_norm.has_value(), t.contains("acc_norm"));
      QCOMPARE(s.perplexity.has_value(), t.contains("perplexity"));
      if (s.perplexity) QCOMPARE(*s.perplexity, t["perplexity"].get<double>());
    }
    // --log-samples: samples_<task>_<date_id>.jsonl beside results_<date_id>.json, one record per item in item
    // order; the quiz's first prompt hash is sha256 of its context (by Python: hashlib.sha256(...).hexdigest()),
    // its target str(gold) = "0"; the items' acc average to the task's acc; task_hashes hashes the records' hashes.
    const std::string date_id = fs::path(file).stem().string().substr(std::string("results_").size());
    QCOMPARE(j["harness_samples"].size(), size_t(3));
    for (const char* name : {"quiz", "cloze", "wino"}) {
      const std::string sf = out + "/samples_" + name + "_" + date_id + ".jsonl";
      QVERIFY2(fs::exists(sf), sf.c_str());
      std::istringstream in(test::read_file(sf));
      std::string line, hashes;
      double acc_sum = 0;
      int64_t n = 0;
      while (std::getline(in, line)) {
        const json rec = json::parse(line);
        QCOMPARE(rec["doc_id"].get<int64_t>(), n++);
        QCOMPARE(rec["filter"].get<std::string>(), std::string("none"));
        QCOMPARE(rec["resps"].size(), rec["arguments"].size());
        acc_sum += rec["acc"].get<double>();
        hashes += rec["doc_hash"].get<std::string>() + rec["prompt_hash"].get<std::string>() +
                  rec["target_hash"].get<std::string>();
        if (std::string(name) == "quiz" && n == 1) {
          QCOMPARE(rec["prompt_hash"].get<std::string>(),
                   std::string("659989de6f5c463bdb312cbf80be33cc797a855db59ecba449d0b85bd596395b"));
          QCOMPARE(rec["target"].get<std::string>(), std::string("0"));
          QCOMPARE(rec["metrics"], json({"acc", "acc_norm"}));
          QCOMPARE(rec["arguments"]["gen_args_1"]["arg_1"].get<std::string>(), std::string(" A bird."));
        }
        if (std::string(name) == "cloze") QCOMPARE(rec["metrics"], json({"perplexity", "acc"}));
      }
      QCOMPARE(n, j["tasks"][name]["items"].get<int64_t>());
      QCOMPARE(acc_sum / double(n), j["tasks"][name]["acc"].get<double>());
      QCOMPARE(h["task_hashes"][name].get<std::string>(), sha256_hex(hashes));
    }
    const auto no_out = run_many({{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), "--log-samples"}});
    QVERIFY2(check_failure(no_out[0], {"--log-samples", "--output-path"}).empty(), no_out[0].describe().c_str());
    // An --output-path that is a file is refused by name, after nothing was written there.
    write_file(path("a-file"), "mine");
    const auto bad = run_many({{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), "--output-path",
                                q(path("a-file")), "--threads", "1"}});
    QVERIFY2(check_failure(bad[0], {"a-file", "folder"}).empty(), bad[0].describe().c_str());
    QCOMPARE(test::read_file(path("a-file")), std::string("mine"));
  }

  void accuracy_json_matches_in_process_scoring() {
    const auto res = run_many({{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), q(tasks_ + "/cloze.jsonl"),
                                q(tasks_ + "/wino.jsonl"), "--json", "--threads", "1"},
                               {"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), "--remove", "block:2,5", "--json",
                                "--threads", "1"},
                               {"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), q(tasks_ + "/cloze.jsonl"),
                                "--threads", "1"}});
    const json j = parse_one_line(res[0]);
    QVERIFY2(j.is_object(), res[0].describe().c_str());
    auto m = MambaModel::load(m2_);
    for (const char* name : {"quiz", "cloze", "wino"}) {
      QVERIFY2(j["tasks"].contains(name), res[0].out.c_str());
      const json& t = j["tasks"][name];
      const EncodedTask et = encode_task(read_task(tasks_ + "/" + name + ".jsonl"), m->tokenizer(), 0);
      const TaskResult want = evaluate_task(*m, et, {}, {});
      QCOMPARE(t["acc"].get<double>(), want.acc);
      QCOMPARE(t["items"].get<int64_t>(), int64_t(et.items.size()));
      QCOMPARE(t.contains("acc_norm"), std::string(name) == "quiz");
      QCOMPARE(t.contains("perplexity"), std::string(name) == "cloze");
      if (want.acc_norm) QCOMPARE(t["acc_norm"].get<double>(), *want.acc_norm);
      if (want.perplexity) QVERIFY(std::abs(t["perplexity"].get<double>() - *want.perplexity) < 1e-9 * *want.perplexity);
    }
    const json jr = parse_one_line(res[1]);
    QVERIFY2(jr.is_object(), res[1].describe().c_str());
    RemovalSet r;
    r.add_spec("block:2,5");
    const EncodedTask quiz = encode_task(read_task(tasks_ + "/quiz.jsonl"), m->tokenizer(), 0);
    const TaskResult want = evaluate_task(*m, quiz, r, {});
    QCOMPARE(jr["tasks"]["quiz"]["gold_loglik"].get<double>(), want.gold_loglik);
    QCOMPARE(jr["removed"], json({"layers.2", "layers.5"}));
    QVERIFY(jr["tasks"]["quiz"]["gold_loglik"].get<double>() != j["tasks"]["quiz"]["gold_loglik"].get<double>());
    // Without --json: the harness's table (make_table's header, one row per metric).
    QVERIFY2(res[2].ok() && contains(res[2].out, "|Filter|n-shot|") && contains(res[2].out, "|quiz ") &&
                 contains(res[2].out, "|acc_norm  |↑  |") && contains(res[2].out, "|perplexity|↓  |"),
             res[2].describe().c_str());
  }

  void accuracy_bad_input() {
    write_file(path("bad.jsonl"), std::string(kMc) + "{\"context\": \"x\", \"choices\": [\"a\", \"b\"], \"gold\": 5}\n");
    fs::create_directories(path("other"));
    write_file(path("other/quiz.jsonl"), kMc);
    struct Case {
      QStringList args;
      std::vector<std::string> phrases;
    };
    const std::vector<Case> cases = {
        {{"accuracy", q(m2_), "--task", q(path("bad.jsonl"))}, {"bad.jsonl:5", "gold 5 is out of range"}},
        {{"accuracy", q(notok_), "--task", q(tasks_ + "/quiz.jsonl")}, {"tokenizer.json", "missing"}},
        {{"accuracy", q(m2_)}, {"--task"}},
        {{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), q(path("other/quiz.jsonl"))}, {"quiz.jsonl", "also named 'quiz'"}},
        {{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), "--max-length", "1"}, {"--max-length"}},
        {{"accuracy", q(m2_), "--task", q(path("missing.jsonl"))}, {"missing.jsonl", "cannot open"}},
        {{"accuracy", q(m2_), "--task", q(tasks_ + "/quiz.jsonl"), "--remove", "block:99"}, {"99"}},
        {{"generate", q(m2_)}, {"--prompt"}},
        {{"generate", q(m2_), "--prompt", "x", "--temperature", "-2"}, {"--temperature"}},
        {{"generate", q(notok_), "--prompt", "x"}, {"tokenizer.json"}},
        {{"bench", q(m2_), "--repeats", "0"}, {"--repeats"}},
        {{"convert-task", "mmlu", q(path("bad.jsonl")), "--out", q(path("x.jsonl"))}, {"unknown task format 'mmlu'"}},
        {{"convert-task", "piqa", q(path("bad.jsonl")), "--out", q(path("x.jsonl"))}, {"bad.jsonl:1", "missing field \"goal\""}},
        {{"make-demo-tasks", q(path("bad.jsonl"))}, {"--out"}},
        {{"search", q(m2_), "--granularity", "block", "--steps", "1", "--calib-tokens",
          q(test_data_dir() + "/trained_tiny/calib.safetensors"), "--metric", "accuracy"}, {"--task"}},
        {{"search", q(m2_), "--granularity", "block", "--steps", "1", "--calib-tokens",
          q(test_data_dir() + "/trained_tiny/calib.safetensors"), "--bench-length", "9"}, {"--bench"}},
    };
    std::vector<QStringList> calls;
    for (const auto& c : cases) calls.push_back(c.args);
    const auto results = run_many(calls);
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string bad = check_failure(results[i], cases[i].phrases);
      QVERIFY2(bad.empty(), bad.c_str());
    }
  }

  void generate_matches_in_process() {
    const auto res = run_many({{"generate", q(m2_), "--prompt", "Q: What do you call a", "--max-new-tokens", "20",
                                "--json", "--threads", "1"},
                               {"generate", q(m2_), "--prompt", "The ", "--max-new-tokens", "20", "--temperature", "0.9",
                                "--top-k", "10", "--seed", "5", "--json", "--threads", "1"},
                               {"generate", q(m2_), "--prompt", "The ", "--max-new-tokens", "20", "--temperature", "0.9",
                                "--top-k", "10", "--seed", "5", "--json", "--threads", "1"},
                               {"generate", q(m2_), "--prompt", "Q: What do you call a", "--max-new-tokens", "8",
                                "--remove", "ssm:3", "--threads", "1"}});
    const json g = parse_one_line(res[0]);
    QVERIFY2(g.is_object(), res[0].describe().c_str());
    auto m = MambaModel::load(m2_);
    GenerateOptions o;
    o.max_new_tokens = 20;
    o.eos_id = 0;
    const GenerateResult want = generate(*m, m->tokenizer().encode("Q: What do you call a"), {}, o);
    QCOMPARE(g["tokens"].get<std::vector<int32_t>>(), want.tokens);
    std::vector<int32_t> shown = want.tokens;
    if (want.stop_reason == "eos") shown.pop_back();
    QCOMPARE(g["text"].get<std::string>(), m->tokenizer().decode(shown));
    QCOMPARE(g["stop_reason"].get<std::string>(), want.stop_reason);
    QVERIFY(g["decode_ms_per_token"].get<double>() > 0);
    const json a = parse_one_line(res[1]), b = parse_one_line(res[2]);
    QVERIFY2(a.is_object() && b.is_object(), res[1].describe().c_str());
    QCOMPARE(a["tokens"], b["tokens"]);
    QVERIFY2(res[3].ok() && res[3].out.rfind("Q: What do you call a", 0) == 0, res[3].describe().c_str());
  }

  void bench_reports_and_compares() {
    const auto res = run_many({{"bench", q(m2_), "--length", "32", "--decode-tokens", "4", "--repeats", "2", "--json",
                                "--threads", "1"},
                               {"bench", q(m2_), "--length", "32", "--decode-tokens", "4", "--repeats", "2", "--remove",
                                "block:1,6", "--json", "--threads", "1"},
                               {"bench", q(m2_), "--length", "32", "--decode-tokens", "4", "--repeats", "1", "--remove",
                                "ssm:1", "--threads", "1"}});
    const json a = parse_one_line(res[0]), b = parse_one_line(res[1]);
    QVERIFY2(a.is_object(), res[0].describe().c_str());
    QVERIFY2(b.is_object(), res[1].describe().c_str());
    for (const char* k : {"prefill_tokens_per_s", "decode_ms_per_token", "peak_memory_bytes", "param_bytes", "state_bytes"})
      QVERIFY2(a[k].get<double>() > 0, k);
    QVERIFY(!a.contains("baseline"));
    auto m = MambaModel::load(m2_);
    QCOMPARE(a["param_bytes"].get<int64_t>(), m->total_parameters() * 4);
    QCOMPARE(b["baseline"]["param_bytes"].get<int64_t>(), m->total_parameters() * 4);
    QCOMPARE(b["param_bytes"].get<int64_t>(), (m->total_parameters() - b["params_removed"].get<int64_t>()) * 4);
    QVERIFY(b["state_bytes"].get<int64_t>() < b["baseline"]["state_bytes"].get<int64_t>());
    QVERIFY(b["prefill_speedup"].get<double>() > 0 && b["decode_speedup"].get<double>() > 0);
    QVERIFY2(res[2].ok() && contains(res[2].out, "speed-up: prefill") && contains(res[2].out, "full"),
             res[2].describe().c_str());
  }

  void make_demo_tasks_and_convert() {
    std::string text;
    const std::vector<std::string> docs = {
        "You will be married within a year, and divorced within two, unless you learn to cook properly.",
        "Never put off till tomorrow what you can avoid doing altogether; the world rewards patience.",
        "A penny saved is a penny earned, said the banker while counting coins in the quiet morning light.",
        "The fortune cookie said nothing at all, which worried the programmer more than any prophecy.",
        "It is a good day to learn something new about compilers, or perhaps about gardening instead.",
        "Q: How many programmers does it take to change a light bulb? A: None, that is a hardware problem."};
    for (const auto& d : docs) text += d + "\n%\n";
    write_file(path("held_out.txt"), text);
    const auto res = run_many({{"make-demo-tasks", q(path("held_out.txt")), "--split-on", "%", "--out", q(path("demo1")),
                                "--seed", "3", "--json"},
                               {"make-demo-tasks", q(path("held_out.txt")), "--split-on", "%", "--out", q(path("demo2")),
                                "--seed", "3"}});
    const json j = parse_one_line(res[0]);
    QVERIFY2(j.is_object(), res[0].describe().c_str());
    QCOMPARE(j["documents"].get<int64_t>(), int64_t(docs.size()));
    QVERIFY2(res[1].ok(), res[1].describe().c_str());
    for (const char* f : {"demo_continuation.jsonl", "demo_cloze.jsonl"})
      QCOMPARE(read_file(path("demo1/") + f), read_file(path("demo2/") + f));  // deterministic for a seed
    const Task mc = read_task(path("demo1/demo_continuation.jsonl")), cl = read_task(path("demo1/demo_cloze.jsonl"));
    QCOMPARE(mc.kind, TaskKind::MultipleChoice);
    QCOMPARE(int64_t(mc.items.size()), j["demo_continuation"]["items"].get<int64_t>());
    for (const auto& it : mc.items) {
      QCOMPARE(it.choices.size(), size_t(4));
      // The gold choice continues the document the context starts.
      bool found = false;
      for (const auto& d : docs) found = found || d.rfind(it.context + " " + it.choices[static_cast<size_t>(it.gold)], 0) == 0;
      QVERIFY2(found, it.context.c_str());
    }
    QCOMPARE(cl.kind, TaskKind::Target);
    QCOMPARE(cl.items.size(), docs.size());
    QCOMPARE(cl.items[0].target.front(), ' ');
    const CliResult again = run({"make-demo-tasks", q(path("held_out.txt")), "--split-on", "%", "--out", q(path("demo1"))});
    const std::string bad = check_failure(again, {"demo_continuation.jsonl", "--force"});
    QVERIFY2(bad.empty(), bad.c_str());

    write_file(path("piqa_export.jsonl"),
               "{\"goal\": \"To open a jar\", \"sol1\": \"twist the lid\", \"sol2\": \"eat the lid\", \"label\": 0}\n");
    const CliResult conv = run({"convert-task", "piqa", q(path("piqa_export.jsonl")), "--out", q(path("piqa.jsonl")), "--json"});
    QVERIFY2(parse_one_line(conv).value("items", 0) == 1, conv.describe().c_str());
    const Task p = read_task(path("piqa.jsonl"));
    QCOMPARE(p.items[0].context, std::string("Question: To open a jar\nAnswer:"));
    const CliResult acc = run({"accuracy", q(m2_), "--task", q(path("piqa.jsonl")), "--json", "--threads", "1"});
    QVERIFY2(parse_one_line(acc)["tasks"]["piqa"]["items"] == 1, acc.describe().c_str());
  }

  void search_accuracy_metric_and_measurements() {
    const std::string calib = test_data_dir() + "/trained_tiny/calib.safetensors";
    const CliResult r = run({"search", q(m2_), "--granularity", "ssm", "--steps", "2", "--calib-tokens", q(calib),
                             "--windows", "2", "--metric", "accuracy", "--task", q(tasks_ + "/quiz.jsonl"), "--eval-task",
                             q(tasks_ + "/cloze.jsonl"), "--bench", "--bench-length", "32", "--bench-decode-tokens", "4",
                             "--bench-repeats", "1", "--out", q(path("run")), "--json", "--threads", "1"});
    const json j = parse_one_line(r);
    QVERIFY2(j.is_object(), r.describe().c_str());
    QCOMPARE(j["metric"].get<std::string>(), std::string("accuracy"));
    QCOMPARE(j["steps"].size(), size_t(2));
    QVERIFY(j["base_bench"].contains("prefill_tokens_per_s") && j["base_accuracy"].contains("quiz"));
    for (const auto& s : j["steps"]) {
      QVERIFY(s["accuracy"].contains("quiz") && s["accuracy"].contains("cloze"));
      QCOMPARE(s["accuracy"]["quiz"]["acc"].get<double>(), s["score"].get<double>());
      QVERIFY(s["bench"]["param_bytes"].get<int64_t>() < j["base_bench"]["param_bytes"].get<int64_t>());
      QVERIFY(s["candidates"][0].contains("acc"));
    }
    const json file = json::parse(read_file(path("run/search_result.json")));
    QCOMPARE(file["steps"][1]["bench"]["param_bytes"], j["steps"][1]["bench"]["param_bytes"]);
    const CliResult human = run({"search", q(m2_), "--granularity", "block", "--steps", "1", "--calib-tokens", q(calib),
                                 "--windows", "2", "--eval-task", q(tasks_ + "/cloze.jsonl"), "--bench", "--bench-length",
                                 "32", "--bench-repeats", "1", "--threads", "1"});
    QVERIFY2(human.ok() && contains(human.out, "acc cloze") && contains(human.out, "speed-up") &&
                 contains(human.out, "base "),
             human.describe().c_str());
  }

  // The model card shows accuracy before/after per task: from a search journal's --eval-task measurements
  // (the numbers search_result.json holds for the base and the step) and from two harness results files (the
  // hand-written one, tests/data/harness, and a copy with other numbers written here).
  void export_card_shows_accuracy() {
    const std::string calib = test_data_dir() + "/trained_tiny/calib.safetensors";
    const CliResult s = run({"search", q(m2_), "--granularity", "ssm", "--steps", "1", "--calib-tokens", q(calib),
                             "--windows", "2", "--eval-task", q(tasks_ + "/quiz.jsonl"), q(tasks_ + "/cloze.jsonl"),
                             "--out", q(path("card-run")), "--threads", "1"});
    QVERIFY2(s.ok(), s.describe().c_str());
    const CliResult e = run({"export", q(m2_), "--journal", q(path("card-run/journal.jsonl")), "--step", "0", "--out",
                             q(path("card-export")), "--threads", "1"});
    QVERIFY2(e.ok(), e.describe().c_str());
    const json sr = json::parse(test::read_file(path("card-run/search_result.json")));
    const std::string card = test::read_file(path("card-export/README.md"));
    auto f4 = [](double v) {
      char b[64];
      std::snprintf(b, sizeof b, "%.4f", v);
      return std::string(b);
    };
    const json& b = sr["base_accuracy"];
    const json& a = sr["steps"][0]["accuracy"];
    // acc and acc_norm with the harness's standard error of 0/1 scores, sqrt(p (1 - p) / (n - 1)) (n: the items).
    auto pm = [&](const json& t, const char* m) {
      const double p = t[m].get<double>(), n = t["items"].get<double>();
      return f4(p) + " \u00b1 " + f4(std::sqrt(p * (1 - p) / (n - 1)));
    };
    for (const std::string row :
         {"| quiz acc | " + pm(b["quiz"], "acc") + " | " + pm(a["quiz"], "acc") + " |",
          "| quiz acc_norm | " + pm(b["quiz"], "acc_norm") + " | " + pm(a["quiz"], "acc_norm") + " |",
          "| cloze perplexity | " + f4(b["cloze"]["perplexity"].get<double>()) + " | " +
              f4(a["cloze"]["perplexity"].get<double>()) + " |"})
      QVERIFY2(contains(card, row), (row + "\n" + card).c_str());
    const json report = json::parse(test::read_file(path("card-export/shedding_report.json")));
    QCOMPARE(report["accuracy"].size(), size_t(2));

    const std::string before = test_data_dir() + "/harness/state-spaces__mamba-130m-hf/results_2024-06-01T10-20-30.123456.json";
    json after = read_json_file_lenient(before);  // its bare NaN is read too; that task is replaced below
    after["results"]["piqa"]["acc,none"] = 0.6012;
    after["results"]["piqa"]["acc_stderr,none"] = 0.011422;
    after["results"]["lambada_openai"]["perplexity,none"] = 19.5;
    after["results"]["arc_easy"] = {{"alias", "arc_easy"}, {"acc,none", 0.47}, {"acc_stderr,none", "N/A"}};
    write_file(path("after.json"), after.dump(2));
    const CliResult h = run({"export", q(m2_), "--remove", "block:1", "--results-before", q(before), "--results-after",
                             q(path("after.json")), "--out", q(path("card-harness")), "--threads", "1"});
    QVERIFY2(h.ok(), h.describe().c_str());
    const std::string card2 = test::read_file(path("card-harness/README.md"));
    for (const std::string row : {std::string("| piqa acc | 0.6458 ± 0.0112 | 0.6012 ± 0.0114 |"),
                                  std::string("| piqa acc_norm | 0.6447 ± 0.0112 | 0.6447 ± 0.0112 |"),
                                  std::string("| lambada_openai perplexity | 16.0467 | 19.5000 |"),
                                  std::string("| arc_easy acc | 0.4798 | 0.4700 |"), std::string("state-spaces/mamba-130m-hf")})
      QVERIFY2(contains(card2, row), (row + "\n" + card2).c_str());
    QVERIFY(!contains(card2, "arc_easy acc_norm"));  // measured before only

    write_file(path("other.json"), "{\"results\": {\"mmlu\": {\"acc,none\": 0.25}}}");
    const auto bad = run_many({{"export", q(m2_), "--remove", "block:1", "--results-before", q(before), "--out",
                                q(path("card-bad1")), "--threads", "1"},
                               {"export", q(m2_), "--remove", "block:1", "--results-before", q(before),
                                "--results-after", q(path("other.json")), "--out", q(path("card-bad2")), "--threads", "1"}});
    QVERIFY2(check_failure(bad[0], {"--results-after"}).empty(), bad[0].describe().c_str());
    QVERIFY2(check_failure(bad[1], {"other.json", "share no task"}).empty(), bad[1].describe().c_str());
    QVERIFY(!fs::exists(path("card-bad1")) && !fs::exists(path("card-bad2")));
  }
};

QTEST_APPLESS_MAIN(TestCliEval)
#include "test_cli_eval.moc"

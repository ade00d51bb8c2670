// The search's accuracy metric (each candidate's accuracy equals an independent task evaluation with it
// removed; the pick is the highest accuracy, ties by gold log-likelihood then index) and the optional
// per-step measurements (accuracy on eval tasks, benchmark figures) for the base and every step: their
// values, their place in the result JSON and the journal, and their replay on resume.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "model/mamba_model.h"
#include "eval/accuracy.h"
#include "eval/perplexity.h"
#include "io/safetensors.h"
#include "shed/journal.h"
#include "shed/search.h"
#include "support/expect_error.h"
#include "support/test_support.h"

using namespace shedder;
using test::expect_error;

namespace {

std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }
at::Tensor calib() {
  return SafetensorsFile::open(test::test_data_dir() + "/trained_tiny/calib.safetensors")
      ->tensor("windows")
      .narrow(0, 0, 2)
      .narrow(1, 0, 96)
      .clone();
}

std::shared_ptr<const EncodedTask> mc_task(const Model& m) {
  Task t;
  t.name = "quiz";
  t.path = "quiz.jsonl";
  t.kind = TaskKind::MultipleChoice;
  const std::vector<std::pair<std::string, std::vector<std::string>>> qs = {
      {"Q: What do you call a fish with no eyes?\nA:", {"A fsh.", "A bird.", "Nothing"}},
      {"You will be married within a", {"year.", "spoon.", "ocean of"}},
      {"Never put off till tomorrow what you can", {"do today.", "eat now.", "zzz qqq"}},
      {"The fortune cookie", {"said nothing.", "was blue.", "xylophone"}},
      {"Q: How many", {"programmers does it take?", "cats", "ideas?"}},
      {"It is a good day to", {"die.", "be.", "qwerty"}}};
  int64_t line = 1;
  for (const auto& [c, ch] : qs) {
    TaskItem it;
    it.line = line++;
    it.context = c;
    it.choices = ch;
    it.gold = 0;
    t.items.push_back(it);
  }
  return std::make_shared<const EncodedTask>(encode_task(t, m.tokenizer(), 0));
}

std::shared_ptr<const EncodedTask> cloze_task(const Model& m) {
  Task t;
  t.name = "cloze";
  t.path = "cloze.jsonl";
  t.kind = TaskKind::Target;
  for (const auto& [c, g] : std::vector<std::pair<std::string, std::string>>{
           {"Q: How many", " "}, {"Q: Why", " d"}, {"It is a good day to", " die"}, {"in the", " s"}}) {
    TaskItem it;
    it.context = c;
    it.target = g;
    t.items.push_back(it);
  }
  return std::make_shared<const EncodedTask>(encode_task(t, m.tokenizer(), 0));
}

BenchOptions small_bench() {
  BenchOptions b;
  b.length = 32;
  b.decode_tokens = 4;
  b.repeats = 1;
  b.warmup = 0;
  return b;
}

}  // namespace

class TestSearchMeasurements : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(1); }

  void accuracy_metric_picks_the_most_accurate_candidate() {
    auto m = MambaModel::load(trained("mamba2"));
    SearchOptions o;
    o.metric = Metric::Accuracy;
    o.granularity = Granularity::Block;
    o.steps = 2;
    o.accuracy_task = mc_task(*m);
    const SearchResult r = run_search(*m, calib(), o);
    QCOMPARE(r.steps.size(), size_t(2));
    QCOMPARE(r.evaluations, int64_t(8 + 7));
    RemovalSet removed;
    for (const auto& s : r.steps) {
      size_t best = 0;
      for (size_t k = 0; k < s.candidates.size(); ++k) {
        RemovalSet with = removed;
        with.add(Granularity::Block, s.candidates[k].index);
        const TaskResult tr = evaluate_task(*m, *o.accuracy_task, with, {});
        QCOMPARE(s.candidates[k].score, tr.acc);
        QVERIFY(std::abs(s.candidates[k].loglik - tr.gold_loglik) < 1e-9);
        const auto& b = s.candidates[best];
        if (tr.acc > b.score || (tr.acc == b.score && tr.gold_loglik > b.loglik)) best = k;
      }
      QCOMPARE(s.index, s.candidates[best].index);
      removed.add(Granularity::Block, s.index);
      // The step records the chosen candidate's accuracy and the calibration perplexity after it.
      QCOMPARE(s.accuracy.size(), size_t(1));
      QCOMPARE(s.accuracy[0].acc, s.score);
      const double ppl = evaluate_perplexity(*m, calib(), 1, removed).perplexity;
      QVERIFY(std::abs(s.ppl - ppl) < 1e-6 * ppl);
    }
    QCOMPARE(r.base_accuracy.size(), size_t(1));
    QCOMPARE(r.base_accuracy[0].acc, evaluate_task(*m, *o.accuracy_task, {}, {}).acc);
    const nlohmann::json j = r.to_json(o.granularity, o.metric);
    QCOMPARE(j["metric"].get<std::string>(), std::string("accuracy"));
    QVERIFY(j["steps"][0]["candidates"][0].contains("acc") && j["steps"][0]["candidates"][0].contains("gold_loglik"));
    QVERIFY(j["steps"][0]["accuracy"].contains("quiz"));

    o.accuracy_norm = true;
    o.accuracy_task = cloze_task(*m);
    expect_error([&] { run_search(*m, calib(), o); }, {"--accuracy-norm", "multiple-choice"});
    o.accuracy_task = nullptr;
    expect_error([&] { run_search(*m, calib(), o); }, {"metric accuracy needs a task"});
  }

  void per_step_measurements_and_resume() {
    auto m = MambaModel::load(trained("mamba1"));
    SearchOptions o;
    o.granularity = Granularity::Ssm;
    o.steps = 2;
    o.eval_tasks = {mc_task(*m), cloze_task(*m)};
    o.bench = small_bench();
    const std::string dir = test::make_temp_dir("measure");
    o.journal_path = dir + "/journal.jsonl";
    const SearchResult r = run_search(*m, calib(), o);
    QVERIFY(r.base_bench.has_value());
    QCOMPARE(r.base_bench->param_bytes, m->total_parameters() * 4);
    QCOMPARE(r.base_accuracy.size(), size_t(2));
    RemovalSet removed;
    for (const auto& s : r.steps) {
      removed.add(Granularity::Ssm, s.index);
      const RemovalSet mask = removed;
      QVERIFY(s.bench.has_value());
      QCOMPARE(s.bench->param_bytes, (m->total_parameters() - m->removed_parameters(removed)) * 4);
      QVERIFY(s.bench->prefill_tokens_per_s > 0 && s.bench->decode_ms_per_token > 0);
      QCOMPARE(s.accuracy.size(), size_t(2));
      QCOMPARE(s.accuracy[0].name, std::string("quiz"));
      QCOMPARE(s.accuracy[0].acc, evaluate_task(*m, *o.eval_tasks[0], mask, {}).acc);
      QCOMPARE(*s.accuracy[1].perplexity, *evaluate_task(*m, *o.eval_tasks[1], mask, {}).perplexity);
    }
    const nlohmann::json j = r.to_json(o.granularity, o.metric);
    QVERIFY(j.contains("base_bench") && j.contains("base_accuracy"));
    QVERIFY(j["steps"][1]["bench"].contains("decode_ms_per_token"));
    QVERIFY(j["steps"][1]["accuracy"]["cloze"].contains("perplexity"));
    // The journal holds them; a resumed run replays them exactly instead of measuring again.
    const JournalContents jc = Journal::read(o.journal_path);
    QVERIFY(jc.records[0].contains("bench") && jc.records[1].contains("accuracy"));
    o.steps = 3;
    o.resume = true;
    const SearchResult r2 = run_search(*m, calib(), o);
    QCOMPARE(r2.resumed_steps, int64_t(2));
    QCOMPARE(r2.steps.size(), size_t(3));
    QCOMPARE(r2.base_bench->prefill_ms, r.base_bench->prefill_ms);
    QCOMPARE(r2.steps[1].bench->decode_ms_per_token, r.steps[1].bench->decode_ms_per_token);
    QCOMPARE(r2.steps[1].accuracy[1].acc, r.steps[1].accuracy[1].acc);
    QVERIFY(r2.steps[2].bench.has_value() && r2.steps[2].accuracy.size() == 2);
    // Other measurement settings do not resume this journal.
    o.eval_tasks.pop_back();
    expect_error([&] { run_search(*m, calib(), o); }, {"journal.jsonl", "eval_tasks"});
    o.eval_tasks.push_back(cloze_task(*m));
    o.bench->length = 64;
    expect_error([&] { run_search(*m, calib(), o); }, {"journal.jsonl", "bench"});
  }
};

QTEST_APPLESS_MAIN(TestSearchMeasurements)
#include "test_search_measurements.moc"

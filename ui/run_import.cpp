// Engine results into GUI records (see run_import.h).
#include <ATen/ATen.h>

#include "run_import.h"

#include <QDir>
#include <QFileInfo>

#include <cmath>
#include <filesystem>

#include "model/removal.h"
#include "shed/journal.h"
#include "shed/search.h"
#include "util/error.h"
#include "util/file_util.h"
#include "util/json_util.h"

namespace shedder::ui {

namespace {

QString qstr(const std::string& s) { return QString::fromStdString(s); }

struct Measures {
  std::optional<double>& latencyMs;
  std::optional<double>& prefill;
  std::optional<double>& peakMb;
  std::optional<double>& meanAcc;
  QMap<QString, double>& acc;
  QMap<QString, double>& accNorm;
  QMap<QString, double>& items;
};

void setMeasurements(const std::optional<BenchResult>& b, const std::vector<TaskResult>& tasks, Measures m) {
  if (b) {
    m.latencyMs = b->decode_ms_per_token;
    m.prefill = b->prefill_tokens_per_s;
    m.peakMb = static_cast<double>(b->peak_memory_bytes) / 1048576.0;
  }
  if (tasks.empty()) return;
  double sum = 0;
  for (const TaskResult& t : tasks) {
    const QString name = qstr(t.name);
    m.acc.insert(name, t.acc);
    if (t.acc_norm) m.accNorm.insert(name, *t.acc_norm);
    m.items.insert(name, static_cast<double>(t.items));
    sum += t.acc;
  }
  m.meanAcc = sum / static_cast<double>(tasks.size());
}

Metric metricOf(const std::string& name, const std::string& label) {
  const auto m = parse_metric(name);
  if (!m) throw Error(label + ": unknown metric \"" + name + "\"");
  return *m;
}

}  // namespace

StepRecord toStepRecord(const SearchStep& s) {
  StepRecord r;
  r.step = static_cast<int>(s.step);
  r.id = qstr(s.id);
  r.index = static_cast<int>(s.index);
  r.score = s.score;
  r.ppl = s.ppl;
  r.parametersRemoved = s.params_removed;
  r.parametersRemovedPct = s.params_removed_pct;
  r.seconds = s.seconds;
  for (const CandidateScore& c : s.candidates)
    r.candidates.push_back({qstr(c.id), static_cast<int>(c.index), c.score, c.lower_bound});
  setMeasurements(s.bench, s.accuracy,
                  {r.latencyMs, r.prefillTokensPerS, r.peakMemoryMb, r.accuracy, r.taskAccuracy, r.taskAccNorm,
                   r.taskItems});
  return r;
}

void setBaseMeasurements(RunRecord& run, const SearchResult& res) {
  setMeasurements(res.base_bench, res.base_accuracy,
                  {run.baseLatencyMs, run.basePrefillTokensPerS, run.basePeakMemoryMb, run.baseAccuracy,
                   run.baseTaskAccuracy, run.baseTaskAccNorm, run.baseTaskItems});
}

RunRecord readRunFolder(const QString& where) {
  const QFileInfo fi(where);
  const QDir dir = fi.isDir() ? QDir(where) : fi.dir();
  const std::string journal = dir.filePath(QStringLiteral("journal.jsonl")).toStdString();
  const std::string result = dir.filePath(QStringLiteral("search_result.json")).toStdString();
  std::error_code ec;
  const bool haveJournal = std::filesystem::is_regular_file(journal, ec);
  const bool haveResult = std::filesystem::is_regular_file(result, ec);
  if (!haveJournal && !haveResult)
    throw Error(dir.path().toStdString() + ": not a run folder (no journal.jsonl or search_result.json)");

  RunRecord run;
  run.state = QStringLiteral("unfinished");  // a journal without search_result.json: cancelled, killed or running
  SearchResult res;
  Metric metric = Metric::Perplexity;
  if (haveJournal) {
    const JournalContents jc = Journal::read(journal);
    const JsonFields head(jc.header, journal);
    const nlohmann::json search = jc.header.value("search", nlohmann::json::object());
    const JsonFields sf(search, journal);
    metric = metricOf(sf.string("metric", "ppl"), journal);
    run.settings.granularity = qstr(sf.string("granularity", "block"));
    run.settings.metric = qstr(metric_name(metric));
    run.settings.calibration.seqLen = static_cast<int>(sf.integer("seq_len", 0));
    run.settings.calibration.windows = static_cast<int>(sf.integer("windows", 0));
    run.calibrationLabel = qstr(head.string("calibration", ""));
    run.modelPath = qstr(jc.header.value("model", nlohmann::json::object()).value("dir", std::string()));
    if (search.contains("initial_removal")) {
      RemovalSet initial;
      initial.add_json(search["initial_removal"], journal);
      for (const std::string& id : initial.ids()) run.initialRemoved << qstr(id);
    }
    for (const nlohmann::json& rec : jc.records) {
      const std::string type = rec.value("type", "");
      if (type == "base") {
        res.base_ppl = rec.at("ppl").get<double>();
        run.basePpl = res.base_ppl;
        if (rec.contains("bench")) res.base_bench = BenchResult::from_json(rec["bench"]);
        if (rec.contains("accuracy")) res.base_accuracy = accuracy_from_json(rec["accuracy"], journal);
      } else if (type == "step") {
        res.steps.push_back(step_from_json(rec, metric, journal));
      }
    }
    run.journalPath = qstr(journal);
  }
  if (haveResult) {
    const nlohmann::json j = parse_json_lenient(read_file_bytes(result), result);
    const JsonFields f(j, result);
    run.totalParameters = f.integer("total_params", 0);
    run.stopReason = qstr(f.string("stop_reason", ""));
    run.state = QStringLiteral("finished");
    if (!haveJournal) {  // the result alone: its steps and base
      metric = metricOf(f.string("metric", "ppl"), result);
      run.settings.granularity = qstr(f.string("granularity", "block"));
      run.settings.metric = qstr(metric_name(metric));
      res.base_ppl = f.number("base_ppl", 0);
      run.basePpl = res.base_ppl;
      for (const nlohmann::json& s : j.value("steps", nlohmann::json::array()))
        res.steps.push_back(step_from_json(s, metric, result));
      if (j.contains("base_accuracy")) res.base_accuracy = accuracy_from_json(j["base_accuracy"], result);
    }
  }
  setBaseMeasurements(run, res);
  for (const SearchStep& s : res.steps) run.mergeStep(toStepRecord(s));
  if (run.totalParameters == 0)
    for (const StepRecord& s : run.steps)
      if (s.parametersRemovedPct > 0) {
        run.totalParameters = std::llround(static_cast<double>(s.parametersRemoved) * 100.0 / s.parametersRemovedPct);
        break;
      }
  if (run.initialRemoved.isEmpty()) run.unprunedPpl = run.basePpl;
  return run;
}

}  // namespace shedder::ui

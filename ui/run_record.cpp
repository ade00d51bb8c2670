// JSON and CSV forms of search run records (see run_record.h).
#include "run_record.h"

#include <QJsonArray>

#include <algorithm>

namespace shedder::ui {

namespace {

QJsonValue opt(const std::optional<double>& v) { return v ? QJsonValue(*v) : QJsonValue(QJsonValue::Null); }
std::optional<double> optFrom(const QJsonValue& v) {
  if (v.isDouble()) return v.toDouble();
  return std::nullopt;
}
QString csvNumber(double v) { return QString::number(v, 'g', 10); }
QString csvOpt(const std::optional<double>& v) { return v ? csvNumber(*v) : QString(); }
QJsonObject accJson(const QMap<QString, double>& m) {
  QJsonObject o;
  for (auto it = m.cbegin(); it != m.cend(); ++it) o.insert(it.key(), it.value());
  return o;
}
QMap<QString, double> accFrom(const QJsonValue& v) {
  QMap<QString, double> m;
  const QJsonObject o = v.toObject();
  for (auto it = o.begin(); it != o.end(); ++it)
    if (it.value().isDouble()) m.insert(it.key(), it.value().toDouble());
  return m;
}
QString csvTasks(const QStringList& tasks, const QMap<QString, double>& m) {
  QString out;
  for (const QString& t : tasks) out += QLatin1Char(',') + (m.contains(t) ? csvNumber(m.value(t)) : QString());
  return out;
}

}  // namespace

QJsonObject toJson(const StepRecord& s) {
  QJsonArray cands;
  for (const CandidateRecord& c : s.candidates) {
    QJsonObject cj{{"id", c.id}, {"index", c.index}, {"score", c.score}};
    if (c.lowerBound) cj.insert(QStringLiteral("lower_bound"), true);
    cands.append(cj);
  }
  return QJsonObject{{"step", s.step},
                     {"removed", s.id},
                     {"index", s.index},
                     {"score", s.score},
                     {"ppl", s.ppl},
                     {"heldout_ppl", opt(s.heldoutPpl)},
                     {"params_removed", double(s.parametersRemoved)},
                     {"params_removed_pct", s.parametersRemovedPct},
                     {"seconds", s.seconds},
                     {"latency_ms", opt(s.latencyMs)},
                     {"prefill_tokens_per_s", opt(s.prefillTokensPerS)},
                     {"peak_memory_mb", opt(s.peakMemoryMb)},
                     {"accuracy", opt(s.accuracy)},
                     {"task_accuracy", accJson(s.taskAccuracy)},
                     {"task_acc_norm", accJson(s.taskAccNorm)},
                     {"task_items", accJson(s.taskItems)},
                     {"candidates", cands}};
}

StepRecord stepFromJson(const QJsonObject& j) {
  StepRecord s;
  s.step = j.value("step").toInt();
  s.id = j.value("removed").toString();
  s.index = j.value("index").toInt();
  s.score = j.value("score").toDouble();
  s.ppl = j.value("ppl").toDouble();
  s.heldoutPpl = optFrom(j.value("heldout_ppl"));
  s.parametersRemoved = static_cast<qint64>(j.value("params_removed").toDouble());
  s.parametersRemovedPct = j.value("params_removed_pct").toDouble();
  s.seconds = j.value("seconds").toDouble();
  s.latencyMs = optFrom(j.value("latency_ms"));
  s.prefillTokensPerS = optFrom(j.value("prefill_tokens_per_s"));
  s.peakMemoryMb = optFrom(j.value("peak_memory_mb"));
  s.accuracy = optFrom(j.value("accuracy"));
  s.taskAccuracy = accFrom(j.value("task_accuracy"));
  s.taskAccNorm = accFrom(j.value("task_acc_norm"));
  s.taskItems = accFrom(j.value("task_items"));
  for (const QJsonValue& v : j.value("candidates").toArray()) {
    const QJsonObject c = v.toObject();
    s.candidates.push_back({c.value("id").toString(), c.value("index").toInt(), c.value("score").toDouble(),
                            c.value("lower_bound").toBool()});
  }
  return s;
}

void RunRecord::mergeStep(const StepRecord& s) {
  for (StepRecord& old : steps)
    if (old.step == s.step) {
      StepRecord merged = s;
      if (!merged.heldoutPpl) merged.heldoutPpl = old.heldoutPpl;
      if (!merged.latencyMs) merged.latencyMs = old.latencyMs;
      if (!merged.prefillTokensPerS) merged.prefillTokensPerS = old.prefillTokensPerS;
      if (!merged.peakMemoryMb) merged.peakMemoryMb = old.peakMemoryMb;
      if (!merged.accuracy) merged.accuracy = old.accuracy;
      if (merged.taskAccuracy.isEmpty()) {
        merged.taskAccuracy = old.taskAccuracy;
        merged.taskAccNorm = old.taskAccNorm;
        merged.taskItems = old.taskItems;
      }
      old = merged;
      return;
    }
  steps.push_back(s);
  std::sort(steps.begin(), steps.end(), [](const StepRecord& a, const StepRecord& b) { return a.step < b.step; });
}

QStringList RunRecord::removedIds() const {
  QStringList out;
  for (const StepRecord& s : steps) out << s.id;
  return out;
}

std::optional<double> RunRecord::pplBefore(int step) const {
  if (step <= 0) return basePpl;
  for (const StepRecord& s : steps)
    if (s.step == step - 1) return s.ppl;
  return std::nullopt;
}

QJsonObject RunRecord::toJson() const {
  QJsonArray st;
  for (const StepRecord& s : steps) st.append(ui::toJson(s));
  return QJsonObject{{"settings", ui::toJson(settings)},
                     {"model", modelPath},
                     {"calibration", calibrationLabel},
                     {"initial_removed", QJsonArray::fromStringList(initialRemoved)},
                     {"total_params", double(totalParameters)},
                     {"initial_params_removed", double(initialParametersRemoved)},
                     {"base_ppl", opt(basePpl)},
                     {"base_heldout_ppl", opt(baseHeldoutPpl)},
                     {"unpruned_ppl", opt(unprunedPpl)},
                     {"base_latency_ms", opt(baseLatencyMs)},
                     {"base_prefill_tokens_per_s", opt(basePrefillTokensPerS)},
                     {"base_peak_memory_mb", opt(basePeakMemoryMb)},
                     {"base_accuracy", opt(baseAccuracy)},
                     {"base_task_accuracy", accJson(baseTaskAccuracy)},
                     {"base_task_acc_norm", accJson(baseTaskAccNorm)},
                     {"base_task_items", accJson(baseTaskItems)},
                     {"steps", st},
                     {"state", state},
                     {"stop_reason", stopReason},
                     {"evaluations", double(evaluations)},
                     {"seconds", seconds},
                     {"journal", journalPath}};
}

RunRecord RunRecord::fromJson(const QJsonObject& j) {
  RunRecord r;
  r.settings = searchSettingsFromJson(j.value("settings").toObject());
  r.modelPath = j.value("model").toString();
  r.calibrationLabel = j.value("calibration").toString();
  for (const QJsonValue& v : j.value("initial_removed").toArray()) r.initialRemoved << v.toString();
  r.totalParameters = static_cast<qint64>(j.value("total_params").toDouble());
  r.initialParametersRemoved = static_cast<qint64>(j.value("initial_params_removed").toDouble());
  r.basePpl = optFrom(j.value("base_ppl"));
  r.baseHeldoutPpl = optFrom(j.value("base_heldout_ppl"));
  r.unprunedPpl = optFrom(j.value("unpruned_ppl"));
  r.baseLatencyMs = optFrom(j.value("base_latency_ms"));
  r.basePrefillTokensPerS = optFrom(j.value("base_prefill_tokens_per_s"));
  r.basePeakMemoryMb = optFrom(j.value("base_peak_memory_mb"));
  r.baseAccuracy = optFrom(j.value("base_accuracy"));
  r.baseTaskAccuracy = accFrom(j.value("base_task_accuracy"));
  r.baseTaskAccNorm = accFrom(j.value("base_task_acc_norm"));
  r.baseTaskItems = accFrom(j.value("base_task_items"));
  for (const QJsonValue& v : j.value("steps").toArray()) r.steps.push_back(stepFromJson(v.toObject()));
  r.state = j.value("state").toString(QStringLiteral("new"));
  r.stopReason = j.value("stop_reason").toString();
  r.evaluations = static_cast<qint64>(j.value("evaluations").toDouble());
  r.seconds = j.value("seconds").toDouble();
  r.journalPath = j.value("journal").toString();
  return r;
}

QString RunRecord::toCsv() const {
  QStringList tasks = baseTaskAccuracy.keys();
  for (const StepRecord& s : steps)
    for (const QString& t : s.taskAccuracy.keys())
      if (!tasks.contains(t)) tasks << t;
  QString out = QStringLiteral(
      "components_removed,removed_id,layer,score,ppl_calibration,ppl_heldout,params_removed,params_removed_pct,"
      "params_kept,latency_ms,accuracy,seconds,prefill_tokens_per_s,peak_memory_mb");
  for (const QString& t : tasks) out += QStringLiteral(",acc_") + t;
  out += QLatin1Char('\n');
  const int initial = initialRemoved.size();
  if (basePpl)
    out += QStringLiteral("%1,,,,%2,%3,%4,%5,%6,%7,%8,,%9,%10")
               .arg(initial)
               .arg(csvNumber(*basePpl), csvOpt(baseHeldoutPpl))
               .arg(initialParametersRemoved)
               .arg(csvNumber(totalParameters ? 100.0 * double(initialParametersRemoved) / double(totalParameters) : 0.0))
               .arg(totalParameters - initialParametersRemoved)
               .arg(csvOpt(baseLatencyMs), csvOpt(baseAccuracy), csvOpt(basePrefillTokensPerS), csvOpt(basePeakMemoryMb)) +
           csvTasks(tasks, baseTaskAccuracy) + QLatin1Char('\n');
  for (const StepRecord& s : steps)
    out += QStringLiteral("%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,")
               .arg(initial + s.step + 1)
               .arg(s.id)
               .arg(s.index)
               .arg(csvNumber(s.score), csvNumber(s.ppl), csvOpt(s.heldoutPpl))
               .arg(s.parametersRemoved)
               .arg(csvNumber(s.parametersRemovedPct))
               .arg(totalParameters - s.parametersRemoved)
               .arg(csvOpt(s.latencyMs), csvOpt(s.accuracy), csvNumber(s.seconds)) +
           csvOpt(s.prefillTokensPerS) + QLatin1Char(',') + csvOpt(s.peakMemoryMb) + csvTasks(tasks, s.taskAccuracy) +
           QLatin1Char('\n');
  return out;
}

}  // namespace shedder::ui

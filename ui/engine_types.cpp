// JSON forms and comparisons of the GUI's plain value types (see engine_types.h).
#include "engine_types.h"

#include <QJsonArray>

namespace shedder::ui {

namespace {

QJsonArray toArray(const QStringList& l) { return QJsonArray::fromStringList(l); }
QStringList toStrings(const QJsonValue& v) {
  QStringList out;
  for (const QJsonValue& e : v.toArray()) out << e.toString();
  return out;
}

}  // namespace

QString calibrationSourceName(CalibrationSource s) {
  switch (s) {
    case CalibrationSource::DemoSet: return QStringLiteral("demo");
    case CalibrationSource::TextFiles: return QStringLiteral("text");
    case CalibrationSource::TokenFile: return QStringLiteral("tokens");
  }
  return QStringLiteral("demo");
}

CalibrationSource parseCalibrationSource(const QString& s) {
  if (s == QLatin1String("text")) return CalibrationSource::TextFiles;
  if (s == QLatin1String("tokens")) return CalibrationSource::TokenFile;
  return CalibrationSource::DemoSet;
}

bool CalibrationSettings::operator==(const CalibrationSettings& o) const {
  return source == o.source && textFiles == o.textFiles && tokenFile == o.tokenFile && heldoutFiles == o.heldoutFiles &&
         seqLen == o.seqLen && windows == o.windows && seed == o.seed && batch == o.batch;
}

QJsonObject toJson(const CalibrationSettings& c) {
  return QJsonObject{{"source", calibrationSourceName(c.source)},
                     {"text_files", toArray(c.textFiles)},
                     {"token_file", c.tokenFile},
                     {"heldout_files", toArray(c.heldoutFiles)},
                     {"seq_len", c.seqLen},
                     {"windows", c.windows},
                     {"seed", QString::number(c.seed)},
                     {"batch", c.batch}};
}

CalibrationSettings calibrationFromJson(const QJsonObject& j) {
  CalibrationSettings c;
  c.source = parseCalibrationSource(j.value("source").toString());
  c.textFiles = toStrings(j.value("text_files"));
  c.tokenFile = j.value("token_file").toString();
  c.heldoutFiles = toStrings(j.value("heldout_files"));
  c.seqLen = j.value("seq_len").toInt(c.seqLen);
  c.windows = j.value("windows").toInt(c.windows);
  c.seed = j.value("seed").toString(QString::number(c.seed)).toULongLong();
  c.batch = j.value("batch").toInt(c.batch);
  return c;
}

QJsonObject toJson(const SearchSettings& s) {
  return QJsonObject{{"granularity", s.granularity},
                     {"metric", s.metric},
                     {"steps", s.steps},
                     {"target_params_pct", s.targetParamsPct},
                     {"max_ppl", s.maxPpl},
                     {"heldout_curve", s.heldoutCurve},
                     {"bench_per_step", s.benchPerStep},
                     {"demo_accuracy_per_step", s.demoAccuracyPerStep},
                     {"exhaustive", s.exhaustive},
                     {"calibration", toJson(s.calibration)},
                     {"run_dir", s.runDir}};
}

SearchSettings searchSettingsFromJson(const QJsonObject& j) {
  SearchSettings s;
  s.granularity = j.value("granularity").toString(s.granularity);
  s.metric = j.value("metric").toString(s.metric);
  s.steps = j.value("steps").toInt(s.steps);
  s.targetParamsPct = j.value("target_params_pct").toDouble(0);
  s.maxPpl = j.value("max_ppl").toDouble(0);
  s.heldoutCurve = j.value("heldout_curve").toBool(true);
  s.benchPerStep = j.value("bench_per_step").toBool(false);
  s.demoAccuracyPerStep = j.value("demo_accuracy_per_step").toBool(false);
  s.exhaustive = j.value("exhaustive").toBool(false);
  s.calibration = calibrationFromJson(j.value("calibration").toObject());
  s.runDir = j.value("run_dir").toString();
  return s;
}

QJsonObject toJson(const WhatIfResult& w) {
  return QJsonObject{{"removed", toArray(w.removed)},
                     {"base_ppl", w.basePpl},
                     {"ppl", w.ppl},
                     {"params_removed", double(w.parametersRemoved)},
                     {"params_removed_pct", w.parametersRemovedPct},
                     {"calibration", w.calibrationLabel},
                     {"windows", w.windows},
                     {"seq_len", w.seqLen},
                     {"seconds", w.seconds},
                     {"note", w.note}};
}

WhatIfResult whatIfFromJson(const QJsonObject& j) {
  WhatIfResult w;
  w.removed = toStrings(j.value("removed"));
  w.basePpl = j.value("base_ppl").toDouble();
  w.ppl = j.value("ppl").toDouble();
  w.parametersRemoved = static_cast<qint64>(j.value("params_removed").toDouble());
  w.parametersRemovedPct = j.value("params_removed_pct").toDouble();
  w.calibrationLabel = j.value("calibration").toString();
  w.windows = j.value("windows").toInt();
  w.seqLen = j.value("seq_len").toInt();
  w.seconds = j.value("seconds").toDouble();
  w.note = j.value("note").toString();
  return w;
}

}  // namespace shedder::ui

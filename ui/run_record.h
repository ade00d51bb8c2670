// The record of one search run as the GUI keeps, plots and saves it: base perplexities, one StepRecord per
// removal (calibration and held-out perplexity, parameters, every candidate's score, and optional latency /
// accuracy that the evaluation work fills in), plus its JSON form (project files) and CSV form (results export).
#pragma once

#include <QJsonObject>
#include <QMap>
#include <QMetaType>
#include <QString>
#include <QVector>

#include <optional>

#include "engine_types.h"

namespace shedder::ui {

struct CandidateRecord {
  QString id;
  int index = 0;
  double score = 0;   // ppl with this candidate removed (metric ppl) or 1 - cos (metric cosine)
  bool lowerBound = false;  // the search stopped it early as hopeless: `score` is a lower bound of its ppl
};

struct StepRecord {
  int step = 0;                       // 0-based; components removed after it = step + 1 (+ the initial set)
  QString id;                         // what was removed
  int index = 0;
  double score = 0;
  double ppl = 0;                     // calibration perplexity after the removal
  std::optional<double> heldoutPpl;   // held-out perplexity after the removal
  qint64 parametersRemoved = 0;       // cumulative
  double parametersRemovedPct = 0;
  double seconds = 0;
  // Optional per-step measurements (the search's "Measure latency" / "Demo-task accuracy" options).
  std::optional<double> latencyMs;    // decode latency, ms per token
  std::optional<double> prefillTokensPerS;
  std::optional<double> peakMemoryMb; // parameters + the larger activation peak, MiB
  std::optional<double> accuracy;     // mean acc over taskAccuracy, in [0, 1]
  QMap<QString, double> taskAccuracy; // acc per task (task name -> [0, 1])
  QMap<QString, double> taskAccNorm;  // acc_norm per multiple-choice task
  QMap<QString, double> taskItems;    // items scored per task (standard errors need it)
  QVector<CandidateRecord> candidates;
};

struct RunRecord {
  SearchSettings settings;
  QString modelPath;
  QString calibrationLabel;
  QStringList initialRemoved;          // component ids removed before the first step
  qint64 totalParameters = 0;
  qint64 initialParametersRemoved = 0;
  std::optional<double> basePpl;          // the run's start: the base model plus initialRemoved
  std::optional<double> unprunedPpl;      // the unpruned model on the same windows (= basePpl without initialRemoved)
  std::optional<double> baseHeldoutPpl;
  std::optional<double> baseLatencyMs;
  std::optional<double> basePrefillTokensPerS;
  std::optional<double> basePeakMemoryMb;
  std::optional<double> baseAccuracy;
  QMap<QString, double> baseTaskAccuracy;
  QMap<QString, double> baseTaskAccNorm;
  QMap<QString, double> baseTaskItems;
  QVector<StepRecord> steps;
  QString state = QStringLiteral("new");  // "running", "finished", "cancelled", "failed"
  QString stopReason;
  qint64 evaluations = 0;
  double seconds = 0;
  QString journalPath;

  bool empty() const { return !basePpl && steps.isEmpty(); }
  // Adds or replaces the step with the same number, keeping held-out/latency/accuracy values already known.
  void mergeStep(const StepRecord& s);
  // Component ids removed by the search steps, in order.
  QStringList removedIds() const;
  // Perplexity before step k (the base for k = 0).
  std::optional<double> pplBefore(int step) const;

  QJsonObject toJson() const;
  static RunRecord fromJson(const QJsonObject& j);
  // One row per point of the curves: components_removed 0 = the base model; one acc_<task> column per task.
  QString toCsv() const;
};

QJsonObject toJson(const StepRecord& s);
StepRecord stepFromJson(const QJsonObject& j);

}  // namespace shedder::ui

Q_DECLARE_METATYPE(shedder::ui::StepRecord)
Q_DECLARE_METATYPE(shedder::ui::RunRecord)

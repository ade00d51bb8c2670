// What the comparison window and `shedder-cli report` compare: sources (a run folder, a project, or an
// lm-evaluation-harness results file), the variants they offer — one row per chosen step of any run (base
// included) or per imported results file — and the tables and heatmap data made from them. No widgets here: the
// window (comparison_window.h) and the report writer (report_writer.h) share this code.
#pragma once

#include <QMap>
#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>

#include "report/text_table.h"
#include "run_record.h"

namespace shedder::ui {

struct TaskScore {
  std::optional<double> acc, accStderr, accNorm, accNormStderr;
};

struct ComparisonSource {
  QString path;   // what was opened
  QString label;  // short name used in legends and tables
  RunRecord run;  // empty for an imported results file
  bool imported = false;  // an lm-evaluation-harness results file: one variant row, no curve
  QString importedModel;
  QMap<QString, TaskScore> importedTasks;
  std::optional<double> importedPerplexity;
};

// Reads `path`: a .shedproj project; a run folder (its workbench.shedproj when it has one, else journal.jsonl /
// search_result.json), or either file; or a harness results_*.json. False with a message naming the file otherwise.
bool loadComparisonSource(const QString& path, ComparisonSource* out, QString* error);

// `label`, or "label (2)", "label (3)" ... when a source in `existing` already has it (two runs in folders of the
// same name keep distinct names in legends and in the report's file names).
QString uniqueLabel(const QVector<ComparisonSource>& existing, const QString& label);

struct VariantRow {
  QString key;      // "<source index>:<step>" (step -1: the run's start; "i:import" for a results file)
  int source = 0;
  int step = -1;
  QString variant;  // "blocks · step 3" / "blocks · start"
  QString removedId;          // what this step removed
  std::optional<int> removed; // components removed (initial set included)
  std::optional<qint64> parameters;
  std::optional<double> paramsKeptPct, calibPpl, heldoutPpl, decodeMs, prefillTokensPerS, peakMemoryMb;
  QMap<QString, TaskScore> tasks;
};

// Every variant of every source: the start and each step of a run; one row for an imported file.
QVector<VariantRow> variantRows(const QVector<ComparisonSource>& sources);
// The rows picked by default: each run's start and last step, and every imported file.
QStringList defaultRowKeys(const QVector<VariantRow>& rows);

// The harness's standard error of a mean of 0/1 scores: sqrt(p (1 - p) / (n - 1)); nullopt when n < 2.
std::optional<double> binaryStderr(double p, double n);

// Tables (columns with no value in any row are left out). Perplexities with 2 decimals (3 below 10), accuracies 4.
Table variantsTable(const QVector<VariantRow>& rows);
Table accuracyTable(const QVector<VariantRow>& rows);  // per task acc ± stderr and acc_norm ± stderr
Table stepsTable(const ComparisonSource& source);      // one row per search step

// A run's candidate scores as a component × step matrix (the importance heatmap). Δppl = the candidate's
// perplexity minus the step's start (metric ppl), or the score itself (cosine, accuracy); NaN where a component
// was not a candidate (already removed). Early-stopped candidates carry lower bounds.
struct HeatmapData {
  QStringList components;         // rows, in model order (layer, then id)
  int steps = 0;                  // columns
  QVector<QVector<double>> value; // [component][step]
  QVector<QVector<bool>> lowerBound;
  QVector<int> removedAt;         // per component: the step that removed it, -1 if none
  QString valueLabel;             // "Δ perplexity" / "1 − cosine" / "accuracy"
};
HeatmapData heatmapData(const RunRecord& run);
// The matrix as long CSV: component,step,value,lower_bound,removed (one line per candidate score; step 1-based).
QString heatmapCsv(const HeatmapData& h);

}  // namespace shedder::ui

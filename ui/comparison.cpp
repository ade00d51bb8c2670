// Comparison sources, variant rows, tables and heatmap data (see comparison.h).
#include <ATen/ATen.h>

#include "comparison.h"

#include <QDir>
#include <QFileInfo>

#include <algorithm>
#include <cmath>
#include <limits>

#include "eval/harness_results.h"
#include "formatting.h"
#include "project_file.h"
#include "run_import.h"
#include "util/error.h"

namespace shedder::ui {

namespace {

std::string s(const QString& q) { return q.toStdString(); }
QString q(const std::string& x) { return QString::fromStdString(x); }

bool loadProjectSource(const QString& file, ComparisonSource* out, QString* error) {
  ProjectState st;
  if (!loadProject(file, &st, error)) return false;
  if (st.run.empty()) {
    *error = file + QStringLiteral(": the project holds no search run to compare");
    return false;
  }
  out->run = st.run;
  const QFileInfo fi(file);
  out->label = fi.fileName() == QStringLiteral("workbench.shedproj") ? fi.dir().dirName() : fi.completeBaseName();
  return true;
}

int decimalsOf(double ppl) { return ppl < 10 ? 3 : 2; }

std::string pplText(std::optional<double> v) { return v ? fixed(v, decimalsOf(*v)) : std::string(); }

// A column is kept when some row has a value in it.
void dropEmptyColumns(Table& t, size_t keepFirst) {
  for (size_t c = t.header.size(); c-- > keepFirst;) {
    bool any = false;
    for (const auto& r : t.rows) any = any || !r[c].empty();
    if (any) continue;
    t.header.erase(t.header.begin() + static_cast<std::ptrdiff_t>(c));
    if (c < t.numeric.size()) t.numeric.erase(t.numeric.begin() + static_cast<std::ptrdiff_t>(c));
    for (auto& r : t.rows) r.erase(r.begin() + static_cast<std::ptrdiff_t>(c));
  }
}

QStringList taskNames(const QVector<VariantRow>& rows) {
  QStringList names;
  for (const VariantRow& r : rows)
    for (auto it = r.tasks.cbegin(); it != r.tasks.cend(); ++it)
      if (!names.contains(it.key())) names << it.key();
  return names;
}

QMap<QString, TaskScore> runTasks(const QMap<QString, double>& acc, const QMap<QString, double>& accNorm,
                                  const QMap<QString, double>& items) {
  QMap<QString, TaskScore> out;
  for (auto it = acc.cbegin(); it != acc.cend(); ++it) {
    TaskScore t;
    t.acc = it.value();
    const double n = items.value(it.key(), 0);
    t.accStderr = binaryStderr(it.value(), n);
    if (accNorm.contains(it.key())) {
      t.accNorm = accNorm.value(it.key());
      t.accNormStderr = binaryStderr(*t.accNorm, n);
    }
    out.insert(it.key(), t);
  }
  return out;
}

}  // namespace

bool loadComparisonSource(const QString& path, ComparisonSource* out, QString* error) {
  *out = ComparisonSource{};
  out->path = path;
  const QFileInfo fi(path);
  if (!fi.exists()) {
    *error = path + QStringLiteral(": no such file or folder");
    return false;
  }
  try {
    if (fi.isDir()) {
      const QString project = QDir(path).filePath(QStringLiteral("workbench.shedproj"));
      if (QFileInfo::exists(project)) return loadProjectSource(project, out, error);
      out->run = readRunFolder(path);
      out->label = QDir(path).dirName();
      return true;
    }
    if (fi.suffix() == QLatin1String(kProjectSuffix)) return loadProjectSource(path, out, error);
    if (fi.fileName() == QStringLiteral("journal.jsonl") || fi.fileName() == QStringLiteral("search_result.json")) {
      out->run = readRunFolder(path);
      out->label = fi.dir().dirName();
      return true;
    }
    const HarnessResultsFile h = read_harness_results(s(path));
    out->imported = true;
    out->importedModel = q(h.model);
    out->label = QFileInfo(q(h.model)).fileName();
    if (out->label.isEmpty()) out->label = fi.completeBaseName();
    for (const HarnessTaskScores& t : h.tasks) {
      if (t.perplexity && !t.acc) {
        if (!out->importedPerplexity) out->importedPerplexity = t.perplexity;
        continue;
      }
      out->importedTasks.insert(q(t.task), TaskScore{t.acc, t.acc_stderr, t.acc_norm, t.acc_norm_stderr});
    }
    return true;
  } catch (const std::exception& e) {
    *error = QString::fromStdString(e.what());
    return false;
  }
}

QString uniqueLabel(const QVector<ComparisonSource>& existing, const QString& label) {
  auto taken = [&](const QString& l) {
    return std::any_of(existing.begin(), existing.end(), [&](const ComparisonSource& s) { return s.label == l; });
  };
  if (!taken(label)) return label;
  for (int k = 2;; ++k)
    if (!taken(QStringLiteral("%1 (%2)").arg(label).arg(k))) return QStringLiteral("%1 (%2)").arg(label).arg(k);
}

std::optional<double> binaryStderr(double p, double n) {
  if (!(n >= 2) || !std::isfinite(p)) return std::nullopt;
  return binary_mean_stderr(p, static_cast<int64_t>(std::llround(n)));
}

QVector<VariantRow> variantRows(const QVector<ComparisonSource>& sources) {
  QVector<VariantRow> rows;
  for (int i = 0; i < sources.size(); ++i) {
    const ComparisonSource& src = sources[i];
    if (src.imported) {
      VariantRow r;
      r.key = QStringLiteral("%1:import").arg(i);
      r.source = i;
      r.step = -2;
      r.variant = src.label + QStringLiteral(" · harness");
      r.calibPpl = std::nullopt;
      r.tasks = src.importedTasks;
      rows.push_back(r);
      continue;
    }
    const RunRecord& run = src.run;
    const double total = static_cast<double>(run.totalParameters);
    auto kept = [&](qint64 removed, VariantRow& r) {
      if (run.totalParameters <= 0) return;
      r.parameters = run.totalParameters - removed;
      r.paramsKeptPct = 100.0 * static_cast<double>(*r.parameters) / total;
    };
    VariantRow base;
    base.key = QStringLiteral("%1:-1").arg(i);
    base.source = i;
    base.variant = src.label + (run.initialRemoved.isEmpty() ? QStringLiteral(" · base") : QStringLiteral(" · start"));
    base.removed = static_cast<int>(run.initialRemoved.size());
    kept(run.initialParametersRemoved, base);
    base.calibPpl = run.basePpl;
    base.heldoutPpl = run.baseHeldoutPpl;
    base.decodeMs = run.baseLatencyMs;
    base.prefillTokensPerS = run.basePrefillTokensPerS;
    base.peakMemoryMb = run.basePeakMemoryMb;
    base.tasks = runTasks(run.baseTaskAccuracy, run.baseTaskAccNorm, run.baseTaskItems);
    rows.push_back(base);
    for (const StepRecord& st : run.steps) {
      VariantRow r;
      r.key = QStringLiteral("%1:%2").arg(i).arg(st.step);
      r.source = i;
      r.step = st.step;
      r.variant = src.label + QStringLiteral(" · step %1").arg(st.step + 1);
      r.removedId = st.id;
      r.removed = static_cast<int>(run.initialRemoved.size()) + st.step + 1;
      kept(st.parametersRemoved, r);
      r.calibPpl = st.ppl;
      r.heldoutPpl = st.heldoutPpl;
      r.decodeMs = st.latencyMs;
      r.prefillTokensPerS = st.prefillTokensPerS;
      r.peakMemoryMb = st.peakMemoryMb;
      r.tasks = runTasks(st.taskAccuracy, st.taskAccNorm, st.taskItems);
      rows.push_back(r);
    }
  }
  return rows;
}

QStringList defaultRowKeys(const QVector<VariantRow>& rows) {
  QStringList keys;
  for (int k = 0; k < rows.size(); ++k) {
    const VariantRow& r = rows[k];
    const bool lastOfRun = r.step >= 0 && (k + 1 == rows.size() || rows[k + 1].source != r.source);
    if (r.step == -1 || r.step == -2 || lastOfRun) keys << r.key;
  }
  return keys;
}

Table variantsTable(const QVector<VariantRow>& rows) {
  Table t;
  t.caption = "Variants";
  t.label = "tab:variants";
  const QStringList tasks = taskNames(rows);
  t.header = {"variant", "last removed", "components", "parameters (M)", "kept (%)", "calibration ppl \xE2\x86\x93",
              "held-out ppl \xE2\x86\x93"};
  for (const QString& task : tasks) {
    t.header.push_back(s(task) + " acc \xE2\x86\x91");
    t.header.push_back(s(task) + " acc_norm \xE2\x86\x91");
  }
  for (const char* h : {"decode ms/token \xE2\x86\x93", "prefill tok/s \xE2\x86\x91", "peak memory (MiB) \xE2\x86\x93"})
    t.header.push_back(h);
  t.numeric.assign(t.header.size(), true);
  t.numeric[0] = t.numeric[1] = false;
  for (const VariantRow& r : rows) {
    std::vector<std::string> c{s(r.variant), s(r.removedId), r.removed ? std::to_string(*r.removed) : std::string(),
                               r.parameters ? fixed(static_cast<double>(*r.parameters) / 1e6, 3) : std::string(),
                               fixed(r.paramsKeptPct, 1), pplText(r.calibPpl), pplText(r.heldoutPpl)};
    for (const QString& task : tasks) {
      const TaskScore ts = r.tasks.value(task);
      c.push_back(fixed(ts.acc, 4));
      c.push_back(fixed(ts.accNorm, 4));
    }
    c.push_back(fixed(r.decodeMs, 3));
    c.push_back(fixed(r.prefillTokensPerS, 0));
    c.push_back(fixed(r.peakMemoryMb, 1));
    t.rows.push_back(std::move(c));
  }
  dropEmptyColumns(t, 1);
  return t;
}

Table accuracyTable(const QVector<VariantRow>& rows) {
  Table t;
  t.caption = "Zero-shot accuracy (standard errors as lm-evaluation-harness computes them)";
  t.label = "tab:accuracy";
  t.header = {"variant", "task", "acc \xE2\x86\x91", "acc_norm \xE2\x86\x91"};
  t.numeric = {false, false, true, true};
  const QStringList tasks = taskNames(rows);
  for (const VariantRow& r : rows)
    for (const QString& task : tasks) {
      if (!r.tasks.contains(task)) continue;
      const TaskScore ts = r.tasks.value(task);
      t.rows.push_back({s(r.variant), s(task), with_stderr(ts.acc, ts.accStderr, 4),
                        with_stderr(ts.accNorm, ts.accNormStderr, 4)});
    }
  dropEmptyColumns(t, 2);
  return t;
}

Table stepsTable(const ComparisonSource& src) {
  const RunRecord& run = src.run;
  Table t;
  t.caption = s(src.label) + ": search steps (" + s(run.settings.granularity) + ", metric " + s(run.settings.metric) + ")";
  t.label = "tab:steps-" + s(fileSlug(src.label));
  t.header = {"step", "removed", "components", "kept (%)", "calibration ppl", "\xCE\x94 vs start", "held-out ppl",
              "decode ms/token", "mean acc"};
  t.numeric = {true, false, true, true, true, true, true, true, true};
  const auto start = run.basePpl;
  t.rows.push_back({"0", "(start)", std::to_string(run.initialRemoved.size()),
                    run.totalParameters > 0 ? fixed(100.0 - 100.0 * static_cast<double>(run.initialParametersRemoved) /
                                                                static_cast<double>(run.totalParameters), 1)
                                            : std::string(),
                    pplText(start), "", pplText(run.baseHeldoutPpl), fixed(run.baseLatencyMs, 3),
                    fixed(run.baseAccuracy, 4)});
  for (const StepRecord& st : run.steps) {
    const std::string delta = start ? (st.ppl >= *start ? "+" : "") + fixed(st.ppl - *start, decimalsOf(st.ppl))
                                    : std::string();
    t.rows.push_back({std::to_string(st.step + 1), s(st.id), std::to_string(run.initialRemoved.size() + st.step + 1),
                      fixed(100.0 - st.parametersRemovedPct, 1), pplText(st.ppl), delta, pplText(st.heldoutPpl),
                      fixed(st.latencyMs, 3), fixed(st.accuracy, 4)});
  }
  dropEmptyColumns(t, 2);
  return t;
}

HeatmapData heatmapData(const RunRecord& run) {
  HeatmapData h;
  h.steps = run.steps.size();
  const bool ppl = run.settings.metric == QStringLiteral("ppl");
  h.valueLabel = ppl ? QStringLiteral("\u0394 perplexity")
                     : run.settings.metric == QStringLiteral("cosine") ? QStringLiteral("1 \u2212 cosine")
                                                                       : QStringLiteral("accuracy");
  struct Key {
    int index;
    QString id;
  };
  QVector<Key> keys;
  for (const StepRecord& st : run.steps) {
    for (const CandidateRecord& c : st.candidates)
      if (std::none_of(keys.begin(), keys.end(), [&](const Key& k) { return k.id == c.id; })) keys.push_back({c.index, c.id});
    if (std::none_of(keys.begin(), keys.end(), [&](const Key& k) { return k.id == st.id; })) keys.push_back({st.index, st.id});
  }
  auto natural = [](const QString& a, const QString& b) {  // "layers.10" after "layers.9"
    const QStringList pa = a.split(QLatin1Char('.')), pb = b.split(QLatin1Char('.'));
    for (int i = 0; i < std::min(pa.size(), pb.size()); ++i) {
      bool oa = false, ob = false;
      const int na = pa[i].toInt(&oa), nb = pb[i].toInt(&ob);
      if (oa && ob && na != nb) return na < nb;
      if (!(oa && ob) && pa[i] != pb[i]) return pa[i] < pb[i];
    }
    return pa.size() < pb.size();
  };
  std::stable_sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) { return natural(a.id, b.id); });
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Key& k : keys) {
    h.components << k.id;
    h.value.push_back(QVector<double>(h.steps, nan));
    h.lowerBound.push_back(QVector<bool>(h.steps, false));
    h.removedAt.push_back(-1);
  }
  for (int col = 0; col < run.steps.size(); ++col) {
    const StepRecord& st = run.steps[col];
    const double start = ppl ? run.pplBefore(st.step).value_or(nan) : 0.0;
    for (const CandidateRecord& c : st.candidates) {
      const int row = h.components.indexOf(c.id);
      h.value[row][col] = c.score - start;
      h.lowerBound[row][col] = c.lowerBound;
    }
    h.removedAt[h.components.indexOf(st.id)] = col;
  }
  return h;
}

QString heatmapCsv(const HeatmapData& h) {
  QString out = QStringLiteral("component,step,value,lower_bound,removed\n");
  for (int r = 0; r < h.components.size(); ++r)
    for (int c = 0; c < h.steps; ++c) {
      if (!std::isfinite(h.value[r][c])) continue;  // not a candidate at that step
      out += h.components[r] + QStringLiteral(",%1,").arg(c + 1) + QString::number(h.value[r][c], 'g', 10) +
             (h.lowerBound[r][c] ? QStringLiteral(",1,") : QStringLiteral(",0,")) +
             (h.removedAt[r] == c ? QStringLiteral("1\n") : QStringLiteral("0\n"));
    }
  return out;
}

}  // namespace shedder::ui

// The report: figures, their data and tables of a comparison (see report_writer.h).
#include "report_writer.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <memory>
#include <vector>

#include "comparison_plots.h"
#include "formatting.h"

namespace shedder::ui {

namespace {

constexpr const char* kManifest = "report.json";

QString writeText(const QString& path, const QByteArray& text) {
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || f.write(text) != text.size() || !f.commit())
    return QStringLiteral("%1: cannot write: %2").arg(path, f.errorString());
  return {};
}

// An empty folder, a new one, or one of our reports.
QString prepareFolder(const QString& dir) {
  const QFileInfo fi(dir);
  if (fi.exists() && !fi.isDir()) return QStringLiteral("%1: not a folder").arg(dir);
  if (fi.exists()) {
    const bool empty = QDir(dir).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System);
    const QString manifest = QDir(dir).filePath(QLatin1String(kManifest));
    if (!empty) {
      QFile f(manifest);
      const QJsonObject o = f.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(f.readAll()).object() : QJsonObject();
      if (o.value(QStringLiteral("kind")).toString() != QStringLiteral("mamba-shedder-report"))
        return QStringLiteral("%1: the folder holds other files (no report.json of an earlier report); choose an empty "
                              "or new folder")
            .arg(dir);
    }
    return {};
  }
  if (!QDir().mkpath(dir)) return QStringLiteral("%1: cannot create the folder").arg(dir);
  return {};
}

struct Figure {
  QString slug;
  std::unique_ptr<PlotView> plot;
};

std::vector<Figure> makeFigures(const QVector<ComparisonSource>& sources, const QStringList& picked) {
  std::vector<Figure> out;
  std::vector<std::pair<CurveQuantity, CurveAxis>> curves;
  for (CurveQuantity q : {CurveQuantity::Perplexity, CurveQuantity::HeldoutPerplexity, CurveQuantity::Accuracy,
                          CurveQuantity::Latency})
    for (CurveAxis a : {CurveAxis::ComponentsRemoved, CurveAxis::ParametersKept}) curves.push_back({q, a});
  for (const auto& [q, a] : curves) {
    auto p = std::make_unique<ComparisonCurvePlot>(q, a);
    p->resize(900, 600);
    p->setData(sources, picked);
    if (!p->hasData()) continue;
    const QString slug = p->slug();
    out.push_back({slug, std::move(p)});
  }
  for (const ComparisonSource& s : sources) {
    if (s.imported) continue;
    auto h = std::make_unique<HeatmapPlot>();
    h->resize(900, 600);
    h->setRun(s.run, s.label);
    if (!h->hasData()) continue;
    out.push_back({QStringLiteral("heatmap_") + fileSlug(s.label), std::move(h)});
  }
  return out;
}

}  // namespace

QString writeReport(const QVector<ComparisonSource>& sources, const ReportOptions& o, QStringList* written) {
  written->clear();
  if (sources.isEmpty()) return QStringLiteral("report: nothing to compare (no runs or results given)");
  if (const QString e = prepareFolder(o.outDir); !e.isEmpty()) return e;
  const QDir dir(o.outDir);
  // The folder is marked as a report before anything else goes in, so that a report that fails half-way (a full
  // disk) can be written again into the same folder; report.json is rewritten with the files at the end.
  const QJsonObject started{{"kind", "mamba-shedder-report"}, {"complete", false}};
  if (const QString e = writeText(dir.filePath(QLatin1String(kManifest)), QJsonDocument(started).toJson()); !e.isEmpty())
    return e;
  const QVector<VariantRow> all = variantRows(sources);
  QStringList keys = o.rows.isEmpty() ? defaultRowKeys(all) : o.rows;
  QVector<VariantRow> picked;
  for (const VariantRow& r : all)
    if (o.allRows || keys.contains(r.key)) picked.push_back(r);
  if (o.allRows) {
    keys.clear();
    for (const VariantRow& r : all) keys << r.key;
  }

  // Figures, each with its data.
  for (const Figure& f : makeFigures(sources, keys)) {
    for (FigureFormat fmt : o.formats) {
      FigureOptions fo = o.figure;
      fo.format = fmt;
      fo.title = f.plot->title();
      fo.dataCsv = f.plot->figureDataCsv();
      fo.writeData = true;
      const QString path = dir.filePath(f.slug + QLatin1Char('.') + figureSuffix(fmt));
      if (const QString e = exportFigure(f.plot->plot(), path, fo); !e.isEmpty()) return e;
      *written << QFileInfo(path).fileName();
    }
    *written << f.slug + QStringLiteral(".csv");
  }

  // Tables.
  QVector<std::pair<QString, Table>> tables{{QStringLiteral("variants"), variantsTable(picked)}};
  const Table acc = accuracyTable(picked);
  if (!acc.rows.empty()) tables.push_back({QStringLiteral("accuracy"), acc});
  for (const ComparisonSource& s : sources)
    if (!s.imported && !s.run.steps.isEmpty()) tables.push_back({QStringLiteral("steps_") + fileSlug(s.label), stepsTable(s)});
  for (const auto& [name, table] : tables)
    for (TableFormat tf : o.tables) {
      const QString file = name + QLatin1Char('.') + QLatin1String(table_suffix(tf));
      if (const QString e = writeText(dir.filePath(file), QByteArray::fromStdString(write_table(table, tf))); !e.isEmpty())
        return e;
      *written << file;
    }

  QJsonArray src, rows;
  for (const ComparisonSource& s : sources)
    src.append(QJsonObject{{"label", s.label}, {"path", QFileInfo(s.path).absoluteFilePath()},
                           {"kind", s.imported ? QStringLiteral("harness results") : QStringLiteral("run")}});
  for (const VariantRow& r : picked) rows.append(QJsonObject{{"key", r.key}, {"variant", r.variant}});
  *written << QLatin1String(kManifest);
  const QJsonObject manifest{{"kind", "mamba-shedder-report"},
                             {"complete", true},
                             {"created", QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
                             {"sources", src},
                             {"rows", rows},
                             {"files", QJsonArray::fromStringList(*written)}};
  return writeText(dir.filePath(QLatin1String(kManifest)), QJsonDocument(manifest).toJson());
}

}  // namespace shedder::ui

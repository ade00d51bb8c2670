// The comparison as files: every figure the comparison window shows (the overlaid curves with data, each run's
// importance heatmap) in the chosen formats with its data as CSV beside it, and the tables (variants, accuracy per
// task with standard errors, each run's steps) as Markdown, LaTeX and CSV, plus report.json listing what was
// written. The comparison window's Write Report… and `shedder-cli report` both call writeReport().
#pragma once

#include <QList>
#include <QString>
#include <QStringList>
#include <QVector>

#include "comparison.h"
#include "figure_export.h"

namespace shedder::ui {

struct ReportOptions {
  QString outDir;
  QList<FigureFormat> formats{FigureFormat::Png};
  QList<TableFormat> tables{TableFormat::Markdown, TableFormat::Latex, TableFormat::Csv};
  FigureOptions figure;  // size, DPI, style (the format is set per file)
  QStringList rows;      // the variant rows of the tables and the ringed points (keys); empty: defaultRowKeys
  bool allRows = false;  // every step of every run
};

// Writes the report into options.outDir: created when missing; an empty folder or one holding an earlier report
// (its report.json) is used, any other is refused. Returns "" and the files written (relative to outDir), or a
// message naming the file and the problem.
QString writeReport(const QVector<ComparisonSource>& sources, const ReportOptions& options, QStringList* written);

}  // namespace shedder::ui

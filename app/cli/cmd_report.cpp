// `shedder-cli report SOURCE... --out DIR`: the comparison window's report, headless. Sources are run folders
// (journal.jsonl / search_result.json, or the workbench's project in it), workbench projects and lm-evaluation-harness
// results files; out come the overlaid curves and each run's importance heatmap as figures (with their data as CSV)
// and the variants, accuracy and step tables as Markdown, LaTeX and CSV. It renders with the GUI's own plot and
// table code (ui/report_writer.h) on Qt's offscreen platform, so no display is needed.
#include <QApplication>
#include <QString>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "comparison.h"
#include "report_writer.h"
#include "util/error.h"

namespace shedder::cli {

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

QSizeF parse_size(const std::string& s) {
  const size_t x = s.find('x');
  char* end = nullptr;
  const double w = x == std::string::npos ? 0 : std::strtod(s.substr(0, x).c_str(), &end);
  const double h = x == std::string::npos ? 0 : std::strtod(s.substr(x + 1).c_str(), &end);
  if (!(w >= 1 && h >= 1 && w <= 200 && h <= 200))
    throw Error("report: --size must be WIDTHxHEIGHT in cm, each between 1 and 200 (got '" + s + "')");
  return {w, h};
}

ui::ReportOptions report_options(const Args& args) {
  ui::ReportOptions o;
  o.outDir = QString::fromStdString(args.get("out"));
  o.formats.clear();
  for (const std::string& f : split_list(args.get("format"))) {
    ui::FigureFormat ff;
    if (!ui::figureFormatFromPath(QString::fromStdString("x." + f), &ff))
      throw Error("report: --format takes png, svg and pdf (got '" + f + "')");
    o.formats << ff;
  }
  o.tables.clear();
  for (const std::string& t : split_list(args.get("tables"))) {
    const auto tf = parse_table_format(t);
    if (!tf) throw Error("report: --tables takes md, tex and csv (got '" + t + "')");
    o.tables << *tf;
  }
  const std::string style = args.get("style");
  if (style != "paper" && style != "screen") throw Error("report: --style must be paper or screen (got '" + style + "')");
  o.figure.style = style == "paper" ? ui::FigureStyle::Paper : ui::FigureStyle::Screen;
  o.figure.serif = args.flag("serif");
  o.figure.lineWidthPt = args.get_double("line-width");
  if (!(o.figure.lineWidthPt >= 0.25 && o.figure.lineWidthPt <= 4))
    throw Error("report: --line-width must be between 0.25 and 4 points");
  o.figure.sizeCm = parse_size(args.get("size"));
  o.figure.dpi = static_cast<int>(args.get_int("dpi"));
  if (o.figure.dpi < 30 || o.figure.dpi > 2400) throw Error("report: --dpi must be between 30 and 2400");
  o.figure.showTitle = args.flag("titles");
  o.allRows = args.flag("all-steps");
  return o;
}

}  // namespace

int cmd_report(const Args& args) {
  if (args.positional().empty()) throw Error("report: give at least one run folder, project or results file");
  if (!args.has("out")) throw Error("report: --out DIR is required");
  const ui::ReportOptions options = report_options(args);
  // The figures are drawn by Qt widgets: offscreen unless the caller chose a platform.
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  // Qt's notes about the session (no XDG_RUNTIME_DIR under a batch system) are not the report's business.
  qInstallMessageHandler([](QtMsgType type, const QMessageLogContext&, const QString& msg) {
    if (type == QtFatalMsg || (type >= QtCriticalMsg && !msg.startsWith(QStringLiteral("QStandardPaths"))))
      std::fprintf(stderr, "shedder-cli: report: %s\n", msg.toLocal8Bit().constData());
  });
  static int argc = 1;
  static char name[] = "shedder-cli";
  static char* argv[] = {name, nullptr};
  QApplication app(argc, argv);

  QVector<ui::ComparisonSource> sources;
  for (const std::string& p : args.positional()) {
    ui::ComparisonSource s;
    QString error;
    if (!ui::loadComparisonSource(QString::fromStdString(p), &s, &error)) throw Error(error.toStdString());
    s.label = ui::uniqueLabel(sources, s.label);  // two runs in folders of the same name keep distinct names
    sources.push_back(s);
  }
  QStringList written;
  const QString error = ui::writeReport(sources, options, &written);
  if (!error.isEmpty()) throw Error(error.toStdString());
  std::printf("report: %d source(s) -> %s\n", static_cast<int>(sources.size()), options.outDir.toStdString().c_str());
  for (const QString& f : written) std::printf("  %s\n", f.toStdString().c_str());
  return 0;
}

}  // namespace shedder::cli

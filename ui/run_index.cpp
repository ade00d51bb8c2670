// The autosaved runs on disk (see run_index.h).
#include "run_index.h"

#include <QDir>
#include <QFileInfo>

#include <algorithm>

#include "project_file.h"

namespace shedder::ui {

namespace {

const QString kJournal = QStringLiteral("journal.jsonl");
QString projectName() { return QStringLiteral("workbench.") + QLatin1String(kProjectSuffix); }

bool isRun(const QDir& d) { return d.exists(kJournal) || d.exists(projectName()); }

// Steps in a journal without a project file: its "step" records.
int journalSteps(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return 0;
  int n = 0;
  while (!f.atEnd()) n += f.readLine().contains("\"type\":\"step\"");
  return n;
}

}  // namespace

QVector<RunSummary> listRuns(const QString& root) {
  QVector<RunSummary> out;
  const QDir top(root);
  for (const QFileInfo& fi : top.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot)) {
    const QDir d(fi.absoluteFilePath());
    if (!isRun(d)) continue;
    RunSummary r;
    r.dir = fi.absoluteFilePath();
    r.date = fi.lastModified();
    ProjectState p;
    QString err;
    if (d.exists(projectName()) && loadProject(d.filePath(projectName()), &p, &err)) {
      r.project = d.filePath(projectName());
      r.model = QFileInfo(p.run.modelPath.isEmpty() ? p.modelPath : p.run.modelPath).fileName();
      r.granularity = p.run.settings.granularity;
      r.state = p.run.state;
      r.steps = static_cast<int>(p.run.steps.size());
      if (!p.run.steps.isEmpty()) r.finalPpl = p.run.steps.back().ppl;
      else r.finalPpl = p.run.basePpl;
      r.date = QFileInfo(r.project).lastModified();
    } else {
      r.state = QStringLiteral("unfinished (journal only)");
      r.steps = journalSteps(d.filePath(kJournal));
    }
    out << r;
  }
  std::sort(out.begin(), out.end(), [](const RunSummary& a, const RunSummary& b) { return a.date > b.date; });
  return out;
}

QString deleteRun(const QString& root, const QString& dir) {
  const QFileInfo fi(dir);
  if (!fi.isDir()) return QStringLiteral("%1: not a folder").arg(dir);
  if (QFileInfo(fi.absolutePath()).canonicalFilePath() != QFileInfo(root).canonicalFilePath())
    return QStringLiteral("%1: not in the runs folder %2").arg(dir, root);
  if (!isRun(QDir(dir))) return QStringLiteral("%1: not a run folder (no journal.jsonl or %2)").arg(dir, projectName());
  if (!QDir(dir).removeRecursively()) return QStringLiteral("%1: could not delete every file").arg(dir);
  return {};
}

}  // namespace shedder::ui

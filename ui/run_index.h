// The autosaved runs on disk: every search run gets its own folder under the runs folder (journal.jsonl, the
// pruning configs, search_result.json, workbench.shedproj). This lists them with what a user picks one by (model,
// date, granularity, steps, final perplexity) and deletes one — only a folder that is one of ours.
#pragma once

#include <QDateTime>
#include <QString>
#include <QVector>

#include <optional>

namespace shedder::ui {

struct RunSummary {
  QString dir;        // the run folder
  QString project;    // its workbench.shedproj ("" when the run has only a journal, e.g. it was killed)
  QString model;      // the model folder's name
  QString granularity;
  QString state;      // finished, cancelled, failed, running (an unfinished journal)
  QDateTime date;     // when the run folder was last written
  int steps = 0;
  std::optional<double> finalPpl;  // calibration perplexity after the last step (the start's when no step)
};

// The run folders directly under `root`, newest first. A folder is a run when it holds journal.jsonl or
// workbench.shedproj; anything else is left out.
QVector<RunSummary> listRuns(const QString& root);

// Deletes the run folder `dir` (directly under `root`, and a run by the rule above). "" or why not.
QString deleteRun(const QString& root, const QString& dir);

}  // namespace shedder::ui

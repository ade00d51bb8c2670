// Workbench project files (*.shedproj, JSON): the model folder, the search settings, the marked components,
// the last run (every step with its candidates, so its plots come back) and the what-if evaluations.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>

#include "engine_types.h"
#include "run_record.h"

namespace shedder::ui {

struct ProjectState {
  QString modelPath;
  SearchSettings settings;
  QStringList marked;
  // What the tree shows as removed when it is not the run's removals (a component was restored, or the tree was
  // reset to the base model); absent: the run's removals.
  std::optional<QStringList> treeRemoved;
  RunRecord run;
  QVector<WhatIfResult> whatIf;
};

inline constexpr const char* kProjectSuffix = "shedproj";

// Writes atomically; returns "" or an error message naming the file.
QString saveProject(const QString& path, const ProjectState& state);
// Reads a project; on failure returns false with a message naming the file and the problem.
bool loadProject(const QString& path, ProjectState* state, QString* error);

}  // namespace shedder::ui

// Project files (see project_file.h).
#include "project_file.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace shedder::ui {

namespace {
const char* kFormat = "mamba-shedder-workbench-project";
constexpr int kVersion = 1;
}  // namespace

QString saveProject(const QString& path, const ProjectState& s) {
  QJsonArray whatIf;
  for (const WhatIfResult& w : s.whatIf) whatIf.append(toJson(w));
  // The model path is stored absolute and relative to the project, so a moved folder pair still opens.
  const QString abs = QFileInfo(s.modelPath).absoluteFilePath();
  QJsonObject root{{"format", kFormat},
                         {"version", kVersion},
                         {"model", abs},
                         {"model_relative", s.modelPath.isEmpty() ? QString() : QFileInfo(path).absoluteDir().relativeFilePath(abs)},
                         {"settings", toJson(s.settings)},
                         {"marked", QJsonArray::fromStringList(s.marked)},
                         {"run", s.run.toJson()},
                         {"what_if", whatIf}};
  if (s.treeRemoved) root.insert(QStringLiteral("tree_removed"), QJsonArray::fromStringList(*s.treeRemoved));
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write: %2").arg(path, f.errorString());
  f.write(QJsonDocument(root).toJson(QJsonDocument::Indented));
  if (!f.commit()) return QStringLiteral("%1: cannot write: %2").arg(path, f.errorString());
  return {};
}

bool loadProject(const QString& path, ProjectState* s, QString* error) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    *error = QStringLiteral("%1: cannot open: %2").arg(path, f.errorString());
    return false;
  }
  QJsonParseError pe;
  const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &pe);
  if (pe.error != QJsonParseError::NoError) {
    *error = QStringLiteral("%1: not valid JSON (%2 at offset %3)").arg(path, pe.errorString()).arg(pe.offset);
    return false;
  }
  const QJsonObject root = doc.object();
  if (root.value("format").toString() != QLatin1String(kFormat)) {
    *error = QStringLiteral("%1: not a Mamba Shedder Workbench project (no \"format\": \"%2\")").arg(path, QLatin1String(kFormat));
    return false;
  }
  if (root.value("version").toInt() > kVersion) {
    *error = QStringLiteral("%1: written by a newer version (project format %2; this program reads %3)")
                 .arg(path)
                 .arg(root.value("version").toInt())
                 .arg(kVersion);
    return false;
  }
  ProjectState out;
  out.modelPath = root.value("model").toString();
  const QString rel = root.value("model_relative").toString();
  if (!out.modelPath.isEmpty() && !QFileInfo(out.modelPath).isDir() && !rel.isEmpty()) {
    const QString alt = QFileInfo(path).absoluteDir().filePath(rel);
    if (QFileInfo(alt).isDir()) out.modelPath = QDir::cleanPath(alt);
  }
  out.settings = searchSettingsFromJson(root.value("settings").toObject());
  for (const QJsonValue& v : root.value("marked").toArray()) out.marked << v.toString();
  if (root.contains(QStringLiteral("tree_removed"))) {
    out.treeRemoved = QStringList{};
    for (const QJsonValue& v : root.value("tree_removed").toArray()) out.treeRemoved->append(v.toString());
  }
  out.run = RunRecord::fromJson(root.value("run").toObject());
  for (const QJsonValue& v : root.value("what_if").toArray()) out.whatIf.push_back(whatIfFromJson(v.toObject()));
  *s = out;
  return true;
}

}  // namespace shedder::ui

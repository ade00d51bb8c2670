// Small helpers the main window's source files share (private to ui/main_window*.cpp).
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QSet>
#include <QString>
#include <QStringList>

#include "project_file.h"

namespace shedder::ui::mw {

inline const char* kAppTitle = "Mamba Shedder Workbench";

inline bool isModelFolder(const QString& p) {
  return QFileInfo(p).isDir() && QFileInfo(QDir(p).filePath(QStringLiteral("config.json"))).isFile();
}
inline bool isProjectFile(const QString& p) {
  return QFileInfo(p).isFile() && QFileInfo(p).suffix().compare(QLatin1String(kProjectSuffix), Qt::CaseInsensitive) == 0;
}
inline QSet<QString> asSet(const QStringList& l) { return QSet<QString>(l.begin(), l.end()); }

}  // namespace shedder::ui::mw

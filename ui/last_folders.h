// Where each kind of file dialog starts: the folder last used for that kind of file ("model", "project",
// "results", "calibration", "heldout", "export"), kept in the settings, so dialogs do not open in the shipped
// resources folder or the home folder every time.
#pragma once

#include <QString>

namespace shedder::ui {

// The folder last used for `kind`, when it still exists; else `fallback`.
QString lastFolder(const QString& kind, const QString& fallback);
// Records the folder of `path` for `kind`: the path itself when it is a folder, else the folder that holds it.
void rememberFolder(const QString& kind, const QString& path);

}  // namespace shedder::ui

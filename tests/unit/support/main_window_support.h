// Helpers the main-window GUI tests share: a block search set up on the trained tiny models' calibration windows,
// opening a model or project and waiting until the window is idle, a project with a finished run, actions by name.
#pragma once

#include <QString>

class QAction;

namespace shedder::ui {
class MainWindow;
}

namespace shedder::test {

inline constexpr int kGuiTimeoutMs = 60000;

// The search panel set to a `steps`-step block search (metric ppl) on the trained calibration windows (8 x 256
// tokens), with a held-out curve on `heldout` when it is not "".
void configure(ui::MainWindow& w, int steps, const QString& heldout);
// Opens a model folder (or a project) and waits until it is loaded and the window idle; failures fail the test.
void openAndWait(ui::MainWindow& w, const QString& path);
bool openProjectAndWait(ui::MainWindow& w, const QString& path);
// A project in `dir` on the trained tiny Mamba-1 whose (made-up) finished run removed layers.1 then layers.3.
QString projectWithRun(const QString& dir);
// The window's action with that object name (nullptr when there is none).
QAction* action(ui::MainWindow& w, const char* name);

}  // namespace shedder::test

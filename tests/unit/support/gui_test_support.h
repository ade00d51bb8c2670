// Helpers for the GUI tests: waiting for a signal with a clear failure message, isolated QSettings/data
// folders (QStandardPaths test mode), and the trained tiny models' paths.
#pragma once

#include <QSignalSpy>
#include <QString>

namespace shedder::test {

// QStandardPaths test mode (settings and app data under ~/.qttest) and fixed application names.
void init_gui_test_environment();
// tests/data/trained_tiny/<name>
QString trained_model(const QString& name);
QString trained_calib_tokens();  // tests/data/trained_tiny/calib.safetensors:windows

}  // namespace shedder::test

// Waits up to `ms` for `spy` to have at least `n` signals; fails the test otherwise, naming the signal.
#define SHEDDER_WAIT_FOR(spy, n, ms)                                                                      \
  do {                                                                                                   \
    if ((spy).count() < (n)) QTRY_VERIFY_WITH_TIMEOUT((spy).count() >= (n), (ms));                       \
  } while (0)

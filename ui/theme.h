// View ▸ Theme: System (the desktop's palette, followed as it changes), Light or Dark (the Fusion palettes),
// remembered in QSettings. Every widget and plot takes its colours from the application palette.
#pragma once

#include <QString>

namespace shedder::ui {

enum class Theme { System, Light, Dark };

QString themeName(Theme t);               // "system", "light", "dark"
Theme themeFromName(const QString& name);  // System for anything else

// Sets the application palette for `t` (System: the palette the desktop gave at the first call).
void applyTheme(Theme t);
Theme currentTheme();
// The remembered theme, and remembering one.
Theme savedTheme();
void saveTheme(Theme t);

}  // namespace shedder::ui

// Themes (see theme.h).
#include "theme.h"

#include <QApplication>
#include <QPalette>
#include <QSettings>
#include <QStyle>
#include <QStyleFactory>

#include <memory>
#include <optional>

namespace shedder::ui {

namespace {

std::optional<QPalette>& systemPalette() {
  static std::optional<QPalette> p;
  return p;
}

Theme& current() {
  static Theme t = Theme::System;
  return t;
}

QPalette lightPalette() {
  const std::unique_ptr<QStyle> fusion(QStyleFactory::create(QStringLiteral("Fusion")));
  return fusion ? fusion->standardPalette() : QPalette(QColor(0xef, 0xef, 0xef));
}

QPalette darkPalette() {
  QPalette p;
  const QColor window(0x2d, 0x2d, 0x30), base(0x1e, 0x1e, 0x20), text(0xe6, 0xe6, 0xe6), disabled(0x80, 0x80, 0x80);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(0x26, 0x26, 0x29));
  p.setColor(QPalette::ToolTipBase, QColor(0x3a, 0x3a, 0x3e));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, disabled);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(0xff, 0x55, 0x55));
  p.setColor(QPalette::Light, QColor(0x45, 0x45, 0x48));
  p.setColor(QPalette::Midlight, QColor(0x3a, 0x3a, 0x3d));
  p.setColor(QPalette::Mid, QColor(0x25, 0x25, 0x28));
  p.setColor(QPalette::Dark, QColor(0x18, 0x18, 0x1a));
  p.setColor(QPalette::Shadow, Qt::black);
  p.setColor(QPalette::Highlight, QColor(0x2a, 0x82, 0xda));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x5a, 0xa9, 0xff));
  for (QPalette::ColorRole r : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, r, disabled);
  return p;
}

}  // namespace

QString themeName(Theme t) {
  switch (t) {
    case Theme::Light: return QStringLiteral("light");
    case Theme::Dark: return QStringLiteral("dark");
    case Theme::System: break;
  }
  return QStringLiteral("system");
}

Theme themeFromName(const QString& n) {
  if (n == QLatin1String("light")) return Theme::Light;
  if (n == QLatin1String("dark")) return Theme::Dark;
  return Theme::System;
}

void applyTheme(Theme t) {
  if (!systemPalette()) systemPalette() = QApplication::palette();
  current() = t;
  switch (t) {
    case Theme::System: QApplication::setPalette(*systemPalette()); break;
    case Theme::Light: QApplication::setPalette(lightPalette()); break;
    case Theme::Dark: QApplication::setPalette(darkPalette()); break;
  }
}

Theme currentTheme() { return current(); }

Theme savedTheme() { return themeFromName(QSettings().value(QStringLiteral("view/theme")).toString()); }

void saveTheme(Theme t) { QSettings().setValue(QStringLiteral("view/theme"), themeName(t)); }

}  // namespace shedder::ui

// The workbench's confirmation questions (see confirm.h).
#include "confirm.h"

#include <QFileInfo>
#include <QMessageBox>

namespace shedder::ui {

namespace {

std::function<bool(const QString&, const QString&)>& answerer() {
  static std::function<bool(const QString&, const QString&)> a;
  return a;
}

bool ask(QWidget* parent, const QString& title, const QString& text) {
  if (answerer()) return answerer()(title, text);
  return QMessageBox::question(parent, title, text, QMessageBox::Yes | QMessageBox::No, QMessageBox::No) ==
         QMessageBox::Yes;
}

}  // namespace

namespace {

std::function<Unsaved(const QString&, const QString&)>& unsavedAnswerer() {
  static std::function<Unsaved(const QString&, const QString&)> a;
  return a;
}

}  // namespace

void setUnsavedAnswerer(std::function<Unsaved(const QString&, const QString&)> answer) {
  unsavedAnswerer() = std::move(answer);
}

Unsaved askUnsaved(QWidget* parent, const QString& title, const QString& text, bool dialog) {
  if (unsavedAnswerer()) return unsavedAnswerer()(title, text);
  if (!dialog) return Unsaved::Discard;
  QMessageBox box(QMessageBox::Warning, title, text, QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel,
                  parent);
  box.setDefaultButton(QMessageBox::Save);
  switch (box.exec()) {
    case QMessageBox::Save: return Unsaved::Save;
    case QMessageBox::Discard: return Unsaved::Discard;
    default: return Unsaved::Cancel;
  }
}

void setConfirmAnswerer(std::function<bool(const QString&, const QString&)> answer) { answerer() = std::move(answer); }

bool askYesNo(QWidget* parent, const QString& title, const QString& text) { return ask(parent, title, text); }

void warn(QWidget* parent, const QString& title, const QString& text) {
  if (answerer()) answerer()(title, text);
  else QMessageBox::warning(parent, title, text);
}

bool confirmOverwrite(QWidget* parent, const QString& title, const QStringList& paths) {
  QStringList existing;
  for (const QString& p : paths)
    if (QFileInfo::exists(p)) existing << QFileInfo(p).fileName();
  if (existing.isEmpty()) return true;
  const QString dir = QFileInfo(paths.front()).absolutePath();
  const QString text = existing.size() == 1
                           ? QStringLiteral("%1 already exists in %2. Replace it?").arg(existing.front(), dir)
                           : QStringLiteral("%1 files already exist in %2:\n%3\n\nReplace them?")
                                 .arg(existing.size())
                                 .arg(dir, existing.join(QStringLiteral(", ")));
  return ask(parent, title, text);
}

}  // namespace shedder::ui

// Questions the workbench asks before it overwrites or discards something (replace a file, save changes), in
// one place so every such question looks the same, and so tests can answer them without a modal dialog.
#pragma once

#include <QString>
#include <QStringList>

#include <functional>

class QWidget;

namespace shedder::ui {

// Asks whether to replace existing files (`paths`, shown by name). True: go ahead. Nothing exists: true without
// asking.
bool confirmOverwrite(QWidget* parent, const QString& title, const QStringList& paths);

// A yes/no question (No is the default). True: yes.
bool askYesNo(QWidget* parent, const QString& title, const QString& text);

// Tells the user something went wrong with what they entered (a warning box; under a test answerer, passed to it).
void warn(QWidget* parent, const QString& title, const QString& text);

// Unsaved changes before they would be discarded: save them, discard them, or cancel what was about to happen.
enum class Unsaved { Save, Discard, Cancel };
// Asks with a Save / Discard / Cancel box; `dialog` false (automation) and no test answerer: Discard.
Unsaved askUnsaved(QWidget* parent, const QString& title, const QString& text, bool dialog);
// Tests: answers every later unsaved-changes question (nullptr: dialogs again).
void setUnsavedAnswerer(std::function<Unsaved(const QString& title, const QString& text)> answer);

// Tests: answers every later question with `answer(title, text)` instead of a dialog (nullptr: dialogs again).
void setConfirmAnswerer(std::function<bool(const QString& title, const QString& text)> answer);

}  // namespace shedder::ui

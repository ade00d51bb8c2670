// Help ▸ User Guide (F1): the user guide shipped with the program (resources/help/user-guide.html, installed in
// share/mamba-shedder/help) in a browser window beside the workbench; links inside it move within the guide.
#pragma once

#include <QDialog>

class QTextBrowser;

namespace shedder::ui {

class HelpWindow : public QDialog {
  Q_OBJECT

 public:
  explicit HelpWindow(QWidget* parent = nullptr);

  // The guide's file, or "" when it is not installed.
  static QString userGuidePath();
  // Shows the guide at `anchor` ("" for the top), e.g. "shortcuts".
  void showSection(const QString& anchor);
  QTextBrowser* browser() const { return browser_; }

 private:
  QTextBrowser* browser_ = nullptr;
};

}  // namespace shedder::ui

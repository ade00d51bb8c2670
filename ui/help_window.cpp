// The user guide window (see help_window.h).
#include "help_window.h"

#include <QDialogButtonBox>
#include <QFileInfo>
#include <QScrollBar>
#include <QTextBrowser>
#include <QUrl>
#include <QVBoxLayout>

#include "runtime/resources.h"

namespace shedder::ui {

QString HelpWindow::userGuidePath() {
  const std::string root = shedder::resources_dir();
  if (root.empty()) return {};
  const QString path = QString::fromStdString(root) + QStringLiteral("/help/user-guide.html");
  return QFileInfo(path).isFile() ? path : QString();
}

HelpWindow::HelpWindow(QWidget* parent) : QDialog(parent) {
  setObjectName(QStringLiteral("helpWindow"));
  setWindowTitle(QStringLiteral("Mamba Shedder Workbench — User Guide"));
  browser_ = new QTextBrowser(this);
  browser_->setOpenExternalLinks(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(browser_, 1);
  layout->addWidget(buttons);
  const QString path = userGuidePath();
  if (path.isEmpty())
    browser_->setHtml(QStringLiteral("<h3>The user guide is not installed</h3><p>Looked for help/user-guide.html in the "
                                     "resources folder (<code>$SHEDDER_RESOURCES_DIR</code>, else "
                                     "<code>share/mamba-shedder</code> beside the program). docs/gui.md in the source "
                                     "tree has the same material.</p>"));
  else
    browser_->setSource(QUrl::fromLocalFile(path));
  resize(760, 640);
}

void HelpWindow::showSection(const QString& anchor) {
  if (anchor.isEmpty()) browser_->verticalScrollBar()->setValue(0);
  else browser_->scrollToAnchor(anchor);
  show();
  raise();
  activateWindow();
}

}  // namespace shedder::ui

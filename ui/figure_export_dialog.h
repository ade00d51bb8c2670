// The "Save figure" dialog: file name (or, for all figures at once, a folder), format (PNG / PDF / SVG), physical
// size (with report presets), DPI, whether the title is drawn, the style (screen, or paper: 8 pt text, thin lines,
// optionally serif) and whether the data goes beside the figure as CSV. Remembers the last choices in QSettings.
#pragma once

#include <QDialog>

#include "figure_export.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QCustomPlot;

namespace shedder::ui {

// The figure options last chosen in the dialog (QSettings), or the defaults.
FigureOptions rememberedFigureOptions();

class FigureExportDialog : public QDialog {
  Q_OBJECT

 public:
  enum class Target { File, Folder };  // one figure into a file, or every figure into a folder
  FigureExportDialog(QWidget* parent, const QString& title, Target target = Target::File);

  QString path() const;  // the file, or the folder for Target::Folder
  FigureOptions options() const;
  // Writes the figure with the chosen options (and `dataCsv` beside it, "" = the plotted points); "" or the error.
  QString exportTo(QCustomPlot* plot, const QString& dataCsv = QString());

  void accept() override;

 private:
  void syncFormatFromPath();
  void syncPathFromFormat();
  void applyPreset(int index);

  QString title_;
  Target target_;
  QLineEdit* path_ = nullptr;
  QComboBox* format_ = nullptr;
  QComboBox* preset_ = nullptr;
  QDoubleSpinBox* width_ = nullptr;
  QDoubleSpinBox* height_ = nullptr;
  QSpinBox* dpi_ = nullptr;
  QCheckBox* showTitle_ = nullptr;
  QComboBox* style_ = nullptr;
  QCheckBox* serif_ = nullptr;
  QDoubleSpinBox* lineWidth_ = nullptr;
  QCheckBox* writeData_ = nullptr;
};

}  // namespace shedder::ui

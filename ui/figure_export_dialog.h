// The "Save figure" dialog: file name, format (PNG / PDF / SVG), physical size (with report presets) and DPI.
// Remembers the last choices in QSettings.
#pragma once

#include <QDialog>

#include "figure_export.h"

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QCustomPlot;

namespace shedder::ui {

class FigureExportDialog : public QDialog {
  Q_OBJECT

 public:
  FigureExportDialog(QWidget* parent, const QString& title);

  QString path() const;
  FigureOptions options() const;
  // Writes the figure with the chosen options; "" or the error message.
  QString exportTo(QCustomPlot* plot);

  void accept() override;

 private:
  void syncFormatFromPath();
  void syncPathFromFormat();
  void applyPreset(int index);

  QString title_;
  QLineEdit* path_ = nullptr;
  QComboBox* format_ = nullptr;
  QComboBox* preset_ = nullptr;
  QDoubleSpinBox* width_ = nullptr;
  QDoubleSpinBox* height_ = nullptr;
  QSpinBox* dpi_ = nullptr;
};

}  // namespace shedder::ui

// The "Save figure" dialog (see figure_export_dialog.h).
#include "figure_export_dialog.h"

#include "confirm.h"
#include "formatting.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>

namespace shedder::ui {

namespace {

struct Preset {
  const char* name;
  double w, h;
};
const Preset kPresets[] = {{"Report column (8.5 × 6 cm)", 8.5, 6.0},
                           {"Report page width (16 × 10 cm)", 16.0, 10.0},
                           {"Slide (25 × 14 cm)", 25.0, 14.0},
                           {"Custom", 0, 0}};

}  // namespace

FigureOptions rememberedFigureOptions() {
  QSettings settings;
  FigureOptions o;
  o.format = static_cast<FigureFormat>(std::clamp(settings.value(QStringLiteral("figures/format"), 0).toInt(), 0, 2));
  o.sizeCm = QSizeF(settings.value(QStringLiteral("figures/width_cm"), 16.0).toDouble(),
                    settings.value(QStringLiteral("figures/height_cm"), 10.0).toDouble());
  o.dpi = settings.value(QStringLiteral("figures/dpi"), 300).toInt();
  o.showTitle = settings.value(QStringLiteral("figures/title"), true).toBool();
  o.style = settings.value(QStringLiteral("figures/style"), 0).toInt() == 1 ? FigureStyle::Paper : FigureStyle::Screen;
  o.serif = settings.value(QStringLiteral("figures/serif"), false).toBool();
  o.lineWidthPt = std::clamp(settings.value(QStringLiteral("figures/line_width_pt"), 1.0).toDouble(), 0.25, 4.0);
  o.writeData = settings.value(QStringLiteral("figures/write_data"), true).toBool();
  return o;
}

FigureExportDialog::FigureExportDialog(QWidget* parent, const QString& title, Target target)
    : QDialog(parent), title_(title), target_(target) {
  setWindowTitle(target == Target::File ? QStringLiteral("Save figure — %1").arg(title) : title);
  QSettings settings;
  const FigureOptions remembered = rememberedFigureOptions();
  auto* form = new QFormLayout;
  form->setRowWrapPolicy(QFormLayout::WrapLongRows);
  path_ = new QLineEdit(this);
  path_->setObjectName(QStringLiteral("path"));
  auto* browse = new QPushButton(QStringLiteral("Browse…"), this);
  auto* pathRow = new QHBoxLayout;
  pathRow->addWidget(path_, 1);
  pathRow->addWidget(browse);
  form->addRow(target == Target::File ? QStringLiteral("File") : QStringLiteral("Folder"), pathRow);

  format_ = new QComboBox(this);
  format_->addItem(QStringLiteral("PNG (raster)"), static_cast<int>(FigureFormat::Png));
  format_->addItem(QStringLiteral("PDF (vector)"), static_cast<int>(FigureFormat::Pdf));
  format_->addItem(QStringLiteral("SVG (vector)"), static_cast<int>(FigureFormat::Svg));
  form->addRow(QStringLiteral("Format"), format_);

  preset_ = new QComboBox(this);
  for (const Preset& p : kPresets) preset_->addItem(QString::fromUtf8(p.name));
  form->addRow(QStringLiteral("Size"), preset_);
  width_ = new QDoubleSpinBox(this);
  height_ = new QDoubleSpinBox(this);
  for (QDoubleSpinBox* s : {width_, height_}) {
    s->setRange(2, 100);
    s->setDecimals(1);
    s->setSingleStep(0.5);
    s->setSuffix(QStringLiteral(" cm"));
  }
  auto* sizeRow = new QHBoxLayout;
  sizeRow->addWidget(width_);
  sizeRow->addWidget(new QLabel(QStringLiteral("×"), this));
  sizeRow->addWidget(height_);
  form->addRow(QStringLiteral("Width × height"), sizeRow);
  dpi_ = new QSpinBox(this);
  dpi_->setRange(72, 1200);
  dpi_->setSingleStep(50);
  dpi_->setSuffix(QStringLiteral(" dpi"));
  form->addRow(QStringLiteral("Resolution (PNG)"), dpi_);
  showTitle_ = new QCheckBox(QStringLiteral("Draw the title above the plot"), this);
  showTitle_->setObjectName(QStringLiteral("showTitle"));
  showTitle_->setToolTip(QStringLiteral("Off for a paper, where the caption names the figure"));
  form->addRow(QString(), showTitle_);
  style_ = new QComboBox(this);
  style_->setObjectName(QStringLiteral("style"));
  style_->addItem(QStringLiteral("Screen (the plot as shown)"));
  style_->addItem(QStringLiteral("Paper (8 pt text, thin lines)"));
  style_->setToolTip(QStringLiteral("Paper: for a journal column — text at 8 pt (ticks and legend 7 pt) and data lines "
                                    "at the width below"));
  form->addRow(QStringLiteral("Style"), style_);
  serif_ = new QCheckBox(QStringLiteral("Serif font (to match LaTeX body text)"), this);
  serif_->setObjectName(QStringLiteral("serif"));
  lineWidth_ = new QDoubleSpinBox(this);
  lineWidth_->setObjectName(QStringLiteral("lineWidth"));
  lineWidth_->setRange(0.25, 4.0);
  lineWidth_->setSingleStep(0.25);
  lineWidth_->setDecimals(2);
  lineWidth_->setSuffix(QStringLiteral(" pt"));
  form->addRow(QString(), serif_);
  form->addRow(QStringLiteral("Line width (paper)"), lineWidth_);
  writeData_ = new QCheckBox(QStringLiteral("Also save the plotted data as CSV beside the figure"), this);
  writeData_->setObjectName(QStringLiteral("writeData"));
  form->addRow(QString(), writeData_);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &FigureExportDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(buttons);

  // Defaults / remembered choices.
  const QString dir = settings.value(QStringLiteral("figures/dir"),
                                     QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)).toString();
  format_->setCurrentIndex(static_cast<int>(remembered.format));
  width_->setValue(remembered.sizeCm.width());
  height_->setValue(remembered.sizeCm.height());
  dpi_->setValue(remembered.dpi);
  showTitle_->setChecked(remembered.showTitle);
  style_->setCurrentIndex(remembered.style == FigureStyle::Paper ? 1 : 0);
  serif_->setChecked(remembered.serif);
  lineWidth_->setValue(remembered.lineWidthPt);
  writeData_->setChecked(remembered.writeData);
  auto paperOnly = [this] {
    const bool paper = style_->currentIndex() == 1;
    serif_->setEnabled(paper);
    lineWidth_->setEnabled(paper);
  };
  paperOnly();
  connect(style_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, paperOnly](int i) {
    paperOnly();
    if (i == 1) preset_->setCurrentIndex(0);  // a paper figure is a column wide
  });
  preset_->setCurrentIndex(3);
  for (int i = 0; i < 3; ++i)
    if (qFuzzyCompare(kPresets[i].w, width_->value()) && qFuzzyCompare(kPresets[i].h, height_->value())) preset_->setCurrentIndex(i);
  path_->setText(target == Target::Folder ? dir
                                          : QDir(dir).filePath(fileSlug(title) + QStringLiteral(".") +
                                                               figureSuffix(static_cast<FigureFormat>(format_->currentData().toInt()))));

  connect(browse, &QPushButton::clicked, this, [this] {
    if (target_ == Target::Folder) {
      const QString d = QFileDialog::getExistingDirectory(this, QStringLiteral("Folder for the figures"), path_->text());
      if (!d.isEmpty()) path_->setText(d);
      return;
    }
    const QString f = QFileDialog::getSaveFileName(this, QStringLiteral("Save figure"), path_->text(),
                                                   QStringLiteral("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)"));
    if (!f.isEmpty()) {
      path_->setText(f);
      syncFormatFromPath();
    }
  });
  connect(path_, &QLineEdit::editingFinished, this, [this] {
    if (target_ == Target::File) syncFormatFromPath();
  });
  connect(format_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    if (target_ == Target::File) syncPathFromFormat();
    dpi_->setEnabled(format_->currentData().toInt() == static_cast<int>(FigureFormat::Png));
  });
  connect(preset_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int i) { applyPreset(i); });
  auto toCustom = [this] {
    for (int i = 0; i < 3; ++i)
      if (qFuzzyCompare(kPresets[i].w, width_->value()) && qFuzzyCompare(kPresets[i].h, height_->value())) {
        preset_->blockSignals(true);
        preset_->setCurrentIndex(i);
        preset_->blockSignals(false);
        return;
      }
    preset_->blockSignals(true);
    preset_->setCurrentIndex(3);
    preset_->blockSignals(false);
  };
  connect(width_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, toCustom);
  connect(height_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, toCustom);
  dpi_->setEnabled(format_->currentData().toInt() == static_cast<int>(FigureFormat::Png));
  resize(520, sizeHint().height());
}

void FigureExportDialog::applyPreset(int i) {
  if (i < 0 || i >= 3) return;
  width_->setValue(kPresets[i].w);
  height_->setValue(kPresets[i].h);
}

void FigureExportDialog::syncFormatFromPath() {
  FigureFormat f;
  if (figureFormatFromPath(path_->text(), &f)) format_->setCurrentIndex(format_->findData(static_cast<int>(f)));
  else syncPathFromFormat();
}

void FigureExportDialog::syncPathFromFormat() {
  const QString want = figureSuffix(static_cast<FigureFormat>(format_->currentData().toInt()));
  QFileInfo fi(path_->text());
  if (fi.suffix().toLower() == want) return;
  FigureFormat dummy;
  const QString base = figureFormatFromPath(path_->text(), &dummy) ? fi.path() + QLatin1Char('/') + fi.completeBaseName()
                                                                   : path_->text();
  path_->setText(base + QLatin1Char('.') + want);
}

QString FigureExportDialog::path() const { return path_->text(); }

FigureOptions FigureExportDialog::options() const {
  FigureOptions o;
  o.format = static_cast<FigureFormat>(format_->currentData().toInt());
  o.sizeCm = QSizeF(width_->value(), height_->value());
  o.dpi = dpi_->value();
  o.title = title_;
  o.showTitle = showTitle_->isChecked();
  o.style = style_->currentIndex() == 1 ? FigureStyle::Paper : FigureStyle::Screen;
  o.serif = serif_->isChecked();
  o.lineWidthPt = lineWidth_->value();
  o.writeData = writeData_->isChecked();
  return o;
}

void FigureExportDialog::accept() {
  if (path_->text().trimmed().isEmpty()) {
    warn(this, windowTitle(), target_ == Target::File ? QStringLiteral("Choose a file name.")
                                                                      : QStringLiteral("Choose a folder."));
    return;
  }
  if (target_ == Target::Folder && !QFileInfo(path_->text()).isDir()) {
    warn(this, windowTitle(), QStringLiteral("%1: not a folder").arg(path_->text()));
    return;
  }
  // The folder's files are named and checked by whoever writes them (MainWindow::saveAllFiguresTo asks there).
  if (target_ == Target::File) {
    syncFormatFromPath();
    QStringList replaced{path_->text()};
    if (writeData_->isChecked()) replaced << figureDataPath(path_->text());
    if (!confirmOverwrite(this, windowTitle(), replaced)) return;
  }
  QSettings settings;
  settings.setValue(QStringLiteral("figures/dir"), target_ == Target::File ? QFileInfo(path_->text()).absolutePath()
                                                                           : QFileInfo(path_->text()).absoluteFilePath());
  settings.setValue(QStringLiteral("figures/format"), format_->currentIndex());
  settings.setValue(QStringLiteral("figures/width_cm"), width_->value());
  settings.setValue(QStringLiteral("figures/height_cm"), height_->value());
  settings.setValue(QStringLiteral("figures/dpi"), dpi_->value());
  settings.setValue(QStringLiteral("figures/title"), showTitle_->isChecked());
  settings.setValue(QStringLiteral("figures/style"), style_->currentIndex());
  settings.setValue(QStringLiteral("figures/serif"), serif_->isChecked());
  settings.setValue(QStringLiteral("figures/line_width_pt"), lineWidth_->value());
  settings.setValue(QStringLiteral("figures/write_data"), writeData_->isChecked());
  QDialog::accept();
}

QString FigureExportDialog::exportTo(QCustomPlot* plot, const QString& dataCsv) {
  FigureOptions o = options();
  o.dataCsv = dataCsv;
  return exportFigure(plot, path(), o);
}

}  // namespace shedder::ui

// The "Save figure" dialog (see figure_export_dialog.h).
#include "figure_export_dialog.h"

#include "confirm.h"

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

QString safeName(QString s) {
  s.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9]+")), QStringLiteral("-"));
  return s.toLower().remove(QRegularExpression(QStringLiteral("^-+|-+$")));
}

}  // namespace

FigureExportDialog::FigureExportDialog(QWidget* parent, const QString& title) : QDialog(parent), title_(title) {
  setWindowTitle(QStringLiteral("Save figure — %1").arg(title));
  QSettings settings;
  auto* form = new QFormLayout;
  path_ = new QLineEdit(this);
  auto* browse = new QPushButton(QStringLiteral("Browse…"), this);
  auto* pathRow = new QHBoxLayout;
  pathRow->addWidget(path_, 1);
  pathRow->addWidget(browse);
  form->addRow(QStringLiteral("File"), pathRow);

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

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &FigureExportDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(buttons);

  // Defaults / remembered choices.
  const QString dir = settings.value(QStringLiteral("figures/dir"),
                                     QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)).toString();
  const int fmt = settings.value(QStringLiteral("figures/format"), 0).toInt();
  format_->setCurrentIndex(std::clamp(fmt, 0, 2));
  width_->setValue(settings.value(QStringLiteral("figures/width_cm"), 16.0).toDouble());
  height_->setValue(settings.value(QStringLiteral("figures/height_cm"), 10.0).toDouble());
  dpi_->setValue(settings.value(QStringLiteral("figures/dpi"), 300).toInt());
  preset_->setCurrentIndex(3);
  for (int i = 0; i < 3; ++i)
    if (qFuzzyCompare(kPresets[i].w, width_->value()) && qFuzzyCompare(kPresets[i].h, height_->value())) preset_->setCurrentIndex(i);
  path_->setText(QDir(dir).filePath(safeName(title) + QStringLiteral(".") + figureSuffix(static_cast<FigureFormat>(format_->currentData().toInt()))));

  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, QStringLiteral("Save figure"), path_->text(),
                                                   QStringLiteral("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)"));
    if (!f.isEmpty()) {
      path_->setText(f);
      syncFormatFromPath();
    }
  });
  connect(path_, &QLineEdit::editingFinished, this, [this] { syncFormatFromPath(); });
  connect(format_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    syncPathFromFormat();
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
  return o;
}

void FigureExportDialog::accept() {
  if (path_->text().trimmed().isEmpty()) {
    QMessageBox::warning(this, windowTitle(), QStringLiteral("Choose a file name."));
    return;
  }
  syncFormatFromPath();
  if (!confirmOverwrite(this, windowTitle(), {path_->text()})) return;
  QSettings settings;
  settings.setValue(QStringLiteral("figures/dir"), QFileInfo(path_->text()).absolutePath());
  settings.setValue(QStringLiteral("figures/format"), format_->currentIndex());
  settings.setValue(QStringLiteral("figures/width_cm"), width_->value());
  settings.setValue(QStringLiteral("figures/height_cm"), height_->value());
  settings.setValue(QStringLiteral("figures/dpi"), dpi_->value());
  QDialog::accept();
}

QString FigureExportDialog::exportTo(QCustomPlot* plot) { return exportFigure(plot, path(), options()); }

}  // namespace shedder::ui

// The common frame of every plot in the workbench: a QCustomPlot with report-ready styling (fonts, grid, legend;
// colours that follow the palette, PlotColors), zoom and pan with the mouse, hover tooltips on data points, a
// placeholder text while there is no data, and a small tool row (reset view, log scale, save figure).
#pragma once

#include <QWidget>

#include <functional>

class QCustomPlot;
class QCPAbstractPlottable;
class QCPItemText;
class QHBoxLayout;
class QToolButton;
class QMouseEvent;

namespace shedder::ui {

class PlotView : public QWidget {
  Q_OBJECT

 public:
  explicit PlotView(const QString& title, QWidget* parent = nullptr);
  ~PlotView() override;

  QCustomPlot* plot() const { return plot_; }
  QString title() const { return title_; }
  void setTitle(const QString& title);  // the plot's title (and the figure dialog's default file name)

  // Text shown in the middle of the plot while it has nothing to show ("" hides it).
  void setPlaceholder(const QString& text);
  // Tooltip text for a data point (plottable, data index); the default names the series and both values.
  void setHoverFormatter(std::function<QString(QCPAbstractPlottable*, int)> f) { hover_ = std::move(f); }
  // The tooltip text of that data point under the custom formatter ("" without one).
  QString hoverText(QCPAbstractPlottable* p, int i) const { return hover_ ? hover_(p, i) : QString(); }
  // Offers a log-scale toggle for the left value axis.
  void enableLogScaleToggle(bool on);
  // Room for extra controls in the tool row (e.g. a step selector).
  QHBoxLayout* toolRow() const { return tools_; }

  // True when some visible series has data (an empty plot shows only its placeholder).
  virtual bool hasData() const;
  // Fits every axis to the data with a margin (what "reset view" does).
  virtual void resetView();
  // The CSV written beside an exported figure; "" = the generic one (plotDataCsv: every graph's points).
  virtual QString figureDataCsv() const { return {}; }
  // Opens the figure export dialog; returns the file written or "".
  QString saveFigureInteractive();

  // Shared styling helpers for subclasses.
  static void styleAxis(QObject* axis);

 Q_SIGNALS:
  void figureSaved(const QString& path);  // Save… wrote this file

 protected:
  void replot();
  void changeEvent(QEvent* e) override;  // a palette change recolours the frame (PlotColors)

 private:
  void onMouseMove(QMouseEvent* e);
  void setLogScale(bool on);

  QString title_;
  QCustomPlot* plot_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
  QHBoxLayout* tools_ = nullptr;
  QToolButton* logButton_ = nullptr;
  std::function<QString(QCPAbstractPlottable*, int)> hover_;
};

}  // namespace shedder::ui

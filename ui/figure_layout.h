// Fitting a plot to a figure's page for export: at a small size (a report column is 8.5 × 6 cm) the on-screen
// layout cuts off the title and long axis labels and its legend covers data. While a FigureLayout lives, the plot
// is laid out for the page: the title is optional; a title or axis label wider than its room is wrapped onto two
// lines, then set smaller (down to 7 pt), and only then elided; the legend goes to the first corner of the data
// area where no data point, line or bar lies, else below the data area in as many columns as fit. Fonts otherwise
// keep their point sizes; margins follow from the fonts' metrics (QCustomPlot's automatic margins); colours are
// the light set (PlotColors::light) whatever the theme. Destroying it puts the on-screen layout and colours back.
#pragma once

#include <QFont>
#include <QList>
#include <QSize>
#include <QString>

class QCustomPlot;
class QCPAxis;
class QCPLayoutGrid;
class QCPTextElement;

namespace shedder::ui {

class FigureLayout {
 public:
  FigureLayout(QCustomPlot* plot, QSize page, bool showTitle);
  ~FigureLayout();
  FigureLayout(const FigureLayout&) = delete;
  FigureLayout& operator=(const FigureLayout&) = delete;

  // Where the legend went: "top right", "top left", "bottom right", "bottom left", "below" or "" (no legend).
  QString legendPlacement() const { return legendPlacement_; }

 private:
  void relayout();
  void fitTitle(bool show);
  void fitAxisLabels();
  void placeLegend();

  QCustomPlot* plot_;
  QSize page_;
  QRect oldViewport_;
  QCPTextElement* title_ = nullptr;
  QString titleText_;
  QFont titleFont_;
  bool titleTaken_ = false;
  struct AxisLabel {
    QCPAxis* axis;
    QString text;
    QFont font;
  };
  QList<AxisLabel> labels_;
  int legendIndex_ = -1;
  Qt::Alignment legendAlignment_;
  int legendWrap_ = 0;
  int legendFillOrder_ = 0;
  bool legendMoved_ = false;
  QSize legendMaxSize_;
  QCPLayoutGrid* below_ = nullptr;  // the row below the data area that holds a moved legend
  QString legendPlacement_;
};

// `text` on at most two lines (broken at the space nearest the middle) no wider than `width` logical units:
// wrapped first, then set smaller down to 7 pt, then elided. `font` is changed to the size chosen.
QString fitText(const QString& text, QFont* font, double width);

}  // namespace shedder::ui

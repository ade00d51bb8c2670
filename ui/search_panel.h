// The search panel: granularity, metric, stop rules (steps, target % of parameters, perplexity ceiling),
// calibration source (built-in demo set, text files, pre-tokenized file), held-out curve, seq-len, windows,
// seed, batch; optional latency / demo-task accuracy measurements per step; Run / Cancel / Resume; a progress
// bar with the ETA over all planned steps.
#pragma once

#include <QStringList>
#include <QWidget>

#include "engine_types.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QVBoxLayout;

namespace shedder::ui {

class SearchPanel : public QWidget {
  Q_OBJECT

 public:
  explicit SearchPanel(QWidget* parent = nullptr);

  // Everything but the run folder (the main window chooses it per run).
  SearchSettings settings() const;
  void setSettings(const SearchSettings& s);
  // What the open model offers (ModelInfo::granularities, ModelInfo::cosineGranularities): the granularity choices,
  // and the cosine metric only where it applies. The panel never decides this from an architecture's name.
  void setGranularities(const QStringList& offered, const QStringList& cosine);
  // The label shown for a granularity value ("head" -> "Attention heads (GQA groups)"), and every value there is.
  static QString granularityLabel(const QString& value);
  static QStringList knownGranularities();
  // The values offered now; selectGranularity picks one of them (false, and no change, for any other).
  QStringList offeredGranularities() const;
  bool selectGranularity(const QString& value);
  CalibrationSettings calibration() const { return settings().calibration; }

  // Enables Run/Resume/Cancel for the current state of the window.
  void setState(bool modelOpen, bool busy, bool searching, bool resumable);
  void setResumeHint(const QString& runDir);
  void setProgress(const ProgressInfo& p);
  // Empty, at 0 (another model was opened: nothing of the last run's progress remains).
  void resetProgress();
  void setProgressIdle(const QString& text);
  bool demoSetAvailable() const { return demoAvailable_; }

  QProgressBar* progressBar() const { return progress_; }
  QWidget* firstField() const;  // where keyboard focus goes when the panel is focused (View ▸ Focus Search Panel)
  QPushButton* runButton() const { return run_; }
  QPushButton* cancelButton() const { return cancel_; }
  QPushButton* resumeButton() const { return resume_; }

 Q_SIGNALS:
  void runRequested();
  void cancelRequested();
  void resumeRequested();

 private:
  QWidget* buildSearchGroup();
  QWidget* buildCalibrationGroup();
  void buildRunControls(QVBoxLayout* layout);
  void connectControls();
  void addWhatsThis();  // Help ▸ What's This? (Shift+F1) on every field
  void updateSourceWidgets();
  void updateMetricChoices();

  bool demoAvailable_ = false;
  bool demoTasksAvailable_ = false;
  QStringList cosine_;  // granularities the cosine metric applies to
  QComboBox* granularity_ = nullptr;
  QComboBox* metric_ = nullptr;
  QSpinBox* steps_ = nullptr;
  QDoubleSpinBox* target_ = nullptr;
  QDoubleSpinBox* maxPpl_ = nullptr;
  QComboBox* source_ = nullptr;
  QLineEdit* files_ = nullptr;
  QPushButton* browse_ = nullptr;
  QCheckBox* heldout_ = nullptr;
  QCheckBox* measureLatency_ = nullptr;
  QCheckBox* exhaustive_ = nullptr;
  QCheckBox* demoAccuracy_ = nullptr;
  QLineEdit* heldoutFiles_ = nullptr;
  QPushButton* heldoutBrowse_ = nullptr;
  QSpinBox* seqLen_ = nullptr;
  QSpinBox* windows_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QSpinBox* batch_ = nullptr;
  QPushButton* run_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QPushButton* resume_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* stage_ = nullptr;
};

}  // namespace shedder::ui

// The search panel (see search_panel.h).
#include "search_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QStyle>
#include <QVBoxLayout>

#include "engine_session.h"
#include "formatting.h"
#include "last_folders.h"

namespace shedder::ui {

namespace {

// Files are shown separated by ';' (paths may contain spaces).
QStringList splitFiles(const QString& s) {
  QStringList out;
  for (const QString& p : s.split(QLatin1Char(';'), Qt::SkipEmptyParts))
    if (!p.trimmed().isEmpty()) out << p.trimmed();
  return out;
}

}  // namespace

SearchPanel::SearchPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  layout->addWidget(buildSearchGroup());
  layout->addWidget(buildCalibrationGroup());
  buildRunControls(layout);
  connectControls();
  addWhatsThis();
  updateSourceWidgets();
  setState(false, false, false, false);
}

QWidget* SearchPanel::buildSearchGroup() {
  auto* search = new QGroupBox(QStringLiteral("Search"), this);
  auto* sf = new QFormLayout(search);
  granularity_ = new QComboBox(search);
  granularity_->setObjectName(QStringLiteral("granularity"));
  granularity_->setToolTip(QStringLiteral("What the search removes; the open model says which kinds it has"));
  metric_ = new QComboBox(search);
  metric_->setObjectName(QStringLiteral("metric"));
  metric_->addItem(QStringLiteral("Perplexity (Mamba-Shedder)"), QStringLiteral("ppl"));
  metric_->addItem(QStringLiteral("Cosine block influence (fast)"), QStringLiteral("cosine"));
  metric_->setToolTip(QStringLiteral("ppl: one calibration pass per candidate, the paper's metric. cosine: ShortGPT's "
                                     "block influence, one pass per step"));
  // Until a model is open: a Mamba model's kinds.
  setGranularities({QStringLiteral("block"), QStringLiteral("ssm")}, {QStringLiteral("block"), QStringLiteral("ssm")});
  steps_ = new QSpinBox(search);
  steps_->setRange(1, 4096);
  steps_->setValue(4);
  steps_->setToolTip(QStringLiteral("At most this many removals"));
  target_ = new QDoubleSpinBox(search);
  target_->setRange(0, 100);
  target_->setDecimals(1);
  target_->setSuffix(QStringLiteral(" %"));
  target_->setSpecialValueText(QStringLiteral("off"));
  target_->setToolTip(QStringLiteral("Stop once this share of the parameters is removed (off: only the step count)"));
  maxPpl_ = new QDoubleSpinBox(search);
  maxPpl_->setRange(0, 1e9);
  maxPpl_->setDecimals(2);
  maxPpl_->setSpecialValueText(QStringLiteral("off"));
  maxPpl_->setToolTip(QStringLiteral("Never take a step whose calibration perplexity exceeds this"));
  sf->addRow(QStringLiteral("Granularity"), granularity_);
  sf->addRow(QStringLiteral("Metric"), metric_);
  sf->addRow(QStringLiteral("Steps"), steps_);
  sf->addRow(QStringLiteral("Target removed"), target_);
  sf->addRow(QStringLiteral("Max perplexity"), maxPpl_);
  measureLatency_ = new QCheckBox(QStringLiteral("Measure latency per step"), search);
  measureLatency_->setObjectName(QStringLiteral("measureLatency"));
  measureLatency_->setToolTip(QStringLiteral("Benchmark prefill and decode (latency, peak memory) before the first step "
                                             "and after every step; plotted on the latency axis"));
  demoAccuracy_ = new QCheckBox(QStringLiteral("Demo-task accuracy per step"), search);
  demoAccuracy_->setObjectName(QStringLiteral("demoAccuracy"));
  demoTasksAvailable_ = EngineSession::demoTasksAvailable();
  demoAccuracy_->setToolTip(demoTasksAvailable_
                                ? QStringLiteral("Zero-shot accuracy on the built-in demo tasks before the first step and "
                                                 "after every step; plotted on the Accuracy tab")
                                : QStringLiteral("Not installed: resources/demo/tasks/*.jsonl was not found"));
  demoAccuracy_->setEnabled(demoTasksAvailable_);
  exhaustive_ = new QCheckBox(QStringLiteral("Score every candidate"), search);
  exhaustive_->setObjectName(QStringLiteral("exhaustive"));
  exhaustive_->setToolTip(QStringLiteral(
      "Metric ppl: evaluate every candidate on every calibration window. Off (faster, same removals): a candidate "
      "whose running perplexity already exceeds the best complete candidate's stops early, and its score is a lower "
      "bound (hatched bars, \u201c\u2265\u201d in the tree)"));
  sf->addRow(QString(), exhaustive_);
  sf->addRow(QString(), measureLatency_);
  sf->addRow(QString(), demoAccuracy_);
  return search;

}

QWidget* SearchPanel::buildCalibrationGroup() {
  auto* calib = new QGroupBox(QStringLiteral("Calibration data"), this);
  auto* cf = new QFormLayout(calib);
  source_ = new QComboBox(calib);
  source_->addItem(QStringLiteral("Built-in demo set"), calibrationSourceName(CalibrationSource::DemoSet));
  source_->addItem(QStringLiteral("Text files"), calibrationSourceName(CalibrationSource::TextFiles));
  source_->addItem(QStringLiteral("Pre-tokenized file"), calibrationSourceName(CalibrationSource::TokenFile));
  demoAvailable_ = !EngineSession::demoCalibrationText().isEmpty();
  if (!demoAvailable_) {
    auto* m = qobject_cast<QStandardItemModel*>(source_->model());
    QStandardItem* item = m->item(0);
    item->setEnabled(false);
    item->setToolTip(QStringLiteral("Not installed: resources/demo/corpus/calibration.txt (or .jsonl) was not found"));
    source_->setCurrentIndex(1);
  }
  files_ = new QLineEdit(calib);
  browse_ = new QPushButton(QStringLiteral("…"), calib);
  browse_->setFixedWidth(32);
  auto* filesRow = new QHBoxLayout;
  filesRow->addWidget(files_, 1);
  filesRow->addWidget(browse_);
  heldout_ = new QCheckBox(QStringLiteral("Held-out curve"), calib);
  heldout_->setChecked(true);
  heldout_->setToolTip(QStringLiteral("Evaluate held-out perplexity after every step (one extra pass per step)"));
  heldoutFiles_ = new QLineEdit(calib);
  heldoutFiles_->setPlaceholderText(QStringLiteral("held-out text files (demo set: its validation split)"));
  heldoutBrowse_ = new QPushButton(QStringLiteral("…"), calib);
  heldoutBrowse_->setFixedWidth(32);
  auto* heldRow = new QHBoxLayout;
  heldRow->addWidget(heldoutFiles_, 1);
  heldRow->addWidget(heldoutBrowse_);
  seqLen_ = new QSpinBox(calib);
  seqLen_->setRange(2, 1 << 20);
  seqLen_->setValue(256);
  seqLen_->setToolTip(QStringLiteral("Tokens per window (text sources)"));
  windows_ = new QSpinBox(calib);
  windows_->setRange(1, 1 << 20);
  windows_->setValue(16);
  windows_->setToolTip(QStringLiteral("Windows drawn from the calibration data with the seed"));
  seed_ = new QSpinBox(calib);
  seed_->setRange(0, 2147483647);
  seed_->setValue(42);
  batch_ = new QSpinBox(calib);
  batch_->setRange(1, 1024);
  batch_->setValue(4);
  batch_->setToolTip(QStringLiteral("Windows per forward pass"));
  auto* numbers = new QHBoxLayout;
  for (auto [label, w] : {std::pair<const char*, QWidget*>{"seq-len", seqLen_}, {"windows", windows_}}) {
    numbers->addWidget(new QLabel(QString::fromLatin1(label), calib));
    numbers->addWidget(w, 1);
  }
  auto* numbers2 = new QHBoxLayout;
  for (auto [label, w] : {std::pair<const char*, QWidget*>{"seed", seed_}, {"batch", batch_}}) {
    numbers2->addWidget(new QLabel(QString::fromLatin1(label), calib));
    numbers2->addWidget(w, 1);
  }
  cf->addRow(QStringLiteral("Source"), source_);
  cf->addRow(QStringLiteral("Files"), filesRow);
  cf->addRow(heldout_, heldRow);
  cf->addRow(QStringLiteral("Windows"), numbers);
  cf->addRow(QString(), numbers2);
  return calib;

}

void SearchPanel::buildRunControls(QVBoxLayout* layout) {
  auto* buttons = new QHBoxLayout;
  run_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), QStringLiteral("Run"), this);
  run_->setToolTip(QStringLiteral("Start a new search from the base model plus the marked components (F5)"));
  cancel_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaStop), QStringLiteral("Cancel"), this);
  cancel_->setToolTip(QStringLiteral("Stop the running job; finished steps stay in the journal"));
  resume_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaSeekForward), QStringLiteral("Resume"), this);
  resume_->setToolTip(QStringLiteral("Continue the last cancelled run from its journal"));
  buttons->addWidget(run_);
  buttons->addWidget(cancel_);
  buttons->addWidget(resume_);
  layout->addLayout(buttons);
  progress_ = new QProgressBar(this);
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setTextVisible(true);
  progress_->setFormat(QStringLiteral("idle"));
  layout->addWidget(progress_);
  stage_ = new QLabel(this);
  stage_->setWordWrap(true);
  stage_->setObjectName(QStringLiteral("searchStage"));
  layout->addWidget(stage_);
  layout->addStretch(1);

}

void SearchPanel::addWhatsThis() {
  struct Help {
    QWidget* widget;
    const char* title;
    const char* text;
  };
  const Help help[] = {
      {granularity_, "Granularity",
       "What one search step removes: a whole block (it becomes the identity), the SSM of a kept block (the mixer "
       "keeps its gated path without the state-space scan), or, in hybrid models, shared-block uses, attention "
       "branches, MLPs, head groups and MLP channel groups. The list holds the kinds the open model has."},
      {metric_, "Metric",
       "<i>Perplexity</i> (the paper's): every remaining candidate is removed in turn and the calibration windows are "
       "evaluated; the step takes the candidate with the lowest perplexity. <i>Cosine block influence</i> (ShortGPT): "
       "one pass per step scores each component by 1 − cos(input, output) of the layer it acts in; fast, offered "
       "only for components that act within one layer."},
      {steps_, "Steps",
       "The most removals this run makes. The run also stops at the target or the "
       "perplexity ceiling, whichever comes first."},
      {target_, "Target removed",
       "Stop once this share of the model's parameters is removed. Off: "
       "only Steps and Max perplexity stop the run."},
      {maxPpl_, "Max perplexity",
       "A step whose best candidate would raise the calibration perplexity "
       "above this is not taken, and the run stops. Off: no ceiling."},
      {exhaustive_, "Score every candidate",
       "Off (default): exact early abandonment. A candidate whose running sum of window losses already exceeds the "
       "best complete candidate's total cannot win the step, so it stops; its score is a lower bound (hatched bars, "
       "“≥” in the tree). The removals are the same either way. On: every candidate sees every window."},
      {measureLatency_, "Measure latency per step",
       "Before the first step and after every step: decode latency (ms per token), prefill throughput (tokens/s) and "
       "peak memory, with shedder-cli bench's default sizes. Plotted on the Parameters, latency tab."},
      {demoAccuracy_, "Demo-task accuracy per step",
       "Before the first step and after every step: zero-shot accuracy on the shipped demo tasks (acc per task; the "
       "plot shows their mean). A quick signal, not a benchmark: use shedder-cli accuracy for real tasks."},
      {source_, "Calibration source",
       "The text the perplexity is measured on: the shipped demo set, your own text or JSONL files, or a "
       "pre-tokenized .safetensors file (a 2-D token tensor, one window per row; FILE:TENSOR picks a tensor)."},
      {files_, "Files",
       "Calibration files, separated by “;”. Windows of seq-len tokens are drawn from "
       "their concatenated tokens with the seed."},
      {browse_, "…",
       "Choose the calibration files (text or JSONL), or the pre-tokenized .safetensors file."},
      {heldoutBrowse_, "…",
       "Choose the held-out text files."},
      {heldout_, "Held-out curve",
       "After every step, the perplexity on held-out text too (one more pass per step): the second curve of the "
       "Perplexity plot, which shows whether the search overfits its calibration windows."},
      {heldoutFiles_, "Held-out files",
       "Text files for the held-out curve, separated by “;”. Empty with "
       "the demo set: its validation split."},
      {seqLen_, "seq-len",
       "Tokens per calibration window (text sources; a pre-tokenized file fixes "
       "its own)."},
      {windows_, "windows",
       "How many windows are evaluated per candidate. More windows: a steadier "
       "ranking, proportionally more time."},
      {seed_, "seed",
       "Which windows are drawn; the same seed gives the same windows and so the same "
       "run."},
      {batch_, "batch",
       "Windows per forward pass. Larger batches use more memory and are usually "
       "faster; the result does not change."},
      {run_, "Run",
       "A new search from the base model plus the marked components, in a new run folder "
       "(journal, results, an autosaved project)."},
      {resume_, "Resume",
       "Continues the last run from its journal; finished steps are not repeated. "
       "Raise Steps first to extend a finished run."},
      {cancel_, "Cancel",
       "Stops the running job within one window of work; finished steps stay in "
       "the journal."},
  };
  for (const Help& h : help)
    h.widget->setWhatsThis(
        QStringLiteral("<b>%1</b><p>%2</p>").arg(QString::fromUtf8(h.title), QString::fromUtf8(h.text)));
}

void SearchPanel::connectControls() {
  connect(run_, &QPushButton::clicked, this, &SearchPanel::runRequested);
  connect(cancel_, &QPushButton::clicked, this, &SearchPanel::cancelRequested);
  connect(resume_, &QPushButton::clicked, this, &SearchPanel::resumeRequested);
  connect(source_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { updateSourceWidgets(); });
  connect(granularity_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { updateMetricChoices(); });
  connect(browse_, &QPushButton::clicked, this, [this] {
    const bool tokens = source_->currentData().toString() == calibrationSourceName(CalibrationSource::TokenFile);
    if (tokens) {
      const QString f = QFileDialog::getOpenFileName(
          this, QStringLiteral("Pre-tokenized calibration windows"),
          files_->text().isEmpty() ? lastFolder(QStringLiteral("calibration"), QString()) : files_->text(),
          QStringLiteral("safetensors (*.safetensors);;All files (*)"));
      if (f.isEmpty()) return;
      rememberFolder(QStringLiteral("calibration"), f);
      files_->setText(f);
    } else {
      const QStringList f = QFileDialog::getOpenFileNames(this, QStringLiteral("Calibration text files"),
                                                          lastFolder(QStringLiteral("calibration"), QString()),
                                                          QStringLiteral("Text (*.txt *.jsonl *.json);;All files (*)"));
      if (f.isEmpty()) return;
      rememberFolder(QStringLiteral("calibration"), f.front());
      files_->setText(f.join(QStringLiteral("; ")));
    }
  });
  connect(heldoutBrowse_, &QPushButton::clicked, this, [this] {
    const QStringList f = QFileDialog::getOpenFileNames(this, QStringLiteral("Held-out text files"),
                                                        lastFolder(QStringLiteral("heldout"), QString()),
                                                        QStringLiteral("Text (*.txt *.jsonl *.json);;All files (*)"));
    if (f.isEmpty()) return;
    rememberFolder(QStringLiteral("heldout"), f.front());
    heldoutFiles_->setText(f.join(QStringLiteral("; ")));
  });
  connect(heldout_, &QCheckBox::toggled, this, [this] { updateSourceWidgets(); });
}


void SearchPanel::updateSourceWidgets() {
  const CalibrationSource s = parseCalibrationSource(source_->currentData().toString());
  files_->setEnabled(s != CalibrationSource::DemoSet);
  browse_->setEnabled(s != CalibrationSource::DemoSet);
  seqLen_->setEnabled(s != CalibrationSource::TokenFile);
  if (s == CalibrationSource::DemoSet) {
    files_->setText(EngineSession::demoCalibrationText());
    files_->setToolTip(QStringLiteral("The demo corpus's calibration split"));
  } else if (s == CalibrationSource::TokenFile) {
    files_->setPlaceholderText(QStringLiteral("FILE.safetensors[:TENSOR] with [windows, seq_len] token ids"));
    files_->setToolTip(files_->placeholderText());
    if (files_->text() == EngineSession::demoCalibrationText()) files_->clear();
  } else {
    files_->setPlaceholderText(QStringLiteral("text or JSONL files, separated by ';'"));
    files_->setToolTip(files_->placeholderText());
    if (files_->text() == EngineSession::demoCalibrationText()) files_->clear();
  }
  heldoutFiles_->setEnabled(heldout_->isChecked());
  heldoutBrowse_->setEnabled(heldout_->isChecked());
}

QString SearchPanel::granularityLabel(const QString& g) {
  static const QList<QPair<QString, QString>> labels = {
      {QStringLiteral("block"), QStringLiteral("Blocks (whole layers)")},
      {QStringLiteral("ssm"), QStringLiteral("SSM modules")},
      {QStringLiteral("shared"), QStringLiteral("Shared transformer block uses")},
      {QStringLiteral("attn"), QStringLiteral("Attention branches")},
      {QStringLiteral("mlp"), QStringLiteral("MLPs")},
      {QStringLiteral("head"), QStringLiteral("Attention heads (GQA groups)")},
      {QStringLiteral("channel"), QStringLiteral("MLP channel groups")},
      {QStringLiteral("ssm-head"), QStringLiteral("SSM heads")},
      {QStringLiteral("mixer-channel"), QStringLiteral("Mixer channel groups")},
      {QStringLiteral("state"), QStringLiteral("State dimensions (chunks)")}};
  for (const auto& l : labels)
    if (l.first == g) return l.second;
  return g;
}

QStringList SearchPanel::knownGranularities() {
  return {QStringLiteral("block"), QStringLiteral("ssm"),  QStringLiteral("shared"),  QStringLiteral("attn"),
          QStringLiteral("mlp"),   QStringLiteral("head"), QStringLiteral("channel"), QStringLiteral("ssm-head"),
          QStringLiteral("mixer-channel"), QStringLiteral("state")};
}

QStringList SearchPanel::offeredGranularities() const {
  QStringList values;
  for (int i = 0; i < granularity_->count(); ++i) values << granularity_->itemData(i).toString();
  return values;
}

bool SearchPanel::selectGranularity(const QString& value) {
  const int i = granularity_->findData(value);
  if (i < 0) return false;
  granularity_->setCurrentIndex(i);
  return true;
}

void SearchPanel::setGranularities(const QStringList& offered, const QStringList& cosine) {
  cosine_ = cosine;
  const QString current = granularity_->currentData().toString();
  {
    QSignalBlocker block(granularity_);
    granularity_->clear();
    for (const QString& g : offered) granularity_->addItem(granularityLabel(g), g);
    granularity_->setCurrentIndex(std::max(0, granularity_->findData(current)));
  }
  updateMetricChoices();
}

void SearchPanel::updateMetricChoices() {
  // The cosine metric compares one layer's output with and without a component: only for components acting in one
  // layer (the model says which).
  const bool cosineOk = cosine_.contains(granularity_->currentData().toString());
  auto* m = qobject_cast<QStandardItemModel*>(metric_->model());
  const int ci = metric_->findData(QStringLiteral("cosine"));
  if (m && ci >= 0) {
    QStandardItem* item = m->item(ci);
    item->setEnabled(cosineOk);
    item->setToolTip(cosineOk ? QString()
                              : QStringLiteral("This kind of component acts in several layers: rank it by perplexity"));
  }
  if (!cosineOk && metric_->currentData().toString() == QLatin1String("cosine"))
    metric_->setCurrentIndex(std::max(0, metric_->findData(QStringLiteral("ppl"))));
  // Say why a choice is missing, on the box itself (a disabled item's own tooltip is hard to reach).
  metric_->setToolTip(cosineOk ? QStringLiteral("How candidates are ranked: calibration perplexity (one pass per "
                                                "candidate) or cosine block influence (one pass per step)")
                               : QStringLiteral("Cosine is not offered for %1: such a component acts in several "
                                                "layers, so rank it by perplexity")
                                     .arg(granularity_->currentText()));
}

SearchSettings SearchPanel::settings() const {
  SearchSettings s;
  s.granularity = granularity_->currentData().toString();
  s.metric = metric_->currentData().toString();
  s.steps = steps_->value();
  s.targetParamsPct = target_->value();
  s.maxPpl = maxPpl_->value();
  s.heldoutCurve = heldout_->isChecked();
  s.benchPerStep = measureLatency_->isChecked();
  s.exhaustive = exhaustive_->isChecked();
  s.demoAccuracyPerStep = demoTasksAvailable_ && demoAccuracy_->isChecked();
  CalibrationSettings& c = s.calibration;
  c.source = parseCalibrationSource(source_->currentData().toString());
  if (c.source == CalibrationSource::TextFiles) c.textFiles = splitFiles(files_->text());
  if (c.source == CalibrationSource::TokenFile) c.tokenFile = files_->text().trimmed();
  c.heldoutFiles = heldout_->isChecked() ? splitFiles(heldoutFiles_->text()) : QStringList();
  c.seqLen = seqLen_->value();
  c.windows = windows_->value();
  c.seed = static_cast<quint64>(seed_->value());
  c.batch = batch_->value();
  return s;
}

void SearchPanel::setSettings(const SearchSettings& s) {
  granularity_->setCurrentIndex(std::max(0, granularity_->findData(s.granularity)));
  metric_->setCurrentIndex(std::max(0, metric_->findData(s.metric)));
  updateMetricChoices();
  steps_->setValue(s.steps);
  target_->setValue(s.targetParamsPct);
  maxPpl_->setValue(s.maxPpl);
  heldout_->setChecked(s.heldoutCurve);
  measureLatency_->setChecked(s.benchPerStep);
  exhaustive_->setChecked(s.exhaustive);
  demoAccuracy_->setChecked(demoTasksAvailable_ && s.demoAccuracyPerStep);
  const CalibrationSettings& c = s.calibration;
  CalibrationSource src = c.source;
  if (src == CalibrationSource::DemoSet && !demoAvailable_) src = CalibrationSource::TextFiles;
  source_->setCurrentIndex(std::max(0, source_->findData(calibrationSourceName(src))));
  if (src == CalibrationSource::TextFiles) files_->setText(c.textFiles.join(QStringLiteral("; ")));
  if (src == CalibrationSource::TokenFile) files_->setText(c.tokenFile);
  heldoutFiles_->setText(c.heldoutFiles.join(QStringLiteral("; ")));
  seqLen_->setValue(c.seqLen);
  windows_->setValue(c.windows);
  seed_->setValue(static_cast<int>(c.seed));
  batch_->setValue(c.batch);
  updateSourceWidgets();
}

void SearchPanel::setState(bool modelOpen, bool busy, bool searching, bool resumable) {
  run_->setEnabled(modelOpen && !busy);
  resume_->setEnabled(modelOpen && !busy && resumable);
  cancel_->setEnabled(busy);
  for (QWidget* w : std::initializer_list<QWidget*>{granularity_, metric_, steps_, target_, maxPpl_, source_, seqLen_,
                                                     windows_, seed_, batch_, heldout_, measureLatency_, exhaustive_})
    w->setEnabled(!searching);
  demoAccuracy_->setEnabled(!searching && demoTasksAvailable_);
  if (!searching) updateSourceWidgets();
  else {
    files_->setEnabled(false);
    browse_->setEnabled(false);
    heldoutFiles_->setEnabled(false);
    heldoutBrowse_->setEnabled(false);
  }
}

void SearchPanel::setResumeHint(const QString& runDir) {
  resume_->setToolTip(runDir.isEmpty() ? QStringLiteral("Continue the last cancelled run from its journal")
                                       : QStringLiteral("Continue the run in %1 from its journal").arg(runDir));
}

void SearchPanel::setProgress(const ProgressInfo& p) {
  const bool step = p.stage.startsWith(QLatin1String("step"));
  if (p.total > 0) {
    progress_->setRange(0, 1000);
    progress_->setValue(static_cast<int>(1000.0 * static_cast<double>(p.done) / static_cast<double>(p.total)));
  } else {
    progress_->setRange(0, 0);  // busy indicator
  }
  QString text;
  if (step) {
    text = QStringLiteral("%1 · %p%").arg(p.stage);
    if (p.etaSeconds >= 0) text += QStringLiteral(" · ETA %1").arg(formatDuration(p.etaSeconds));
  } else if (p.stage == QLatin1String("base")) {
    text = QStringLiteral("start perplexity");
    if (p.total > 0) text += QStringLiteral(" · %1/%2 windows").arg(p.done).arg(p.total);
    if (p.etaSeconds >= 0 && p.done > 0) text += QStringLiteral(" · ETA %1").arg(formatDuration(p.etaSeconds));
  } else if (p.stage == QLatin1String("eval")) {
    text = QStringLiteral("evaluating · %1/%2 windows").arg(p.done).arg(p.total);
  } else {
    text = p.total > 0 ? p.stage + QStringLiteral(" · %p%") : p.stage;  // e.g. resuming, held-out: where the run is
  }
  progress_->setFormat(text);
  if (step && p.windowsTotal > 0)
    stage_->setText(QStringLiteral("candidate windows %1/%2 · elapsed %3").arg(p.windowsDone).arg(p.windowsTotal).arg(formatDuration(p.elapsedSeconds)));
  else if (step)
    stage_->setText(QStringLiteral("elapsed %1").arg(formatDuration(p.elapsedSeconds)));
}

QWidget* SearchPanel::firstField() const { return granularity_; }

void SearchPanel::resetProgress() {
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setFormat(QString());
  stage_->clear();
}

void SearchPanel::setProgressIdle(const QString& text) {
  progress_->setRange(0, 1000);
  progress_->setValue(text.startsWith(QLatin1String("finished")) ? 1000 : progress_->value());
  progress_->setFormat(text);
  stage_->clear();
}

}  // namespace shedder::ui

// Plain value types that cross between the engine adapter, the worker thread and the widgets: the model's
// component tree, calibration and search settings, progress, what-if and export results. Qt/STL only (no
// torch), registered as metatypes so they travel through queued signals.
#pragma once

#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>
#include <vector>

namespace shedder::ui {

// One node of the core component tree (core/model/component_tree.h), copied out of the engine.
struct ComponentInfo {
  QString id;          // "model", "layers.7", "layers.7.ssm", "layers.7.ssm.heads"
  QString kind;        // "model", "block", "ssm", "heads"; hybrid models: "hybrid_block", "shared_block",
                       // "shared_weights", "attn_heads", "mlp_channels", "ssm_heads", "attention", "mlp"
                       // (core/model/component_tree.h)
  int layer = -1;
  qint64 parameters = 0;
  int count = 0;       // group nodes (heads): members
  std::vector<ComponentInfo> children;

  // What can be marked and searched: everything but the model, group nodes and a shared block's weights
  // (their heads and channels are the components).
  bool removable() const {
    return kind != QLatin1String("model") && kind != QLatin1String("heads") && kind != QLatin1String("shared_weights");
  }
};

struct ModelInfo {
  QString path;
  QString name;        // folder name
  QString arch;        // "mamba", "mamba2", "zamba2", "hymba"
  QString description; // one line: the architecture and its sizes
  int layers = 0;
  int hidden = 0;
  int vocab = 0;
  qint64 totalParameters = 0;
  QStringList granularities;        // what a search can remove in this model ("block", "ssm", "head", ...)
  QStringList cosineGranularities;  // those the cosine metric applies to (a component acting in one layer)
  int mlpChannelGroup = 0;          // channels per group of the "channel" / "mixer-channel" granularity (0: none)
  // Parameters a removal set takes away, counted by the engine (any thread; -1 when the set is not valid for this
  // model). Unset in a ModelInfo not made by EngineSession::load.
  std::function<qint64(const QStringList&)> countRemoved;
  QString dtype;       // stored dtype ("F32", "BF16")
  QString weightFiles;
  bool hasTokenizer = false;
  QString device;      // where it computes, e.g. "cpu" or "cuda:0 · bfloat16"
  ComponentInfo tree;
};

enum class CalibrationSource { DemoSet, TextFiles, TokenFile };
QString calibrationSourceName(CalibrationSource s);                 // "demo", "text", "tokens"
CalibrationSource parseCalibrationSource(const QString& s);         // unknown -> DemoSet

// Where calibration (and held-out) windows come from.
struct CalibrationSettings {
  CalibrationSource source = CalibrationSource::DemoSet;
  QStringList textFiles;       // TextFiles
  QString tokenFile;           // TokenFile: FILE.safetensors[:TENSOR]
  QStringList heldoutFiles;    // held-out curve (text); empty: the demo set's valid split for DemoSet, else none
  int seqLen = 256;
  int windows = 16;
  quint64 seed = 42;
  int batch = 4;

  bool operator==(const CalibrationSettings& o) const;
  bool operator!=(const CalibrationSettings& o) const { return !(*this == o); }
};

struct SearchSettings {
  QString granularity = QStringLiteral("block");  // one of ModelInfo::granularities
  QString metric = QStringLiteral("ppl");         // "ppl" / "cosine"
  int steps = 4;
  double targetParamsPct = 0;   // 0: off
  double maxPpl = 0;            // 0: off
  bool heldoutCurve = true;     // evaluate held-out perplexity after every step
  bool benchPerStep = false;    // measure latency and peak memory before the first step and after every step
  bool demoAccuracyPerStep = false;  // idem, zero-shot accuracy on the built-in demo tasks
  bool exhaustive = false;      // metric ppl: score every candidate fully (else hopeless ones stop early)
  CalibrationSettings calibration;
  QString runDir;               // journal and pruning configs go here
};

QJsonObject toJson(const CalibrationSettings& c);
CalibrationSettings calibrationFromJson(const QJsonObject& j);
QJsonObject toJson(const SearchSettings& s);
SearchSettings searchSettingsFromJson(const QJsonObject& j);

struct ProgressInfo {
  // "load", "base", "step 3 of 8", "held-out perplexity", "resuming: step 1 of 8 from the journal", "eval", "export"
  QString stage;
  qint64 done = 0;
  qint64 total = 0;
  double elapsedSeconds = 0;
  double etaSeconds = -1;    // < 0: unknown
  qint64 windowsDone = 0;
  qint64 windowsTotal = 0;
};

// Result of evaluating a removal set on the calibration windows ("what-if").
struct WhatIfResult {
  QStringList removed;       // component ids
  double basePpl = 0;
  double ppl = 0;
  qint64 parametersRemoved = 0;
  double parametersRemovedPct = 0;
  QString calibrationLabel;  // what the windows were
  int windows = 0;
  int seqLen = 0;
  double seconds = 0;
  QString note;              // e.g. "layers.3 on top of the marked set"
};

QJsonObject toJson(const WhatIfResult& w);
WhatIfResult whatIfFromJson(const QJsonObject& j);

struct ExportSummary {
  QString outDir;
  qint64 parametersBefore = 0;
  qint64 parametersAfter = 0;
  int layersAfter = 0;
  QStringList files;
  bool transformersLoadable = true;
  QString format = QStringLiteral("folder");  // "folder" (safetensors) or "gguf" (outDir is then the file)
  QString note;        // why transformers cannot load it, when it cannot
};

}  // namespace shedder::ui

Q_DECLARE_METATYPE(shedder::ui::ModelInfo)
Q_DECLARE_METATYPE(shedder::ui::CalibrationSettings)
Q_DECLARE_METATYPE(shedder::ui::SearchSettings)
Q_DECLARE_METATYPE(shedder::ui::ProgressInfo)
Q_DECLARE_METATYPE(shedder::ui::WhatIfResult)
Q_DECLARE_METATYPE(shedder::ui::ExportSummary)

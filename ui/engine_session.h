// The GUI's one door into the engine (core/): loads a model, turns calibration settings into token windows,
// evaluates removal sets, runs the Mamba-Shedder search with its journal, exports pruned checkpoints.
// Everything crossing this header is Qt/STL; libtorch stays inside engine_session.cpp. Not thread-safe: the
// worker thread owns it. Failures throw shedder::Error (its message is what the user sees), cancels
// shedder::Cancelled.
#pragma once

#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

#include "engine_types.h"
#include "runtime/progress.h"
#include "run_record.h"

namespace shedder::ui {

// The engine's progress report in the UI's terms (used by the session and by the worker).
ProgressInfo toProgressInfo(const shedder::Progress& p);

class EngineSession {
 public:
  EngineSession();
  ~EngineSession();
  EngineSession(const EngineSession&) = delete;
  EngineSession& operator=(const EngineSession&) = delete;

  // Where the next load() puts the model: device "cpu", "cuda", "cuda:N" or "auto"; dtype "auto", "float32",
  // "bfloat16", "float16" (runtime/device.h). Checked here (shedder::Error when this machine lacks it).
  void setCompute(const QString& device, const QString& dtype);
  // The devices this machine offers: "cpu" and "cuda:N" for every visible GPU.
  static QStringList computeDevices();

  // Loads a model folder (replacing the current one) and describes it.
  ModelInfo load(const QString& dir);
  bool hasModel() const;
  void unload();

  // Parameters the removal set `ids` takes away (ids: "layers.3", "layers.5.ssm", "shared.0.attn.heads.1"); validated
  // against the model.
  qint64 removedParameters(const QStringList& ids) const;

  // Perplexity of the model with `ids` removed on the calibration windows, with the base perplexity (cached
  // per calibration settings).
  WhatIfResult evaluate(const QStringList& ids, const CalibrationSettings& calib, const ProgressFn& progress,
                        const CancelToken* cancel);

  struct SearchCallbacks {
    std::function<void(const ProgressInfo&)> progress;
    // The start's perplexity, its held-out one, and the unpruned model's on the same windows.
    std::function<void(double basePpl, std::optional<double> heldout, double unprunedPpl)> base;
    std::function<void(const StepRecord&)> step;  // held-out perplexity filled in when asked for
  };
  // Runs (resume = continues settings.runDir's journal) the search from the removal set `initial`. The journal,
  // the reference tool's pruning configs and search_result.json go into settings.runDir.
  RunRecord search(const SearchSettings& settings, const QStringList& initial, bool resume, const SearchCallbacks& cb,
                   const CancelToken* cancel);

  // Writes the pruned checkpoint of `ids` into outDir (atomically; an existing folder only with force).
  // One GGUF file for llama.cpp (Mamba-1, Mamba-2; export/gguf_export.h) without `ids` (none: the whole model).
  // `type`: auto, f32, f16, bf16. Throws shedder::Error with the reason llama.cpp cannot express the model.
  ExportSummary exportGguf(const QStringList& ids, const QString& file, const QString& type, bool force);
  ExportSummary exportPruned(const QStringList& ids, const QString& outDir, bool force, std::optional<double> pplBefore,
                             std::optional<double> pplAfter, const QString& pplSource);

  // The built-in demo calibration / held-out texts (resources/demo/corpus/{calibration,valid}.txt or .jsonl; ""
  // when this installation has none).
  static QString demoCalibrationText();
  static QString demoHeldoutText();
  // The shipped demo model folder (resources/demo/mamba1), "" when not installed.
  static QString demoModel();
  // Whether the built-in demo accuracy tasks (resources/demo/tasks/*.jsonl) are installed.
  static bool demoTasksAvailable();

 private:
  struct Impl;
  std::unique_ptr<Impl> d_;
};

}  // namespace shedder::ui

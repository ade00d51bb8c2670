// The background worker: a QObject that lives on its own QThread, owns the EngineSession and runs one engine
// job at a time (load, evaluate, search, export). Jobs are started by queued calls to its slots; everything it
// reports reaches the UI through queued signals. requestCancel() is the one method callable from any thread.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <memory>

#include "engine_types.h"
#include "runtime/progress.h"
#include "run_record.h"

namespace shedder::ui {

class EngineSession;

class EngineWorker : public QObject {
  Q_OBJECT

 public:
  explicit EngineWorker(QObject* parent = nullptr);
  ~EngineWorker() override;

  // Thread-safe: queues `job` (a call of one of the slots below) to run on the worker's thread, after the jobs
  // queued before it. Jobs queued this way are the ones requestCancel() can cancel before they start.
  void enqueue(std::function<void()> job);
  // Thread-safe: the running job stops at its next check (within one window of work) and every job enqueued
  // before this call is dropped when its turn comes (reported as cancelled); later jobs run normally.
  void requestCancel();
  bool busy() const { return busy_.load(); }

 public Q_SLOTS:
  void loadModel(const QString& dir);
  // Device and dtype for the following loads (errors go to the log and the failed() signal).
  void setCompute(const QString& device, const QString& dtype);
  // What-if: perplexity with `ids` removed on the calibration windows; `note` is carried into the result.
  void evaluate(const QStringList& ids, const shedder::ui::CalibrationSettings& calib, const QString& note);
  void runSearch(const shedder::ui::SearchSettings& settings, const QStringList& initial, bool resume);
  void exportGguf(const QStringList& ids, const QString& file, const QString& type, bool force);
  void exportCheckpoint(const QStringList& ids, const QString& outDir, bool force, double pplBefore, double pplAfter,
                        const QString& pplSource);

 Q_SIGNALS:
  void busyChanged(bool busy, const QString& job);
  void progress(const shedder::ui::ProgressInfo& info);
  void log(const QString& line);
  void modelLoaded(const shedder::ui::ModelInfo& info);
  void evaluated(const shedder::ui::WhatIfResult& result);
  // heldoutPpl: NaN when there is no held-out set; unprunedPpl: the unpruned model on the same windows.
  void searchBase(double ppl, double heldoutPpl, double unprunedPpl);
  void searchStep(const shedder::ui::StepRecord& step);
  void searchFinished(const shedder::ui::RunRecord& run);
  // The run stopped on request; `run` holds every finished step (they are in its journal too).
  void searchCancelled(const shedder::ui::RunRecord& run);
  void exported(const shedder::ui::ExportSummary& summary);
  void cancelled(const QString& job);
  // A job failed; `message` is the engine's (names the file and the problem).
  void failed(const QString& job, const QString& message);

 private:
  template <typename F>
  void runJob(const QString& job, F&& body);

  std::unique_ptr<EngineSession> session_;
  CancelToken cancel_;
  std::atomic<bool> busy_{false};
  std::atomic<quint64> submitted_{0};      // tickets handed out by enqueue()
  std::atomic<quint64> cancelledUpTo_{0};  // jobs with a ticket up to this one are cancelled
  quint64 ticket_ = 0;                     // the running job's ticket (0: called directly, not enqueued)
};

// Registers the value types of engine_types.h / run_record.h for queued connections (idempotent).
void registerEngineMetaTypes();

}  // namespace shedder::ui

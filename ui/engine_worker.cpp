// The background worker (see engine_worker.h). Each job catches every exception: shedder::Cancelled becomes
// cancelled()/searchCancelled(), anything else failed(message); nothing escapes into the event loop.
#include "engine_worker.h"

#include <QElapsedTimer>

#include <cmath>
#include <exception>
#include <limits>

#include "engine_session.h"
#include "util/error.h"

namespace shedder::ui {

void registerEngineMetaTypes() {
  qRegisterMetaType<ModelInfo>();
  qRegisterMetaType<CalibrationSettings>();
  qRegisterMetaType<SearchSettings>();
  qRegisterMetaType<ProgressInfo>();
  qRegisterMetaType<WhatIfResult>();
  qRegisterMetaType<ExportSummary>();
  qRegisterMetaType<StepRecord>();
  qRegisterMetaType<RunRecord>();
}

EngineWorker::EngineWorker(QObject* parent) : QObject(parent), session_(std::make_unique<EngineSession>()) {
  registerEngineMetaTypes();
}

EngineWorker::~EngineWorker() = default;

void EngineWorker::enqueue(std::function<void()> job) {
  const quint64 ticket = ++submitted_;
  QMetaObject::invokeMethod(
      this,
      [this, ticket, job = std::move(job)] {
        ticket_ = ticket;
        job();
        ticket_ = 0;
      },
      Qt::QueuedConnection);
}

void EngineWorker::requestCancel() {
  cancelledUpTo_ = submitted_.load();  // first, so a job starting now sees it after resetting the token
  cancel_.cancel();
}

template <typename F>
void EngineWorker::runJob(const QString& job, F&& body) {
  cancel_.reset();
  const quint64 ticket = ticket_ != 0 ? ticket_ : ++submitted_;  // a direct call is a job of its own
  if (ticket <= cancelledUpTo_.load()) {  // cancelled while it waited in the queue
    Q_EMIT log(job + QStringLiteral(": cancelled before it started"));
    Q_EMIT cancelled(job);
    return;
  }
  busy_ = true;
  Q_EMIT busyChanged(true, job);
  try {
    body();
  } catch (const Cancelled&) {
    Q_EMIT log(job + QStringLiteral(": cancelled"));
    Q_EMIT cancelled(job);
  } catch (const std::bad_alloc&) {
    Q_EMIT failed(job, QStringLiteral("out of memory; use fewer or shorter calibration windows"));
  } catch (const std::exception& e) {
    Q_EMIT failed(job, QString::fromStdString(e.what()));
  } catch (...) {
    Q_EMIT failed(job, QStringLiteral("unknown error"));
  }
  busy_ = false;
  Q_EMIT busyChanged(false, job);
}

void EngineWorker::loadModel(const QString& dir) {
  runJob(QStringLiteral("load"), [&] {
    Q_EMIT log(QStringLiteral("Loading %1").arg(dir));
    QElapsedTimer t;
    t.start();
    const ModelInfo info = session_->load(dir);
    Q_EMIT log(QStringLiteral("Loaded %1: %2, %3 layers, %4 parameters (%5 s)")
                   .arg(info.name, info.description)
                   .arg(info.layers)
                   .arg(info.totalParameters)
                   .arg(t.elapsed() / 1000.0, 0, 'f', 2));
    Q_EMIT modelLoaded(info);
  });
}

void EngineWorker::setCompute(const QString& device, const QString& dtype) {
  runJob(QStringLiteral("device"), [&] {
    session_->setCompute(device, dtype);
    Q_EMIT log(QStringLiteral("Models load onto %1 (%2)").arg(device, dtype));
  });
}

void EngineWorker::evaluate(const QStringList& ids, const CalibrationSettings& calib, const QString& note) {
  runJob(QStringLiteral("evaluate"), [&] {
    WhatIfResult r = session_->evaluate(ids, calib, [this](const Progress& p) { Q_EMIT progress(toProgressInfo(p)); }, &cancel_);
    r.note = note;
    Q_EMIT log(QStringLiteral("Evaluated %1: perplexity %2 (base %3) on %4")
                   .arg(ids.isEmpty() ? QStringLiteral("the base model") : ids.join(QStringLiteral(", ")))
                   .arg(r.ppl, 0, 'f', 4)
                   .arg(r.basePpl, 0, 'f', 4)
                   .arg(r.calibrationLabel));
    Q_EMIT evaluated(r);
  });
}

void EngineWorker::runSearch(const SearchSettings& settings, const QStringList& initial, bool resume) {
  RunRecord partial;
  partial.settings = settings;
  partial.initialRemoved = initial;
  partial.journalPath = settings.runDir + QStringLiteral("/journal.jsonl");
  runJob(QStringLiteral("search"), [&] {
    Q_EMIT log(QStringLiteral("%1 search: granularity %2, metric %3, %4 steps, run folder %5")
                   .arg(resume ? QStringLiteral("Resuming") : QStringLiteral("Starting"), settings.granularity,
                        settings.metric)
                   .arg(settings.steps)
                   .arg(settings.runDir));
    EngineSession::SearchCallbacks cb;
    cb.progress = [this](const ProgressInfo& p) { Q_EMIT progress(p); };
    cb.base = [&](double ppl, std::optional<double> held, double unpruned) {
      partial.basePpl = ppl;
      partial.unprunedPpl = unpruned;
      partial.baseHeldoutPpl = held;
      // "base" is the unpruned model (What-if's base); a run that starts from marked components starts above it.
      const QString what = initial.isEmpty() ? QStringLiteral("Base perplexity")
                                             : QStringLiteral("Start perplexity (base + %1 marked)").arg(initial.size());
      Q_EMIT log(held ? QStringLiteral("%1 %2 (held-out %3)").arg(what).arg(ppl, 0, 'f', 4).arg(*held, 0, 'f', 4)
                      : QStringLiteral("%1 %2").arg(what).arg(ppl, 0, 'f', 4));
      Q_EMIT searchBase(ppl, held ? *held : std::numeric_limits<double>::quiet_NaN(), unpruned);
    };
    cb.step = [&](const StepRecord& s) {
      partial.mergeStep(s);
      Q_EMIT log(QStringLiteral("Step %1: removed %2 -> perplexity %3%4 (%5% of parameters removed, %6 s)")
                     .arg(s.step + 1)
                     .arg(s.id)
                     .arg(s.ppl, 0, 'f', 4)
                     .arg(s.heldoutPpl ? QStringLiteral(", held-out %1").arg(*s.heldoutPpl, 0, 'f', 4) : QString())
                     .arg(s.parametersRemovedPct, 0, 'f', 2)
                     .arg(s.seconds, 0, 'f', 1));
      Q_EMIT searchStep(s);
    };
    try {
      const RunRecord r = session_->search(settings, initial, resume, cb, &cancel_);
      Q_EMIT log(QStringLiteral("Search finished (%1): %2 evaluations in %3 s; results in %4")
                     .arg(r.stopReason)
                     .arg(r.evaluations)
                     .arg(r.seconds, 0, 'f', 1)
                     .arg(settings.runDir));
      Q_EMIT searchFinished(r);
    } catch (const Cancelled&) {
      partial.state = QStringLiteral("cancelled");
      Q_EMIT log(QStringLiteral("Search cancelled after %1 step(s); the journal %2 keeps them (Resume continues)")
                     .arg(partial.steps.size())
                     .arg(partial.journalPath));
      Q_EMIT searchCancelled(partial);
    }
  });
}

void EngineWorker::exportGguf(const QStringList& ids, const QString& file, const QString& type, bool force) {
  runJob(QStringLiteral("export"), [&] {
    Q_EMIT log(QStringLiteral("Exporting %1 as GGUF (%2) to %3")
                   .arg(ids.isEmpty() ? QStringLiteral("the whole model") : ids.join(QStringLiteral(", ")), type, file));
    const ExportSummary s = session_->exportGguf(ids, file, type, force);
    Q_EMIT log(QStringLiteral("Exported %1: %2 -> %3 parameters, %4 layers; %5")
                   .arg(file)
                   .arg(s.parametersBefore)
                   .arg(s.parametersAfter)
                   .arg(s.layersAfter)
                   .arg(s.note));
    Q_EMIT exported(s);
  });
}

void EngineWorker::exportCheckpoint(const QStringList& ids, const QString& outDir, bool force, double pplBefore,
                                    double pplAfter, const QString& pplSource) {
  runJob(QStringLiteral("export"), [&] {
    Q_EMIT log(QStringLiteral("Exporting the pruned checkpoint (%1) to %2").arg(ids.join(QStringLiteral(", ")), outDir));
    const auto opt = [](double v) { return std::isfinite(v) ? std::optional<double>(v) : std::nullopt; };
    const ExportSummary s = session_->exportPruned(ids, outDir, force, opt(pplBefore), opt(pplAfter), pplSource);
    Q_EMIT log(QStringLiteral("Exported %1: %2 -> %3 parameters, %4 layers")
                   .arg(outDir)
                   .arg(s.parametersBefore)
                   .arg(s.parametersAfter)
                   .arg(s.layersAfter));
    Q_EMIT exported(s);
  });
}

}  // namespace shedder::ui

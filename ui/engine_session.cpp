// The engine adapter (see engine_session.h): the only ui/ file that sees libtorch. It translates the GUI's
// plain settings into core calls (model loading, token windows, perplexity, run_search with its journal,
// export_pruned) and core results back into plain records.
#include <ATen/ATen.h>

#include "engine_session.h"
#include "run_import.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "eval/perplexity.h"
#include "eval/task_input.h"
#include "eval/window_source.h"
#include "export/exporter.h"
#include "export/gguf_export.h"
#include "model/component_tree.h"
#include "model/model.h"
#include "runtime/device.h"
#include "runtime/resources.h"
#include "runtime/threads.h"
#include "shed/journal.h"
#include "shed/search.h"
#include "util/error.h"

namespace shedder::ui {

namespace {

std::string str(const QString& s) { return s.toStdString(); }
QString qstr(const std::string& s) { return QString::fromStdString(s); }

// libtorch's intra-op thread count belongs to the calling thread under OpenMP: set it in every thread that
// computes (the worker thread, or a test's main thread).
void ensureThreads() {
  thread_local bool done = false;
  if (!done) {
    configure_threads(0);
    done = true;
  }
}

ComponentInfo toInfo(const Component& c) {
  ComponentInfo i;
  i.id = qstr(c.id);
  i.kind = QString::fromLatin1(component_kind_name(c.kind));
  i.layer = static_cast<int>(c.layer);
  i.parameters = c.parameters;
  i.count = static_cast<int>(c.count);
  for (const Component& ch : c.children) i.children.push_back(toInfo(ch));
  return i;
}

RemovalSet removalOf(const Model& model, const QStringList& ids, const std::string& label) {
  RemovalSet r;
  for (const QString& id : ids) r.add_spec(str(id));
  model.plan(r, label);
  return r;
}

// The demo corpus split `name` ("calibration", "valid"), as plain text or JSONL; "" when not installed.
std::string demoSplit(const std::string& name) {
  for (const char* ext : {".txt", ".jsonl"}) {
    const std::string p = demo_path("corpus/" + name + ext);
    if (!p.empty()) return p;
  }
  return {};
}

struct Windows {
  CalibrationSettings key;
  at::Tensor tensor;
  std::string label;
  std::optional<double> basePpl;
};

}  // namespace

struct EngineSession::Impl {
  std::shared_ptr<Model> model;
  std::string device = "cpu", dtype = "auto";  // for the next load()
  std::optional<Windows> calib, heldout;

  const Model& need() const {
    if (!model) throw Error("no model is open");
    return *model;
  }

  Windows& calibration(const CalibrationSettings& c) {
    if (calib && calib->key == c) return *calib;
    WindowSource src;
    switch (c.source) {
      case CalibrationSource::DemoSet: {
        const std::string demo = demoSplit("calibration");
        if (demo.empty())
          throw Error("the built-in demo calibration set (resources/demo/corpus/calibration.txt or .jsonl) is not installed; "
                      "choose text files or a pre-tokenized file as the calibration source");
        src.text_files = {demo};
        break;
      }
      case CalibrationSource::TextFiles:
        if (c.textFiles.isEmpty()) throw Error("no calibration text files chosen");
        for (const QString& f : c.textFiles) src.text_files.push_back(str(f));
        break;
      case CalibrationSource::TokenFile:
        if (c.tokenFile.isEmpty()) throw Error("no pre-tokenized calibration file chosen");
        src.tokens = str(c.tokenFile);
        break;
    }
    if (c.windows < 1) throw Error("the number of calibration windows must be at least 1");
    calib = sampledWindows(c, std::move(src));
    return *calib;
  }

  // Held-out windows: the chosen files, or the demo set's validation split; nullptr when there are none.
  Windows* heldoutWindows(const CalibrationSettings& c) {
    if (heldout && heldout->key == c) return &*heldout;
    WindowSource src;
    for (const QString& f : c.heldoutFiles) src.text_files.push_back(str(f));
    if (src.text_files.empty() && c.source == CalibrationSource::DemoSet) {
      const std::string demo = demoSplit("valid");
      if (!demo.empty()) src.text_files = {demo};
    }
    if (src.text_files.empty()) return nullptr;
    heldout = sampledWindows(c, std::move(src));
    return &*heldout;
  }

  // `c.windows` windows of `c.seqLen` tokens sampled with `c.seed` from `src` (calibration and held-out alike).
  Windows sampledWindows(const CalibrationSettings& c, WindowSource src) const {
    src.seq_len = c.seqLen;
    src.max_windows = c.windows;
    src.sample = true;
    src.seed = c.seed;
    Windows w;
    w.key = c;
    w.tensor = load_windows(need(), src, &w.label);
    return w;
  }
};

ProgressInfo toProgressInfo(const shedder::Progress& p) {
  ProgressInfo i;
  i.stage = qstr(p.stage);
  i.done = p.done;
  i.total = p.total;
  i.elapsedSeconds = p.elapsed_s;
  i.etaSeconds = p.eta_s;
  i.windowsDone = p.windows_done;
  i.windowsTotal = p.windows_total;
  return i;
}

EngineSession::EngineSession() : d_(std::make_unique<Impl>()) {}
EngineSession::~EngineSession() = default;

void EngineSession::setCompute(const QString& device, const QString& dtype) {
  const at::Device d = parse_device(str(device));
  resolve_compute_dtype(str(dtype), d, "F32");
  d_->device = str(device);
  d_->dtype = str(dtype);
}

QStringList EngineSession::computeDevices() {
  QStringList out{QStringLiteral("cpu")};
  for (int64_t i = 0; i < cuda_device_count(); ++i) out << QStringLiteral("cuda:%1").arg(i);
  return out;
}

ModelInfo EngineSession::load(const QString& dir) {
  ensureThreads();
  if (dir.isEmpty()) throw Error("no model folder given");
  LoadOptions lo;
  lo.device = d_->device;
  lo.dtype = d_->dtype;
  std::shared_ptr<Model> m = Model::load(str(dir), lo);
  d_->model = m;
  d_->calib.reset();
  d_->heldout.reset();
  const Model& model = *m;
  ModelInfo info;
  info.path = QFileInfo(dir).absoluteFilePath();
  info.name = QFileInfo(info.path).fileName();
  info.arch = QString::fromLatin1(model.arch());
  info.description = qstr(model.description());
  info.layers = static_cast<int>(model.num_layers());
  info.hidden = static_cast<int>(model.hidden_size());
  info.vocab = static_cast<int>(model.vocab_size());
  info.totalParameters = model.total_parameters();
  info.dtype = qstr(model.source_dtype());
  info.weightFiles = qstr(model.weight_files());
  info.hasTokenizer = model.has_tokenizer();
  info.device = qstr(model.device().str());
  if (!model.device().is_cpu()) info.device += QStringLiteral(" · ") + QString::fromLatin1(dtype_name(model.compute_dtype()));
  for (Granularity g : model.granularities()) {
    info.granularities << QString::fromLatin1(granularity_name(g));
    if (model.layer_local(g)) info.cosineGranularities << QString::fromLatin1(granularity_name(g));
  }
  if (model.has_granularity(Granularity::MlpChannels) || model.has_granularity(Granularity::MixerChannels))
    info.mlpChannelGroup = static_cast<int>(model.mlp_channel_group());
  info.tree = toInfo(model.component_tree());
  // The engine's own count, for the tree's totals: cheap (no weight is touched) and safe from the GUI thread. A weak
  // reference, so a replaced model is not kept alive by an old ModelInfo.
  std::weak_ptr<const Model> weak = m;
  info.countRemoved = [weak](const QStringList& ids) -> qint64 {
    const std::shared_ptr<const Model> mm = weak.lock();
    if (!mm) return -1;
    try {
      RemovalSet r;
      for (const QString& id : ids) r.add_spec(id.toStdString());
      return mm->removed_parameters(r);
    } catch (const Error&) {
      return -1;
    }
  };
  return info;
}

bool EngineSession::hasModel() const { return d_->model != nullptr; }

void EngineSession::unload() {
  d_->model.reset();
  d_->calib.reset();
  d_->heldout.reset();
}

namespace {

// The what-if result of `ids` on the windows `w` (whose base perplexity is known).
WhatIfResult whatIf(const QStringList& ids, const Windows& w, double ppl, qint64 removedParams, qint64 totalParams,
                    std::chrono::steady_clock::time_point t0) {
  WhatIfResult r;
  r.removed = ids;
  r.basePpl = *w.basePpl;
  r.ppl = ppl;
  r.parametersRemoved = removedParams;
  r.parametersRemovedPct = 100.0 * static_cast<double>(removedParams) / static_cast<double>(totalParams);
  r.calibrationLabel = qstr(w.label);
  r.windows = static_cast<int>(w.tensor.size(0));
  r.seqLen = static_cast<int>(w.tensor.size(1));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

qint64 EngineSession::removedParameters(const QStringList& ids) const {
  const Model& m = d_->need();
  return m.removed_parameters(removalOf(m, ids, "removal set"));
}

WhatIfResult EngineSession::evaluate(const QStringList& ids, const CalibrationSettings& calib, const ProgressFn& progress,
                                     const CancelToken* cancel) {
  ensureThreads();
  const auto t0 = std::chrono::steady_clock::now();
  const Model& m = d_->need();
  const RemovalSet removed = removalOf(m, ids, "removal set");
  Windows& w = d_->calibration(calib);
  auto staged = [&](const char* stage) -> ProgressFn {
    if (!progress) return nullptr;
    return [progress, stage](const Progress& p) {
      Progress q = p;
      q.stage = stage;
      progress(q);
    };
  };
  if (!w.basePpl) w.basePpl = evaluate_perplexity(m, w.tensor, calib.batch, {}, staged("base"), cancel).perplexity;
  const double ppl = removed.empty()
                         ? *w.basePpl
                         : evaluate_perplexity(m, w.tensor, calib.batch, removed, staged("eval"), cancel).perplexity;
  return whatIf(ids, w, ppl, m.removed_parameters(removed), m.total_parameters(), t0);
}

namespace {

// The core search options of the GUI's settings (validated; the journal in settings.runDir).
SearchOptions searchOptions(const Model& m, const SearchSettings& s, const QStringList& initial, bool resume) {
  SearchOptions o;
  const auto g = parse_granularity(str(s.granularity));
  if (!g || !m.has_granularity(*g))
    throw Error("search: a " + std::string(m.arch()) + " model has no '" + str(s.granularity) + "' components (" +
                granularity_names(m.granularities()) + ")");
  const auto metric = parse_metric(str(s.metric));
  if (!metric || *metric == Metric::Accuracy)  // accuracy needs a task: the CLI's `search --metric accuracy --task`
    throw Error("search: metric must be ppl or cosine (got '" + str(s.metric) + "')");
  if (s.steps < 1) throw Error("search: the number of steps must be at least 1");
  if (s.targetParamsPct < 0 || s.targetParamsPct > 100) throw Error("search: the target must be in [0, 100] %");
  if (s.runDir.isEmpty()) throw Error("search: no run folder");
  o.granularity = *g;
  o.metric = *metric;
  o.steps = s.steps;
  o.target_params_pct = s.targetParamsPct;
  o.max_ppl = s.maxPpl;
  o.batch = std::max(1, s.calibration.batch);
  o.initial = removalOf(m, initial, "initial removal set");
  o.exhaustive = s.exhaustive;
  // The per-step measurements, as the CLI's `search --bench --eval-demo-tasks` sets them (its defaults).
  if (s.benchPerStep) {
    BenchOptions b;
    b.batch = 1;
    b.length = 256;
    b.decode_tokens = 32;
    b.repeats = 3;
    validate_bench_options(b);
    o.bench = b;
  }
  if (s.demoAccuracyPerStep)
    for (auto& t : load_tasks(m, demo_task_files(), /*max_items=*/0))
      o.eval_tasks.push_back(std::make_shared<const EncodedTask>(std::move(t)));

  const std::string dir = str(s.runDir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the run folder: " + ec.message());
  o.journal_path = (std::filesystem::path(dir) / "journal.jsonl").string();
  o.resume = resume;
  if (resume && !std::filesystem::exists(o.journal_path, ec))
    throw Error(o.journal_path + ": no journal to resume in this run folder");
  if (!resume && std::filesystem::exists(o.journal_path, ec))
    throw Error(o.journal_path + ": this run folder already holds a journal; resume it or choose a new folder");
  o.args = nlohmann::json::object();
  o.args["program"] = "mamba-shedder";
  o.args["model"] = m.dir();
  o.args["settings"] = nlohmann::json::parse(QJsonDocument(toJson(s)).toJson(QJsonDocument::Compact).toStdString());
  return o;
}

// Overall progress over every planned step: evaluations before a step, assuming one candidate fewer per step.
struct StepPlan {
  int64_t planned = 0, first = 0;  // steps; candidates at the first step
  bool perCandidate = true;        // one evaluation per candidate (ppl) or one per step (cosine)
  int64_t before(int64_t step) const {
    int64_t n = 0;
    for (int64_t k = 0; k < step && k < planned; ++k) n += perCandidate ? first - k : 1;
    return n;
  }
};

}  // namespace

RunRecord EngineSession::search(const SearchSettings& s, const QStringList& initial, bool resume,
                                const SearchCallbacks& cb, const CancelToken* cancel) {
  ensureThreads();
  const Model& m = d_->need();
  const SearchOptions o = searchOptions(m, s, initial, resume);
  const std::string dir = str(s.runDir);
  const nlohmann::json context = removal_context(m, o.granularity);
  Windows& calib = d_->calibration(s.calibration);
  Windows* held = s.heldoutCurve ? d_->heldoutWindows(s.calibration) : nullptr;
  SearchOptions opts = o;
  opts.calibration_label = calib.label;

  RunRecord rec;
  rec.settings = s;
  rec.modelPath = qstr(m.dir());
  rec.calibrationLabel = qstr(calib.label);
  rec.initialRemoved = initial;
  rec.totalParameters = m.total_parameters();
  rec.initialParametersRemoved = m.removed_parameters(o.initial);
  rec.journalPath = qstr(o.journal_path);
  rec.state = QStringLiteral("running");

  // The overall position last reported: stages that do not move it (a held-out pass, the journal's replay) keep
  // the bar where it is instead of turning it into a busy indicator.
  ProgressInfo position;
  auto heldoutPpl = [&](const RemovalSet& r) -> std::optional<double> {
    if (!held) return std::nullopt;
    if (cb.progress) {
      ProgressInfo p = position;
      p.stage = QStringLiteral("held-out perplexity");
      p.etaSeconds = -1;
      cb.progress(p);
    }
    return evaluate_perplexity(m, held->tensor, o.batch, r, nullptr, cancel).perplexity;
  };
  StepPlan plan;
  plan.first = static_cast<int64_t>(m.candidates(o.granularity, o.initial).size());
  plan.planned = std::min<int64_t>(o.steps, plan.first);
  plan.perCandidate = o.metric != Metric::Cosine;
  const int64_t totalEvals = plan.before(plan.planned);

  // A journaled step reaches the record and the GUI even when a cancel interrupts its held-out evaluation (it
  // then has no held-out value): the record never lacks a step the journal holds. Returns false once cancelled.
  bool cancelledHere = false;
  auto reportStep = [&](StepRecord sr, const RemovalSet& now) {
    if (!cancelledHere) {
      try {
        sr.heldoutPpl = heldoutPpl(now);
      } catch (const Cancelled&) {
        cancelledHere = true;
      }
    }
    rec.mergeStep(sr);
    if (cb.step) cb.step(sr);
    return !cancelledHere;
  };

  // Steps the journal already holds (resume): replayed to the GUI first so its curves are complete (run_search
  // reports them again once its cache is built; those reports are skipped below).
  int64_t replayedSteps = 0;
  if (resume) {
    RemovalSet replayed = o.initial;
    const JournalContents jc = Journal::read(o.journal_path);
    for (const auto& r : jc.records) {
      if (r.value("type", "") != "step") continue;
      SearchStep st = step_from_json(r, o.metric, o.journal_path);
      replayed.add(ComponentId::parse(st.id));
      if (cb.progress) {
        position.stage = QStringLiteral("resuming: step %1 of %2 from the journal").arg(st.step + 1).arg(plan.planned);
        position.total = totalEvals * 1000;
        position.done = plan.before(st.step + 1) * 1000;
        position.etaSeconds = -1;
        cb.progress(position);
      }
      if (cancel && cancel->cancelled()) cancelledHere = true;
      reportStep(toStepRecord(st), replayed);
      ++replayedSteps;
    }
    if (cancelledHere) throw Cancelled();
  }

  // The overall ETA: the engine's for the current step (weighted by each candidate's cost) plus the later steps'
  // candidates at the rate measured since the first step began (not counting the base pass and the cache set-up,
  // which made the first estimates minutes too long).
  auto t0 = std::chrono::steady_clock::now();
  double doneAtStart = -1;
  shedder::SearchCallbacks scb;
  scb.progress = [&](const Progress& p) {
    if (!cb.progress) return;
    ProgressInfo i = toProgressInfo(p);
    if (p.stage.rfind("step ", 0) == 0) {
      const int64_t step = std::stoll(p.stage.substr(5)) - 1;
      double units = static_cast<double>(plan.before(step));
      if (plan.perCandidate)
        units += static_cast<double>(p.done) +
                 (p.windows_total > 0 ? static_cast<double>(p.windows_done) / static_cast<double>(p.windows_total) : 0.0);
      else
        units += p.total > 0 && p.done >= p.total ? 1.0 : 0.0;
      if (doneAtStart < 0) {
        doneAtStart = units;
        t0 = std::chrono::steady_clock::now();
      }
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      i.stage = QStringLiteral("step %1 of %2").arg(step + 1).arg(plan.planned);
      i.total = totalEvals * 1000;
      i.done = static_cast<qint64>(units * 1000);
      const double rate = (units - doneAtStart) / std::max(el, 1e-9);
      const double later = static_cast<double>(totalEvals - plan.before(step + 1));
      if (rate > 0 && plan.perCandidate && p.eta_s >= 0)
        i.etaSeconds = p.eta_s + later / rate;
      else
        i.etaSeconds = rate > 0 ? (static_cast<double>(totalEvals) - units) / rate : -1.0;
      i.elapsedSeconds = el;
    }
    if (i.total > 0) position = i;
    cb.progress(i);
  };
  scb.on_base = [&](double ppl) {
    rec.basePpl = ppl;
    if (!rec.baseHeldoutPpl) rec.baseHeldoutPpl = heldoutPpl(o.initial);
    // The unpruned model's reference line: the start itself, else one more pass (cached with the windows, so a
    // What-if evaluation on them has measured it already).
    if (o.initial.empty()) calib.basePpl = ppl;
    else if (!calib.basePpl) calib.basePpl = evaluate_perplexity(m, calib.tensor, o.batch, {}, nullptr, cancel).perplexity;
    rec.unprunedPpl = calib.basePpl;
    if (cb.base) cb.base(ppl, rec.baseHeldoutPpl, *rec.unprunedPpl);
  };
  scb.on_step = [&](const SearchStep& st, const RemovalSet& now) {
    write_step_config(dir, now, o.granularity, st.step, context);
    if (st.step < replayedSteps) return;  // reported above
    if (!reportStep(toStepRecord(st), now)) throw Cancelled();
  };
  const SearchResult res = run_search(m, calib.tensor, opts, scb, cancel);
  write_search_outputs(dir, res, o.granularity, o.metric, context);
  rec.basePpl = res.base_ppl;
  if (!rec.unprunedPpl && o.initial.empty()) rec.unprunedPpl = res.base_ppl;
  setBaseMeasurements(rec, res);
  for (const SearchStep& st : res.steps) rec.mergeStep(toStepRecord(st));
  rec.state = QStringLiteral("finished");
  rec.stopReason = qstr(res.stop_reason);
  rec.evaluations = res.evaluations;
  rec.seconds = res.seconds;
  return rec;
}

ExportSummary EngineSession::exportPruned(const QStringList& ids, const QString& outDir, bool force,
                                          std::optional<double> pplBefore, std::optional<double> pplAfter,
                                          const QString& pplSource) {
  ensureThreads();
  if (outDir.isEmpty()) throw Error("export: no output folder chosen");
  const Model& m = d_->need();
  const RemovalSet removed = removalOf(m, ids, "export");
  if (removed.empty()) throw Error("export: nothing is removed or marked; mark components or run a search first");
  ExportOptions o;
  o.out_dir = str(outDir);
  o.force = force;
  o.ppl_before = pplBefore;
  o.ppl_after = pplAfter;
  o.ppl_source = str(pplSource);
  o.pruning_extra = removal_context(m, removed);
  const ExportResult r = export_pruned(m, removed, o);
  ExportSummary s;
  s.outDir = outDir;
  s.parametersBefore = r.params_before;
  s.parametersAfter = r.params_after;
  s.layersAfter = static_cast<int>(r.layers_after);
  for (const auto& f : r.files) s.files << qstr(f);
  s.transformersLoadable = r.report.value("transformers_loadable", true);
  s.note = qstr(r.report.value("note", std::string()));
  return s;
}

ExportSummary EngineSession::exportGguf(const QStringList& ids, const QString& file, const QString& type, bool force) {
  ensureThreads();
  if (file.isEmpty()) throw Error("export: no GGUF file chosen");
  const Model& m = d_->need();
  GgufExportOptions o;
  o.out_path = str(file);
  o.force = force;
  o.type = str(type);
  const GgufExportResult r = export_gguf(m, removalOf(m, ids, "export"), o);
  ExportSummary s;
  s.outDir = file;
  s.parametersBefore = r.params_before;
  s.parametersAfter = r.params_after;
  s.layersAfter = static_cast<int>(r.layers_after);
  s.files << QFileInfo(file).fileName();
  s.format = QStringLiteral("gguf");
  s.note = QStringLiteral("GGUF %1 for llama.cpp's %2 architecture, %3 bytes")
               .arg(QString::fromLatin1(ggml_type_name(r.type)), QString::fromLatin1(m.arch()))
               .arg(static_cast<qulonglong>(r.bytes));
  if (!r.pass_through_ssm_layers.empty())
    s.note += QStringLiteral("; %1 layer(s) keep their block without SSM, written as an SSM that passes its input "
                             "through").arg(r.pass_through_ssm_layers.size());
  return s;
}

QString EngineSession::demoCalibrationText() { return qstr(demoSplit("calibration")); }
QString EngineSession::demoHeldoutText() { return qstr(demoSplit("valid")); }
QString EngineSession::demoModel() { return qstr(demo_path("mamba1")); }
bool EngineSession::demoTasksAvailable() {
  try {
    return !demo_task_files().empty();
  } catch (const Error&) {
    return false;
  }
}

}  // namespace shedder::ui

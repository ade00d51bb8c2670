// The tuning loop (see trainer.h): data, optimisation, validation, checkpoints, resume, final save.
#include "train/trainer.h"

#include <ATen/Context.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "eval/token_windows.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "io/model_identity.h"
#include "util/hash.h"
#include "tokenizer/bpe_tokenizer.h"
#include "train/adamw.h"
#include "runtime/device.h"
#include "io/model_folder.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Deterministic order of the training windows: every epoch is a seeded permutation, so the batch of any
// step is known without replaying the run (resume gives the same batches).
class WindowSampler {
 public:
  WindowSampler(int64_t windows, uint64_t seed) : w_(windows), seed_(seed) {}
  int64_t at(int64_t k) {
    const int64_t epoch = k / w_;
    if (epoch != epoch_) {
      perm_.resize(static_cast<size_t>(w_));
      for (int64_t i = 0; i < w_; ++i) perm_[static_cast<size_t>(i)] = i;
      std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
      for (int64_t i = w_ - 1; i > 0; --i) {  // Fisher-Yates with our own draw: identical on every platform
        const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
        std::swap(perm_[static_cast<size_t>(i)], perm_[static_cast<size_t>(j)]);
      }
      epoch_ = epoch;
    }
    return perm_[static_cast<size_t>(k % w_)];
  }

 private:
  int64_t w_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> perm_;
};

double validation_ppl(const TrainableModel& m, const at::Tensor& windows, int64_t batch) {
  c10::NoGradGuard no_grad;
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < windows.size(0); i += batch) {
    const int64_t b = std::min(batch, windows.size(0) - i);
    sum += m.loss(windows.narrow(0, i, b)).item<double>() * static_cast<double>(b);
    n += b;
  }
  return std::exp(sum / static_cast<double>(n));
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file_bytes(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

void write_checkpoint(const std::string& out_dir, const TrainableModel& m, const AdamW& opt, int64_t step,
                      const nlohmann::json& state_json) {
  const fs::path dir = fs::path(out_dir) / "checkpoint";
  const fs::path tmp = fs::path(out_dir) / ("checkpoint.tmp-" + std::to_string(std::random_device{}()));
  std::error_code ec;
  fs::create_directory(tmp, ec);
  if (ec) throw Error(tmp.string() + ": cannot create the checkpoint folder: " + ec.message());
  try {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& tp : m.params())
      if (tp.trainable) tensors.emplace_back("param." + tp.name, tp.value.detach().to(at::kCPU).contiguous());
    for (auto& kv : opt.state()) tensors.push_back(std::move(kv));
    write_safetensors((tmp / "state.safetensors").string(), tensors);
    nlohmann::json j = state_json;
    j["step"] = step;
    write_file_atomic((tmp / "trainer_state.json").string(), j.dump(1) + "\n");
    const fs::path old = fs::path(out_dir) / "checkpoint.old";
    remove_tree(old.string());
    if (fs::exists(dir, ec)) fs::rename(dir, old, ec);
    if (ec) throw Error(dir.string() + ": cannot replace the previous checkpoint: " + ec.message());
    fs::rename(tmp, dir, ec);
    if (ec) {
      fs::rename(old, dir);
      throw Error(dir.string() + ": cannot move the new checkpoint into place: " + ec.message());
    }
    remove_tree(old.string());
  } catch (const std::exception& e) {
    remove_tree(tmp.string());
    throw Error(std::string(e.what()) + " (the previous checkpoint, if any, is kept)");
  }
}

std::string describe_difference(const nlohmann::json& a, const nlohmann::json& b) {
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key()) || b[it.key()] != it.value())
      return it.key() + " (checkpoint: " + it.value().dump() + ", now: " +
             (b.contains(it.key()) ? b[it.key()].dump() : std::string("absent")) + ")";
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key())) return it.key();
  return "";
}

}  // namespace

nlohmann::json TuneLog::to_json() const {
  nlohmann::json j = {{"step", step},         {"steps", steps},         {"loss", loss},
                      {"lr", lr},             {"grad_norm", grad_norm}, {"tokens_per_s", tokens_per_s},
                      {"elapsed_s", elapsed_s}};
  if (valid_ppl) j["valid_ppl"] = *valid_ppl;
  return j;
}

static TuneLog log_from_json(const nlohmann::json& j) {
  TuneLog l;
  l.step = j.value("step", int64_t{0});
  l.steps = j.value("steps", int64_t{0});
  l.loss = j.value("loss", 0.0);
  l.lr = j.value("lr", 0.0);
  l.grad_norm = j.value("grad_norm", 0.0);
  l.tokens_per_s = j.value("tokens_per_s", 0.0);
  l.elapsed_s = j.value("elapsed_s", 0.0);
  if (j.contains("valid_ppl")) l.valid_ppl = j["valid_ppl"].get<double>();
  return l;
}

TuneResult run_tuning(const std::string& model_dir, const TuneOptions& o, const TuneCallbacks& cb,
                      const CancelToken* cancel) {
  const auto t0 = Clock::now();
  if (o.out_dir.empty()) throw Error("tune: no output folder (--out)");
  if (o.train_files.empty()) throw Error("tune: no training text (--train-text)");
  if (o.steps < 1 || o.batch < 1 || o.accumulate < 1 || o.seq_len < 2)
    throw Error("tune: --steps, --batch and --accumulate must be >= 1 and --seq-len >= 2");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw Error("tune: --lr must be a positive number");
  if (o.lora.rank < 0) throw Error("tune: --lora must be >= 0");
  const at::Device device = parse_device(o.device);

  // Output folder: a fresh run refuses an existing folder unless --force; --resume continues its checkpoint.
  std::error_code ec;
  const fs::path out(o.out_dir);
  const fs::path ckpt = out / "checkpoint";
  const bool resuming = o.resume && fs::exists(ckpt / "trainer_state.json", ec);
  if (o.resume && !resuming && fs::exists(out / "tune_report.json", ec))
    throw Error(o.out_dir + ": this run already finished (tune_report.json); nothing to resume");
  // Never the model folder or a folder containing it; an existing folder only with --force (a fresh start) or
  // --resume, and only when it is empty or one of our tuning folders (io/model_folder.h).
  check_output_folder(o.out_dir, model_dir, o.force || o.resume, tune_markers(),
                      "use --force to replace it or --resume to continue its checkpoint");
  LoadOptions lo;
  lo.device = device.str();
  lo.dtype = "float32";
  std::shared_ptr<Model> base = Model::load(model_dir, lo);
  const BpeTokenizer& tok = base->tokenizer();
  const int64_t eos = tok.eos_id() ? *tok.eos_id() : base->eos_token_id();
  at::Tensor train = make_token_windows(tok, read_documents(o.train_files), eos, o.seq_len, 0, "training text");
  at::Tensor valid;
  if (!o.valid_files.empty())
    valid = make_token_windows(tok, read_documents(o.valid_files), eos, o.seq_len, o.valid_windows, "validation text");

  TrainableModel m(base, o.lora, o.seed);
  // Created only once the inputs are known to be good, so a typo leaves nothing behind.
  // A fresh start over an earlier run of ours: its checkpoint and report go (they describe the old run); its
  // model files stay until the new ones replace them, each atomically, so the folder always holds a model.
  if (!resuming && fs::exists(out, ec)) {
    if (!remove_tree(ckpt.string())) throw Error(ckpt.string() + ": cannot remove the old checkpoint");
    fs::remove(out / "tune_report.json", ec);
  }
  create_folder(o.out_dir);
  if (valid.defined()) valid = valid.to(device);
  const int64_t W = train.size(0);

  nlohmann::json fingerprint = {
      {"model", model_identity(model_dir, (ckpt / "weights-hash-cache.json").string())},
      {"train_windows_hash", fnv1a64_hex(train.data_ptr(), static_cast<size_t>(train.nbytes()))},
      {"train_windows", W},
      {"seq_len", o.seq_len},
      {"batch", o.batch},
      {"accumulate", o.accumulate},
      {"steps", o.steps},
      {"lr", o.lr},
      {"min_lr_ratio", o.min_lr_ratio},
      {"warmup", o.warmup},
      {"clip", o.clip},
      {"weight_decay", o.weight_decay},
      {"betas", {o.beta1, o.beta2}},
      {"seed", o.seed},
      {"lora_rank", o.lora.rank},
      {"lora_alpha", o.lora.alpha}};
  base.reset();  // only the trainable copy is needed from here on

  AdamWOptions ao;
  ao.beta1 = o.beta1;
  ao.beta2 = o.beta2;
  ao.weight_decay = o.weight_decay;
  AdamW opt(ao);
  TuneResult res;
  res.trainable_params = m.trainable_count();
  int64_t start = 0;
  if (resuming) {
    const std::string sp = (ckpt / "trainer_state.json").string();
    nlohmann::json st = read_json_file(sp);
    const std::string diff = describe_difference(st.value("fingerprint", nlohmann::json::object()), fingerprint);
    if (!diff.empty())
      throw Error(sp + ": the checkpoint belongs to a different run; it differs in " + diff +
                  " (use --force to start over)");
    start = st.value("step", int64_t{0});
    auto f = SafetensorsFile::open((ckpt / "state.safetensors").string());
    std::map<std::string, at::Tensor> tensors;
    for (const auto& name : f->names()) tensors[name] = f->tensor(name);
    {
      c10::NoGradGuard no_grad;
      for (auto& tp : m.params()) {
        if (!tp.trainable) continue;
        auto it = tensors.find("param." + tp.name);
        if (it == tensors.end() || it->second.sizes() != tp.value.sizes())
          throw Error((ckpt / "state.safetensors").string() + ": missing or mis-shaped " + tp.name);
        tp.value.copy_(it->second.to(at::kFloat));
      }
    }
    opt.load_state(tensors, start, device);
    if (st.contains("valid_ppl_before")) res.valid_ppl_before = st["valid_ppl_before"].get<double>();
    for (const auto& h : st.value("history", nlohmann::json::array())) res.history.push_back(log_from_json(h));
    res.resumed_from = start;
  }

  const int64_t warmup = o.warmup >= 0 ? o.warmup : std::max<int64_t>(1, o.steps / 20);
  const double min_lr = o.lr * o.min_lr_ratio;
  const int64_t tokens_per_step = o.batch * o.accumulate * o.seq_len;
  WindowSampler sampler(W, o.seed);

  auto progress = [&](int64_t step, double eta) {
    if (!cb.progress) return;
    Progress p;
    p.stage = "tune";
    p.done = step;
    p.total = o.steps;
    p.elapsed_s = seconds_since(t0);
    p.eta_s = eta;
    cb.progress(p);
  };
  auto state_json = [&]() {
    nlohmann::json j;
    j["fingerprint"] = fingerprint;
    if (res.valid_ppl_before) j["valid_ppl_before"] = *res.valid_ppl_before;
    j["history"] = nlohmann::json::array();
    for (const auto& h : res.history) j["history"].push_back(h.to_json());
    return j;
  };

  if (valid.defined() && !res.valid_ppl_before) {
    res.valid_ppl_before = validation_ppl(m, valid, o.batch);
    TuneLog l;
    l.step = 0;
    l.steps = o.steps;
    l.lr = 0;
    l.valid_ppl = res.valid_ppl_before;
    l.elapsed_s = seconds_since(t0);
    res.history.push_back(l);
    if (cb.on_log) cb.on_log(l);
  }
  progress(start, -1);

  int64_t last_ckpt = start;
  double loss_acc = 0;
  int64_t loss_n = 0;
  const auto loop_t0 = Clock::now();
  auto since_log = Clock::now();
  int64_t tokens_since_log = 0;
  for (int64_t step = start + 1; step <= o.steps; ++step) {
    if (cancel && cancel->cancelled()) {
      if (step - 1 > last_ckpt) write_checkpoint(o.out_dir, m, opt, step - 1, state_json());
      throw Cancelled();
    }
    const double lr = scheduled_lr(step, o.steps, warmup, o.lr, min_lr);
    for (auto& tp : m.params())
      if (tp.trainable && tp.value.grad().defined()) tp.value.grad().zero_();
    double step_loss = 0;
    for (int64_t micro = 0; micro < o.accumulate; ++micro) {
      std::vector<int64_t> idx(static_cast<size_t>(o.batch));
      for (int64_t i = 0; i < o.batch; ++i)
        idx[static_cast<size_t>(i)] = sampler.at(((step - 1) * o.accumulate + micro) * o.batch + i);
      at::Tensor ids = train.index_select(0, at::tensor(idx, at::kLong)).to(device);
      at::Tensor loss = m.loss(ids) / static_cast<double>(o.accumulate);
      loss.backward();
      step_loss += loss.item<double>();
    }
    if (!std::isfinite(step_loss)) {
      throw Error("training diverged at step " + std::to_string(step) + " (loss " + std::to_string(step_loss) +
                  "); lower --lr" + (last_ckpt > 0 ? "; the checkpoint of step " + std::to_string(last_ckpt) +
                                                         " is in " + ckpt.string()
                                                   : std::string()));
    }
    const double gnorm = clip_grad_norm(m.params(), o.clip);
    opt.step(m.params(), lr);
    res.tokens_seen += tokens_per_step;
    tokens_since_log += tokens_per_step;
    loss_acc += step_loss;
    ++loss_n;

    const double elapsed_loop = seconds_since(loop_t0);
    const double eta = elapsed_loop / static_cast<double>(step - start) * static_cast<double>(o.steps - step);
    const bool do_valid = valid.defined() && ((o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps);
    if (do_valid || step % std::max<int64_t>(1, o.log_every) == 0 || step == o.steps) {
      TuneLog l;
      l.step = step;
      l.steps = o.steps;
      l.loss = loss_acc / static_cast<double>(loss_n);
      l.lr = lr;
      l.grad_norm = gnorm;
      l.tokens_per_s = static_cast<double>(tokens_since_log) / std::max(1e-9, seconds_since(since_log));
      if (do_valid) l.valid_ppl = validation_ppl(m, valid, o.batch);
      l.elapsed_s = seconds_since(t0);
      l.eta_s = eta;
      res.history.push_back(l);
      if (cb.on_log) cb.on_log(l);
      loss_acc = 0;
      loss_n = 0;
      tokens_since_log = 0;
      since_log = Clock::now();
    }
    progress(step, eta);
    if (o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step < o.steps) {
      write_checkpoint(o.out_dir, m, opt, step, state_json());
      last_ckpt = step;
    }
  }
  res.steps_done = o.steps;
  for (auto it = res.history.rbegin(); it != res.history.rend(); ++it)
    if (it->valid_ppl) {
      res.valid_ppl_after = it->valid_ppl;
      break;
    }

  m.save(o.out_dir, o.dtype);
  res.seconds = seconds_since(t0);
  nlohmann::json rep;
  rep["source"] = fs::absolute(model_dir).lexically_normal().string();
  rep["architecture"] = m.model().arch();
  rep["mode"] = o.lora.rank > 0 ? "lora" : "full";
  rep["trainable_parameters"] = res.trainable_params;
  rep["device"] = device.str();
  rep["options"] = fingerprint;
  rep["options"].erase("model");
  rep["tokens_per_step"] = tokens_per_step;
  if (res.valid_ppl_before) rep["valid_ppl_before"] = *res.valid_ppl_before;
  if (res.valid_ppl_after) rep["valid_ppl_after"] = *res.valid_ppl_after;
  if (!o.valid_files.empty()) rep["valid_text"] = o.valid_files;
  rep["train_text"] = o.train_files;
  rep["resumed_from_step"] = res.resumed_from;
  rep["seconds_this_process"] = res.seconds;
  if (!o.args.is_null()) rep["args"] = o.args;
  rep["history"] = nlohmann::json::array();
  for (const auto& h : res.history) rep["history"].push_back(h.to_json());
  res.report = rep;
  write_file_atomic((out / "tune_report.json").string(), rep.dump(2) + "\n");
  if (!o.keep_checkpoint) remove_tree(ckpt.string());
  progress(o.steps, 0);
  return res;
}

}  // namespace shedder

// `shedder-cli search MODEL --granularity G --steps N ...`: the Mamba-Shedder search, headless, for every
// architecture (the granularities are the model's: Model::granularities).
// With --out DIR it keeps a resumable journal (DIR/journal.jsonl), the reference tool's pruning configs
// (DIR/pruning_config.json, DIR/pruned_model_configs/) and the full result (DIR/search_result.json).
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "dist/communicator.h"
#include "runtime/device.h"
#include "shed/search.h"
#include "eval/task_input.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder::cli {

namespace {

CancelToken g_cancel;
extern "C" void on_sigint(int) { g_cancel.cancel(); }

// Calibration windows drawn from --calib-text when --windows is not given (--calib-tokens: all of the file's).
constexpr int64_t kTextWindows = 32;

}  // namespace

const CommandSpec& search_spec() {
  static const CommandSpec spec{
      "search", "MODEL", "the Mamba-Shedder search: greedy removal of blocks, SSMs, heads, channels ...",
      "At each step every remaining candidate of the granularity (a block, the SSM of a kept block, a head group, an "
      "MLP channel group ...) is evaluated with it removed on top of what is already removed, and the one with the "
      "lowest calibration perplexity is removed (the reference's greedy loop; ties go to the lowest index). Stop "
      "rules: --steps, --target-params-pct and --max-ppl.\n\n"
      "Granularities: block and ssm for every model; Mamba-2 adds ssm-head (an SSM head), mixer-channel (a group of "
      "positions of the head dimension, in every head) and state (the next chunk of a layer's state dimensions, "
      "least important first by the L1 norm of their B and C rows), Mamba-1 mixer-channel (a group of inner "
      "channels) and state (docs/width.md); Zamba2 adds shared (a layer's use of its shared transformer "
      "block), head (a shared block's KV head with its query heads) and channel (a group of a shared block's MLP "
      "channels); Hymba adds attn, mlp, head, channel and ssm-head. info MODEL --json lists a model's.\n\n"
      "With --out DIR the run keeps DIR/journal.jsonl (every step with every candidate's score), the reference "
      "tool's pruning_config.json and pruned_model_configs/, and search_result.json; Ctrl-C cancels cleanly and "
      "--resume continues after the last finished step. --json prints the result as search_result.json holds it, "
      "with the calibration windows' count and length (windows, seq_len).\n\n"
      "Distributed: several processes score the candidates of a step together (shedder-cli launch, torchrun or "
      "Slurm set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; or give --world-size, --rank and --master).",
      join(join({opt("granularity", "block|ssm|shared|attn|mlp|head|channel|ssm-head|mixer-channel|state", "block",
                     "what the search removes (the model's granularities)"),
                 opt("steps", "N", "1", "at most this many removals"),
                 opt("metric", "ppl|cosine|accuracy", "ppl",
                     "how candidates are ranked: calibration perplexity (one pass per candidate), cosine block "
                     "influence (one pass per step) or zero-shot accuracy on --task"),
                 opt("target-params-pct", "P", "0", "stop once P % of the parameters are removed; 0: no target"),
                 opt("max-ppl", "X", "0", "never take a step whose perplexity exceeds X; 0: no ceiling"),
                 multi("calib-text", "FILE...",
                       "calibration text or JSONL files, tokenized, joined with EOS and cut into --seq-len windows "
                       "(this or --calib-tokens)"),
                 opt("calib-tokens", "FILE.safetensors[:TENSOR]", "",
                     "pre-tokenized calibration windows, an integer tensor [windows, seq_len] (this or --calib-text)"),
                 opt("seq-len", "N", "512", "tokens per --calib-text window"),
                 opt("windows", "N",
                     std::to_string(kTextWindows) + " with --calib-text, all windows with --calib-tokens",
                     "calibration windows, drawn with --seed (a Mersenne Twister, the same on every machine)"),
                 opt("seed", "S", "42", "seed of the window draw"),
                 opt("batch", "N", "1", "calibration windows per forward pass")},
                join(removal_options(), model_options())),
           {flag("exhaustive",
                 "--metric ppl: score every candidate fully; by default a candidate whose running NLL already "
                 "exceeds the step's best complete candidate stops early and is recorded as a lower bound "
                 "(ppl_at_least; the picks are the same)"),
            opt("candidate-batch", "N", "0",
                "--metric ppl: candidates evaluated together, stacked in one batch after the layer each changes; 0: "
                "as many as fit half the free memory on a GPU, 1 on the CPU"),
            flag("no-prefix-cache", "evaluate every candidate from the first block (results are the same)"),
            opt("cache-every", "K", "0", "keep every K-th block boundary in the prefix cache; 0: as many as fit"),
            opt("cache-memory-mb", "M", "0", "memory for the prefix cache; 0: half of the machine's memory"),
            opt("out", "DIR", "", "folder for the journal, the pruning configs and search_result.json"),
            flag("resume", "continue the run in --out after its last finished step"),
            opt("task", "FILE.jsonl", "", "--metric accuracy: the task whose accuracy ranks the candidates"),
            flag("accuracy-norm", "--metric accuracy: rank by acc_norm instead of acc"),
            opt("max-items", "N", "0", "score the first N items of every task; 0: all"),
            multi("eval-task", "FILE.jsonl...", "record accuracy on these tasks before the first step and after each"),
            flag("eval-demo-tasks", "record accuracy on the built-in demo tasks (as --eval-task)"),
            flag("bench", "measure latency and memory before the first step and after each (as the bench command)"),
            opt("bench-batch", "B", "1", "--bench: sequences per prefill"),
            opt("bench-length", "L", "256", "--bench: tokens per prefill sequence"),
            opt("bench-decode-tokens", "N", "32", "--bench: decode steps"),
            opt("bench-repeats", "R", "3", "--bench: timed repeats (the median is reported)"),
            opt("world-size", "N", "WORLD_SIZE or SLURM_NTASKS, else 1", "processes in a distributed search"),
            opt("rank", "R", "RANK or SLURM_PROCID, else 0", "this process's rank in the group"),
            opt("master", "ADDR:PORT", "MASTER_ADDR:MASTER_PORT, else 127.0.0.1:29500", "the rendezvous of the group"),
            opt("dist-backend", "auto|nccl|gloo|store", "auto",
                "how ranks exchange scores: auto is nccl on CUDA, else gloo, else the store alone"),
            opt("dist-timeout", "S", "1800", "seconds a rank waits for the others before failing")})};
  return spec;
}

namespace {

// The search's options from the command line, checked (the model-dependent ones are filled in by cmd_search).
SearchOptions search_options(const Args& args) {
  SearchOptions o;
  const auto g = parse_granularity(args.get("granularity"));
  if (!g)
    throw Error("search: unknown --granularity '" + args.get("granularity") + "' (" + granularity_names(all_granularities(), "|") +
                ")");
  o.granularity = *g;
  const auto m = parse_metric(args.get("metric"));
  if (!m) throw Error("search: --metric must be ppl, cosine or accuracy (got '" + args.get("metric") + "')");
  o.metric = *m;
  o.steps = args.get_int("steps");
  o.target_params_pct = args.get_double("target-params-pct");
  o.max_ppl = args.get_double("max-ppl");
  o.batch = args.get_int("batch");
  o.prefix_cache = !args.flag("no-prefix-cache");
  o.exhaustive = args.flag("exhaustive");
  o.candidate_batch = args.get_int("candidate-batch");
  if (o.candidate_batch < 0) throw Error("search: --candidate-batch must be >= 0 (0: automatic)");
  o.cache_every = args.get_int("cache-every");
  o.cache_memory_mb = args.get_int("cache-memory-mb");
  if (o.steps < 1) throw Error("search: --steps must be at least 1");
  if (o.batch < 1) throw Error("search: --batch must be at least 1");
  if (o.target_params_pct < 0 || o.target_params_pct > 100) throw Error("search: --target-params-pct must be in [0, 100]");
  if (o.max_ppl < 0) throw Error("search: --max-ppl must be positive");
  if (o.cache_every < 0 || o.cache_memory_mb < 0) throw Error("search: cache settings must be >= 0");
  if (args.has("windows") && args.get_int("windows") < 1) throw Error("search: --windows must be at least 1");
  if (args.flag("resume") && args.get("out").empty())
    throw Error("search: --resume needs the --out folder of the run to continue");
  if (o.metric == Metric::Accuracy && !args.has("task"))
    throw Error("search: --metric accuracy needs --task FILE.jsonl (the task whose accuracy ranks the candidates)");
  if (o.metric != Metric::Accuracy && (args.has("task") || args.flag("accuracy-norm")))
    throw Error("search: --task and --accuracy-norm go with --metric accuracy (use --eval-task to only record accuracy)");
  if (args.get_int("max-items") < 0) throw Error("search: --max-items must be >= 0 (0 = all)");
  if (args.flag("bench")) {
    BenchOptions b;
    b.batch = args.get_int("bench-batch");
    b.length = args.get_int("bench-length");
    b.decode_tokens = args.get_int("bench-decode-tokens");
    b.repeats = args.get_int("bench-repeats");
    validate_bench_options(b);
    o.bench = b;
  } else if (args.has("bench-batch") || args.has("bench-length") || args.has("bench-decode-tokens") ||
             args.has("bench-repeats")) {
    throw Error("search: the --bench-* options need --bench");
  }
  return o;
}

// Distributed: --world-size/--rank/--master, or the launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT, LOCAL_RANK; Slurm's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID).
DistOptions dist_options(const Args& args) {
  DistOptions dopt;
  dopt.world_size = args.has("world-size") ? args.get_int("world-size") : 0;
  dopt.rank = args.has("rank") ? args.get_int("rank") : -1;
  dopt.local_rank = -1;
  dopt.master_addr.clear();
  dopt.master_port = 0;
  if (args.has("master")) parse_master(args.get("master"), dopt, "--master");
  dopt.backend = args.get("dist-backend");
  dopt.timeout_s = args.get_double("dist-timeout");
  return resolve_dist_options(dopt);
}

// The model-dependent options: the starting removals, the accuracy task that ranks, the tasks recorded.
void add_model_options(const Args& args, const std::string& dir, Model& model, SearchOptions& o) {
  if (!model.has_granularity(o.granularity))
    throw Error(std::string("search: a ") + model.arch() + " model has no " + granularity_name(o.granularity) +
                " components (--granularity " + granularity_names(model.granularities(), "|") + ")");
  const int64_t max_items = args.get_int("max-items");
  o.initial = removal_from_args(model, args);
  if (o.metric == Metric::Accuracy) {
    o.accuracy_task = std::make_shared<const EncodedTask>(load_tasks(model, {args.get("task")}, max_items)[0]);
    o.accuracy_norm = args.flag("accuracy-norm");
  }
  std::vector<std::string> eval_files = args.all("eval-task");
  if (args.flag("eval-demo-tasks")) {
    const auto demo = demo_task_files();
    eval_files.insert(eval_files.end(), demo.begin(), demo.end());
  }
  for (auto& t : load_tasks(model, eval_files, max_items)) o.eval_tasks.push_back(std::make_shared<const EncodedTask>(std::move(t)));
  o.args = nlohmann::json::object();
  o.args["model"] = dir;
  for (const auto& w : args.words()) o.args["argv"].push_back(w);
}

// The result as a table on stdout: a row per step (and the base when accuracy or the benchmark is recorded), with
// optional columns for accuracy per task and the benchmark's speed-ups against the base measured in this run.
void print_table(const SearchResult& r, double base_removed_pct) {
  std::printf("base perplexity %.4f, %lld parameters\n", r.base_ppl, static_cast<long long>(r.total_params));
  std::vector<std::string> tasks;
  for (const auto& a : r.base_accuracy) tasks.push_back(a.name);
  std::printf("%-5s %-26s %12s %10s", "step", "removed", "perplexity", "% params");
  for (const auto& t : tasks) std::printf(" %*s", static_cast<int>(t.size() + 4), ("acc " + t).c_str());
  if (r.base_bench) std::printf(" %13s %9s %13s %9s %9s", "prefill tok/s", "speed-up", "decode ms/tok", "speed-up", "peak MiB");
  std::printf("\n");
  auto row = [&](const std::string& step, const std::string& id, double ppl, double pct, const std::vector<TaskResult>& acc,
                 const std::optional<BenchResult>& b) {
    std::printf("%-5s %-26s %12.4f %9.2f%%", step.c_str(), id.c_str(), ppl, pct);
    for (const auto& t : tasks) {
      double v = -1;
      for (const auto& a : acc)
        if (a.name == t) v = a.acc;
      std::printf(" %*.4f", static_cast<int>(t.size() + 4), v);
    }
    if (r.base_bench && b)
      std::printf(" %13.1f %8.3fx %13.3f %8.3fx %9.1f", b->prefill_tokens_per_s,
                  b->prefill_tokens_per_s / r.base_bench->prefill_tokens_per_s, b->decode_ms_per_token,
                  r.base_bench->decode_ms_per_token / b->decode_ms_per_token, b->peak_memory_bytes / 1048576.0);
    std::printf("\n");
  };
  if (!tasks.empty() || r.base_bench) row("base", "-", r.base_ppl, base_removed_pct, r.base_accuracy, r.base_bench);
  for (const auto& s : r.steps) row(std::to_string(s.step), s.id, s.ppl, s.params_removed_pct, s.accuracy, s.bench);
  std::string abandoned =
      r.abandoned ? " (" + std::to_string(r.abandoned) + " stopped early as hopeless; --exhaustive scores all)" : "";
  if (r.candidate_batch > 1) abandoned += ", up to " + std::to_string(r.candidate_batch) + " at a time";
  std::printf("stopped: %s; %lld evaluations%s, %lld block passes in %.1f s%s\n", r.stop_reason.c_str(),
              static_cast<long long>(r.evaluations), abandoned.c_str(), static_cast<long long>(r.layers_run), r.seconds,
              r.resumed_steps ? (" (" + std::to_string(r.resumed_steps) + " steps resumed from the journal)").c_str() : "");
}

}  // namespace

int cmd_search(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "search");
  SearchOptions o = search_options(args);
  const int64_t seq_len = args.get_int("seq-len");
  // 0: every window (sample_windows keeps them all).
  const int64_t nwin = args.has("windows") ? args.get_int("windows") : args.has("calib-tokens") ? 0 : kTextWindows;
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed"));
  const std::string out = args.get("out");

  const DistOptions dopt = dist_options(args);
  const bool dist = dopt.world_size > 1;
  CommonOptions placed = common;
  const std::string dev_spec = args.get("device");
  if (dist && (dev_spec == "cuda" || (dev_spec == "auto" && cuda_device_count() > 0)))
    placed.device = "cuda:" + std::to_string(dopt.local_rank % std::max<int64_t>(1, cuda_device_count()));
  const bool lead = dopt.rank == 0;

  auto model = load_model(dir, placed, &args);
  add_model_options(args, dir, *model, o);
  const nlohmann::json context = removal_context(*model, o.granularity);
  const at::Tensor windows =
      load_windows(*model, args, "calib-", seq_len, nwin, /*sample=*/true, seed, &o.calibration_label);
  std::unique_ptr<Communicator> comm;
  if (dist) {
    comm = Communicator::create(dopt, model->device());
    o.comm = comm.get();
    if (lead)
      std::fprintf(stderr, "search: %lld ranks (%s backend, rendezvous %s:%lld), this rank computes on %s\n",
                   static_cast<long long>(dopt.world_size), comm->backend().c_str(), dopt.master_addr.c_str(),
                   static_cast<long long>(dopt.master_port), model->device().str().c_str());
  }
  if (!out.empty() && lead) {
    create_folder(out);
    o.journal_path = (fs::path(out) / "journal.jsonl").string();
    o.resume = args.flag("resume");
  }

  SearchCallbacks cb;
  // The banner comes with the first progress report, after the journal and options were accepted, so a
  // refused run prints only its one error line.
  const ProgressFn bar = stderr_progress("search");
  bool announced = false;
  cb.progress = [&](const Progress& p) {
    if (!lead) return;  // rank 0 reports for the group
    if (!announced) {
      announced = true;
      std::fprintf(stderr, "search: %s, granularity %s, metric %s, %lld windows x %lld tokens%s\n", dir.c_str(),
                   granularity_name(o.granularity), metric_name(o.metric), static_cast<long long>(windows.size(0)),
                   static_cast<long long>(windows.size(1)), o.prefix_cache ? ", prefix cache on" : "");
    }
    if (p.stage != "base") bar(p);
  };
  cb.on_base = [&](double ppl) {
    if (lead) std::fprintf(stderr, "base perplexity %.4f\n", ppl);
  };
  cb.on_step = [&](const SearchStep& s, const RemovalSet& now) {
    if (!lead) return;
    std::fprintf(stderr, "step %lld: removed %s -> perplexity %.4f (%.2f%% of parameters removed, %.1f s)\n",
                 static_cast<long long>(s.step), s.id.c_str(), s.ppl, s.params_removed_pct, s.seconds);
    for (const auto& a : s.accuracy) std::fprintf(stderr, "  %s acc %.4f\n", a.name.c_str(), a.acc);
    if (s.bench)
      std::fprintf(stderr, "  prefill %.1f tokens/s, decode %.2f ms/token, peak memory %.1f MiB\n",
                   s.bench->prefill_tokens_per_s, s.bench->decode_ms_per_token, s.bench->peak_memory_bytes / 1048576.0);
    if (!out.empty()) write_step_config(out, now, o.granularity, s.step, context);
  };
  install_cancel_signals(on_sigint);
  SearchResult r;
  try {
    r = run_search(*model, windows, o, cb, &g_cancel);
  } catch (const Cancelled&) {
    restore_cancel_signals();
    if (lead)
      std::fprintf(stderr, "search cancelled%s\n",
                   out.empty() ? "" : ("; every finished step is in " + o.journal_path + " (continue with --resume)").c_str());
    return 130;
  }
  restore_cancel_signals();
  if (!lead) return 0;  // rank 0 writes the results
  if (!out.empty()) write_search_outputs(out, r, o.granularity, o.metric, context);
  if (common.json) {
    nlohmann::json j = r.to_json(o.granularity, o.metric);
    j["windows"] = windows.size(0);
    j["seq_len"] = windows.size(1);
    std::cout << j.dump() << "\n";
    return 0;
  }
  print_table(r, 100.0 * static_cast<double>(model->removed_parameters(o.initial)) / static_cast<double>(r.total_params));
  return 0;
}

}  // namespace shedder::cli

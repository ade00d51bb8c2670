// `shedder-cli accuracy MODEL (--task FILE... | --demo-tasks) [--remove ...] [--json]`: zero-shot accuracy by
// log-likelihood scoring (lm-evaluation-harness rules), optionally with blocks/SSMs removed.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "eval/harness_results.h"
#include "eval/task_input.h"
#include "util/file_util.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& accuracy_spec() {
  static const CommandSpec spec{
      "accuracy", "MODEL", "zero-shot accuracy by log-likelihood scoring, as lm-evaluation-harness computes it",
      "Tasks are JSONL files, one item per line, one kind per file (multiple choice, target, partial scoring); the "
      "task's name is the file's stem. convert-task makes them from Hugging Face exports. --json prints "
      "{\"tasks\": {\"<stem>\": {\"kind\", \"items\", \"acc\", \"acc_norm\" | \"perplexity\", "
      "\"gold_loglik\", \"seconds\"}, ...}, \"removed\", \"params_removed\", \"params_total\", \"threads\"}.",
      join({multi("task", "FILE.jsonl...", "task files to score"),
            flag("demo-tasks", "also score the built-in demo tasks"),
            opt("max-items", "N", "0", "score the first N items of every task; 0: all"),
            opt("max-length", "N", "2048", "longer inputs are cut from the left, as the harness does"),
            opt("batch", "N", "8", "sequences per forward pass"),
            flag("no-share-context", "score every choice as a full sequence instead of continuing from the "
                                     "shared context's state (same numbers, slower)"),
            opt("output-path", "DIR", "",
                "also write DIR/results_<timestamp>.json in lm-evaluation-harness's layout (acc, acc_norm, "
                "perplexity with the harness's standard errors)")},
           join(removal_options(), model_options()))};
  return spec;
}

int cmd_accuracy(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "accuracy");
  std::vector<std::string> files = args.all("task");
  if (args.flag("demo-tasks")) {
    const auto demo = demo_task_files();
    files.insert(files.end(), demo.begin(), demo.end());
  }
  if (files.empty()) throw Error("accuracy: give --task FILE.jsonl... or --demo-tasks");
  AccuracyOptions o;
  o.max_length = args.get_int("max-length");
  o.batch = args.get_int("batch");
  o.share_context = !args.flag("no-share-context");
  o.keep_items = args.has("output-path");  // the standard errors need every item's outcome
  const int64_t max_items = args.get_int("max-items");
  if (o.max_length < 2) throw Error("accuracy: --max-length must be at least 2");
  if (o.batch < 1) throw Error("accuracy: --batch must be at least 1");
  if (max_items < 0) throw Error("accuracy: --max-items must be >= 0 (0 = all)");

  // The results folder before any scoring: a bad --output-path fails at once, not after the tasks ran.
  if (args.has("output-path")) create_folder(args.get("output-path"));
  auto model = load_model(dir, common, &args);
  const RemovalSet removed = removal_from_args(*model, args);
  const std::vector<EncodedTask> tasks = load_tasks(*model, files, max_items);

  nlohmann::json jt = nlohmann::json::object();
  std::vector<TaskResult> results;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& t : tasks) {
    results.push_back(evaluate_task(*model, t, removed, o, stderr_progress(t.name)));
    jt[t.name] = results.back().to_json();
  }
  std::string harness_file;
  if (args.has("output-path")) {
    HarnessRunInfo info;
    info.model_dir = dir;
    info.removed = removed.ids();
    info.batch = o.batch;
    info.limit = max_items;
    info.device = model->device().str();
    info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    harness_file = (std::filesystem::path(args.get("output-path")) / harness_results_file_name()).string();
    write_file_atomic(harness_file, harness_results(results, info).dump(2) + "\n");
  }
  if (common.json) {
    nlohmann::json j;
    j["tasks"] = jt;
    j["removed"] = removed.ids();
    j["params_removed"] = model->removed_parameters(removed);
    j["params_total"] = model->total_parameters();
    j["threads"] = common.threads;
    if (!harness_file.empty()) j["harness_results"] = harness_file;
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (!removed.empty())
    std::printf("removed %zu component(s): %lld parameters\n", removed.ids().size(),
                static_cast<long long>(model->removed_parameters(removed)));
  std::printf("%-24s %7s %8s %9s %11s %8s\n", "task", "items", "acc", "acc_norm", "perplexity", "seconds");
  for (const auto& r : results) {
    std::printf("%-24s %7lld %8.4f", r.name.c_str(), static_cast<long long>(r.items), r.acc);
    if (r.acc_norm) std::printf(" %9.4f", *r.acc_norm);
    else std::printf(" %9s", "-");
    if (r.perplexity) std::printf(" %11.4f", *r.perplexity);
    else std::printf(" %11s", "-");
    std::printf(" %8.1f\n", r.seconds);
  }
  if (!harness_file.empty()) std::printf("wrote %s (lm-evaluation-harness layout)\n", harness_file.c_str());
  return 0;
}

}  // namespace shedder::cli

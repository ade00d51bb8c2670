// `shedder-cli accuracy MODEL (--task FILE... | --demo-tasks) [--remove ...] [--json]`: zero-shot accuracy by
// log-likelihood scoring (lm-evaluation-harness rules), optionally with blocks/SSMs removed; prints the harness's
// results table, and with --output-path DIR [--log-samples] writes the harness's results and samples files.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "eval/harness_results.h"
#include "eval/harness_samples.h"
#include "eval/harness_table.h"
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
      "\"gold_loglik\", \"seconds\"}, ...}, \"removed\", \"params_removed\", \"params_total\", \"threads\"}; "
      "without --json it prints lm-evaluation-harness's results table (Tasks, Version, Filter, n-shot, Metric, "
      "Value, Stderr).",
      join({multi("task", "FILE.jsonl...", "task files to score"),
            flag("demo-tasks", "also score the built-in demo tasks"),
            opt("max-items", "N", "0", "score the first N items of every task; 0: all"),
            opt("max-length", "N", "2048", "longer inputs are cut from the left, as the harness does"),
            opt("batch", "N", "8", "sequences per forward pass"),
            flag("no-share-context", "score every choice as a full sequence instead of continuing from the "
                                     "shared context's state (same numbers, slower)"),
            opt("output-path", "DIR", "",
                "also write DIR/results_<timestamp>.json in lm-evaluation-harness's layout (acc, acc_norm, "
                "perplexity with the harness's standard errors)"),
            flag("log-samples", "with --output-path: also write DIR/samples_<task>_<timestamp>.jsonl, every item's "
                                "record in lm-evaluation-harness's --log_samples layout (arguments, log-likelihoods, "
                                "per-item metrics, hashes)")},
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
  // The standard errors (results file, table) and the samples need every item's outcome.
  o.keep_items = args.has("output-path") || !common.json;
  if (args.flag("log-samples") && !args.has("output-path"))
    throw Error("accuracy: --log-samples needs --output-path DIR (the samples are written there)");
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
  HarnessRunInfo info;
  info.model_dir = dir;
  info.removed = removed.ids();
  info.batch = o.batch;
  info.limit = max_items;
  info.device = model->device().str();
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string harness_file;
  std::vector<std::string> sample_files;
  if (args.has("output-path")) {
    const std::filesystem::path out(args.get("output-path"));
    const std::string date_id = harness_date_id();  // shared by the results file and the samples files
    if (args.flag("log-samples")) {
      for (size_t i = 0; i < tasks.size(); ++i) {
        const auto samples = harness_samples(read_task(tasks[i].path), results[i]);
        sample_files.push_back((out / harness_samples_file_name(tasks[i].name, date_id)).string());
        write_file_atomic(sample_files.back(), harness_samples_jsonl(samples));
        info.task_hashes[tasks[i].name] = harness_task_hash(samples);
      }
    }
    harness_file = (out / harness_results_file_name(date_id)).string();
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
    if (!sample_files.empty()) j["harness_samples"] = sample_files;
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (!removed.empty())
    std::printf("removed %zu component(s): %lld parameters\n", removed.ids().size(),
                static_cast<long long>(model->removed_parameters(removed)));
  const nlohmann::json table_of = harness_results(results, info);
  std::printf("%s\n%s\n", harness_run_line(table_of).c_str(), harness_table(table_of).c_str());
  std::string counts;
  for (const auto& r : results) counts += (counts.empty() ? "" : ", ") + r.name + " " + std::to_string(r.items);
  std::printf("items: %s (%.1f s)\n", counts.c_str(), info.seconds);
  if (!harness_file.empty()) std::printf("wrote %s (lm-evaluation-harness layout)\n", harness_file.c_str());
  for (const auto& f : sample_files) std::printf("wrote %s\n", f.c_str());
  return 0;
}

}  // namespace shedder::cli

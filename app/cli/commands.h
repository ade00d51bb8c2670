// The subcommands of shedder-cli and their registry. Each command file exposes its CommandSpec (`X_spec()`: the
// option table help, docs and completion are generated from) and its function (`cmd_X`), which returns the process
// exit code and throws shedder::Error for user errors (reported by main as one line on stderr). commands() is the
// one table main dispatches through and the generators walk.
#pragma once

#include <string>
#include <vector>

#include "options.h"

namespace shedder::cli {

struct Command {
  const CommandSpec& (*spec)();
  int (*run)(const Args& args);
};

// Every command, in the order the usage and the docs list them.
const std::vector<Command>& commands();
// The command called `name`, or null.
const Command* find_command(const std::string& name);

const CommandSpec& info_spec();
int cmd_info(const Args& args);
const CommandSpec& tokenize_spec();
int cmd_tokenize(const Args& args);
const CommandSpec& eval_spec();
int cmd_eval(const Args& args);
const CommandSpec& search_spec();
int cmd_search(const Args& args);
const CommandSpec& export_spec();
int cmd_export(const Args& args);
const CommandSpec& create_model_spec();
int cmd_create_model(const Args& args);
const CommandSpec& tune_spec();
int cmd_tune(const Args& args);
const CommandSpec& build_corpus_spec();
int cmd_build_corpus(const Args& args);
const CommandSpec& train_tokenizer_spec();
int cmd_train_tokenizer(const Args& args);
const CommandSpec& accuracy_spec();
int cmd_accuracy(const Args& args);
const CommandSpec& generate_spec();
int cmd_generate(const Args& args);
const CommandSpec& bench_spec();
int cmd_bench(const Args& args);
const CommandSpec& make_demo_tasks_spec();
int cmd_make_demo_tasks(const Args& args);
const CommandSpec& convert_task_spec();
int cmd_convert_task(const Args& args);
const CommandSpec& report_spec();
int cmd_report(const Args& args);  // refused in a build without the GUI library (it draws the figures)
const CommandSpec& launch_spec();
int cmd_launch(const Args& args);
const CommandSpec& help_spec();
int cmd_help(const Args& args);
const CommandSpec& completion_spec();
int cmd_completion(const Args& args);

// Options every command accepts.
struct CommonOptions {
  int threads = 0;             // 0 = all cores
  std::string device = "cpu";  // resolved: "cpu", "cuda:0", ...
  std::string dtype = "auto";
  bool json = false;
};

}  // namespace shedder::cli

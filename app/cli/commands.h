// The subcommands of shedder-cli. Each returns the process exit code and throws shedder::Error for
// user errors (reported by main as one line on stderr).
#pragma once

#include <string>
#include <vector>

namespace shedder::cli {

int cmd_info(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_search(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_create_model(const std::vector<std::string>& args);
int cmd_train_tokenizer(const std::vector<std::string>& args);
int cmd_tune(const std::vector<std::string>& args);
int cmd_build_corpus(const std::vector<std::string>& args);
int cmd_accuracy(const std::vector<std::string>& args);
int cmd_generate(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_make_demo_tasks(const std::vector<std::string>& args);
int cmd_convert_task(const std::vector<std::string>& args);
int cmd_launch(const std::vector<std::string>& args);
int cmd_hybrid(const std::vector<std::string>& args);  // Zamba2 / Hymba: info, eval, search, export

// Options every command accepts.
struct CommonOptions {
  int threads = 0;        // 0 = all cores
  std::string device = "cpu";  // resolved: "cpu", "cuda:0", ...
  std::string dtype = "auto";
  bool json = false;
};

}  // namespace shedder::cli

// Task files and demo tasks for the CLI and the GUI (see task_input.h).
#include "eval/task_input.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "runtime/resources.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

int32_t prefix_token(const Model& model) {
  const BpeTokenizer& tok = model.tokenizer();
  return tok.eos_id() ? *tok.eos_id() : static_cast<int32_t>(model.eos_token_id());
}

std::vector<std::string> demo_task_files() {
  const std::string dir = demo_path("tasks");
  std::vector<std::string> files;
  std::error_code ec;
  if (!dir.empty())
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".jsonl") files.push_back(e.path().string());
  if (files.empty())
    throw Error("no built-in demo tasks found (resources/demo/tasks/*.jsonl; set SHEDDER_RESOURCES_DIR or make them "
                "with make-demo-tasks)");
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<EncodedTask> load_tasks(const Model& model, const std::vector<std::string>& files, int64_t max_items) {
  if (files.empty()) return {};  // no tasks: a model without a tokenizer is fine
  const BpeTokenizer& tok = model.tokenizer();
  const int32_t prefix = prefix_token(model);
  std::vector<EncodedTask> out;
  std::set<std::string> names;
  for (const auto& f : files) {
    const Task t = read_task(f);
    if (!names.insert(t.name).second)
      throw Error(f + ": another task file is also named '" + t.name + "' (results are keyed by the file's stem)");
    out.push_back(encode_task(t, tok, prefix, max_items));
  }
  return out;
}

}  // namespace shedder

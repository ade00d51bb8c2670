// Task input shared by the CLI's `accuracy` / `search` and the GUI's search: task files or the built-in demo
// tasks (resources/demo/tasks/*.jsonl), tokenized for the model with the harness's rules.
#pragma once

#include <string>
#include <vector>

#include "eval/accuracy.h"
#include "model/model.h"

namespace shedder {

// The end-of-text id lm-evaluation-harness uses as the prefix of an empty context.
int32_t prefix_token(const Model& model);
// The demo task files shipped in resources/demo/tasks (Error when none are found).
std::vector<std::string> demo_task_files();
// Reads, validates and tokenizes task files (Error when two share a stem: results are keyed by it).
std::vector<EncodedTask> load_tasks(const Model& model, const std::vector<std::string>& files, int64_t max_items);

}  // namespace shedder

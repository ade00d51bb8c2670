// The JSONL task format of `shedder-cli accuracy`: one item per line, three kinds (a file holds one kind):
//   multiple choice  {"context": str, "choices": [str, ...], "gold": i}                  -> acc, acc_norm
//   target           {"context": str, "target": str}                                      -> acc, perplexity
//   partial scoring  {"contexts": [str, ...], "continuation": str, "gold": i}              -> acc
// Optional on every line: "id" (string or number, reported only); on choice kinds "target_delimiter"
// (default " ", put between context and continuation as lm-evaluation-harness does). Multiple choice scores
// context + delimiter + choice; target scores context + target verbatim (LAMBADA: target " word"); partial
// scoring (winogrande) scores contexts[i] + delimiter + continuation. Blank lines are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

enum class TaskKind { MultipleChoice, Target, Partial };
const char* task_kind_name(TaskKind k);  // "multiple_choice" / "target" / "partial"

struct TaskItem {
  int64_t line = 0;                  // 1-based line in the file (0 when built in memory)
  std::string id;                    // optional
  std::string context;               // multiple choice, target
  std::vector<std::string> choices;  // multiple choice: the continuations; partial: the contexts
  std::string target;                // target: scored verbatim; partial: the shared continuation
  int64_t gold = -1;                 // choice kinds
  std::string delimiter = " ";       // choice kinds: target_delimiter
};

struct Task {
  std::string name;  // the file's stem ("hellaswag" for hellaswag.jsonl)
  std::string path;
  TaskKind kind = TaskKind::MultipleChoice;
  std::vector<TaskItem> items;
};

// Reads and validates a task file. Throws shedder::Error "FILE:LINE: problem" on a malformed line, an
// unknown field, a missing or mistyped field, empty choices, an empty choice string, a gold index out of
// range, or a line of another kind than the first; "FILE: ..." when unreadable or without items.
Task read_task(const std::string& path);

// One JSONL line for an item (the inverse of read_task; "target_delimiter" only when not " ").
std::string task_item_json(TaskKind kind, const TaskItem& item);
// Writes items as a task file (atomically); refuses an existing file unless `force`.
void write_task(const std::string& path, TaskKind kind, const std::vector<TaskItem>& items, bool force);

}  // namespace shedder

// Built-in demo tasks made from held-out documents (the demo corpus's test split), so accuracy can be
// measured on the demo models without any download:
//   demo_continuation (multiple choice): the first words of a document; the choices are its true next words
//     and same-length word spans from other documents; gold at a random position.
//   demo_cloze (target, LAMBADA-style): a document up to its last purely alphabetic word (of 3+ letters)
//     that has enough words before it; the target is " " + that word; the context is at most the
//     cloze_context_words words before it (long documents such as Bible chapters are cut at the front).
// Whitespace runs are collapsed to one space first. Deterministic for a seed (Mersenne Twister raw output).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/task_format.h"

namespace shedder {

struct DemoTaskOptions {
  uint64_t seed = 0;
  int64_t items = 200;             // per task, at most (fewer when the documents run out)
  int64_t choices = 4;             // demo_continuation
  int64_t min_context_words = 8;
  int64_t max_context_words = 32;  // demo_continuation's context is cut at a random word in [min, max]
  int64_t continuation_words = 6;
  int64_t cloze_context_words = 64;
};

struct DemoTasks {
  std::vector<TaskItem> continuation;  // TaskKind::MultipleChoice
  std::vector<TaskItem> cloze;         // TaskKind::Target
  int64_t documents = 0;               // documents read
};

// Throws shedder::Error when the documents are too few or too short for any item.
DemoTasks make_demo_tasks(const std::vector<std::string>& documents, const DemoTaskOptions& options);

// Splits each text into documents at lines equal to `separator` (e.g. "%" for fortune files, "" for blank
// lines); empty documents are dropped.
std::vector<std::string> split_documents(const std::vector<std::string>& texts, const std::string& separator);

}  // namespace shedder

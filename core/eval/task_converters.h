// Converters from the JSON/JSONL exports of the seven tasks the Mamba-Shedder paper evaluates (as Hugging
// Face `datasets` writes them with Dataset.to_json, or as a JSON array, or the datasets-server's
// {"rows": [{"row": {...}}]}) to our task format, with lm-evaluation-harness's zero-shot prompts:
//   lambada_openai (EleutherAI/lambada_openai: text)      context = all words but the last, target " " + last
//   hellaswag (Rowan/hellaswag: activity_label, ctx_a, ctx_b, endings, label)
//             context = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()), choices preprocessed
//   piqa (goal, sol1, sol2, label)                         context "Question: {goal}\nAnswer:"
//   arc_easy / arc_challenge (allenai/ai2_arc: question, choices {text, label}, answerKey)
//                                                          context "Question: {question}\nAnswer:"
//   openbookqa (allenai/openbookqa main: question_stem, choices {text, label}, answerKey)  context = question_stem
//   winogrande (allenai/winogrande: sentence, option1, option2, answer)
//             partial scoring: contexts = sentence up to "_" + each option, continuation = the rest, stripped
// Nothing is downloaded: the user exports the split (validation/test with labels) and converts the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "eval/task_format.h"

namespace shedder {

// The formats convert_task accepts, in the paper's order.
const std::vector<std::string>& converter_names();

struct ConvertedTask {
  TaskKind kind = TaskKind::MultipleChoice;
  std::vector<TaskItem> items;
};

// Converts an export of `format` (one of converter_names()). Throws shedder::Error naming the file and the
// record ("FILE:LINE" for JSONL, "FILE: record N" for a JSON array) on a missing field, a record without a
// label (an unlabelled test split), an answer key not among the labels, or malformed JSON.
ConvertedTask convert_task(const std::string& format, const std::string& path);

// The records of an exported file with where each came from (for messages).
std::vector<std::pair<std::string, nlohmann::json>> read_export_records(const std::string& path);

}  // namespace shedder

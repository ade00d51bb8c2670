// Zero-shot accuracy by log-likelihood scoring, as lm-evaluation-harness defines it:
//  - tokenization of a (context, continuation) pair: trailing whitespace of the context moves to the
//    continuation; the continuation's tokens are enc(context + continuation) after len(enc(context)); an
//    empty context is replaced by the prefix (end-of-text) token;
//  - a continuation's score is the sum of its tokens' log-probabilities given everything before, and it is
//    "greedy" when every token is the argmax of its row;
//  - multiple choice: acc = argmax of the scores is gold, acc_norm = argmax of score / len(choice) in
//    characters is gold; partial scoring (winogrande): acc over the option contexts; target tasks (LAMBADA):
//    acc = greedy, perplexity = exp(-mean of the targets' scores).
// Choices sharing a context run that context once: its recurrent state is copied for every choice and the
// choices continue from it in one batch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/progress.h"
#include "eval/task_format.h"
#include "model/model.h"

namespace shedder {

class BpeTokenizer;

struct EncodedPair {
  std::vector<int32_t> context, continuation;
};

// The harness's tokenization of one request (see above). `prefix_token` stands in for an empty context.
EncodedPair encode_pair(const BpeTokenizer& tok, const std::string& context, const std::string& continuation,
                        int32_t prefix_token);

struct EncodedItem {
  std::string where;                 // "FILE:LINE" for messages
  std::vector<EncodedPair> pairs;    // one per choice (target tasks: one)
  std::vector<double> norm_lengths;  // len() of each choice in characters (acc_norm's divisor)
  int64_t gold = -1;
};

struct EncodedTask {
  std::string name, path;
  TaskKind kind = TaskKind::MultipleChoice;
  std::vector<EncodedItem> items;
  std::string fingerprint;  // hash of every token and gold index (identifies the task in a search journal)
};

// Tokenizes every item (at most `max_items` from the start; <= 0: all). Throws shedder::Error naming the
// file and line when a continuation tokenizes to nothing.
EncodedTask encode_task(const Task& task, const BpeTokenizer& tok, int32_t prefix_token, int64_t max_items = 0);

struct AccuracyOptions {
  int64_t max_length = 2048;  // longer inputs are cut from the left, as the harness does (no sharing then)
  bool share_context = true;  // run a shared context once (off: every choice is a full sequence)
  int64_t batch = 8;          // sequences per forward pass when they are not continued from a shared state
  bool keep_items = false;    // fill TaskResult::details
};

struct ChoiceScore {
  double loglik = 0;   // sum of the continuation tokens' log-probabilities
  bool greedy = false; // every continuation token is its row's argmax
  int64_t tokens = 0;
};

struct ItemResult {
  std::vector<ChoiceScore> choices;
  int64_t pred = -1, pred_norm = -1;
  bool correct = false, correct_norm = false;
};

struct TaskResult {
  std::string name;
  TaskKind kind = TaskKind::MultipleChoice;
  int64_t items = 0;
  double acc = 0;
  std::optional<double> acc_norm;    // multiple choice
  std::optional<double> perplexity;  // target tasks
  double gold_loglik = 0;            // mean summed log-likelihood of the gold choice / target
  double seconds = 0;
  std::vector<ItemResult> details;   // when AccuracyOptions::keep_items
  // {"acc", "acc_norm" or "perplexity", "items", "kind", "gold_loglik", "seconds"}
  nlohmann::json to_json() const;
  // The summary back from to_json() (no details); throws shedder::Error naming `label` when malformed.
  static TaskResult from_json(const std::string& name, const nlohmann::json& j, const std::string& label);
};

// Scores continuations: element i is the log-likelihood of pairs[i].continuation after pairs[i].context.
// Pairs with identical contexts run the context once when options.share_context.
std::vector<ChoiceScore> score_pairs(const Model& model, const std::vector<EncodedPair>& pairs, const ForwardPlan& plan,
                                     const AccuracyOptions& options);

// Every architecture; `removed` must be valid for the model (Model::plan).
TaskResult evaluate_task(const Model& model, const EncodedTask& task, const RemovalSet& removed,
                         const AccuracyOptions& options, const ProgressFn& progress = nullptr,
                         const CancelToken* cancel = nullptr);

}  // namespace shedder

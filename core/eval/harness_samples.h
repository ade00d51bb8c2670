// Per-item records in lm-evaluation-harness's `--log_samples` layout (v0.4): samples_<task>_<date_id>.jsonl beside the
// results file, one JSON line per item as lm_eval/evaluator.py builds it and evaluation_tracker.py writes it:
// doc_id, doc, target, arguments ({"gen_args_i": {"arg_0": context, "arg_1": continuation}}), resps
// ([[[str(loglik), str(is_greedy)]]] per request), filtered_resps (filter "none": the first response of each
// request), filter, metrics, doc_hash / prompt_hash / target_hash (hex SHA-256 of json.dumps(doc, indent=2,
// ensure_ascii=False), of the first request's context and of str(target)) and the item's metric values (multiple
// choice and partial scoring: "acc" and "acc_norm" as 1.0/0.0; target tasks: "perplexity" = the target's
// log-likelihood and "acc" = 1/0 for greedy). The line itself is Python's json.dumps(..., ensure_ascii=False).
// Where our data differs: "doc" is our task line (the harness logs the dataset's record), so doc_hash differs from
// the harness's for the same item; prompt_hash and target_hash agree for tasks made by convert-task.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "eval/accuracy.h"
#include "eval/task_format.h"

namespace shedder {

// Python's repr() of a float: the shortest text that reads back to `x`, in fixed notation for decimal exponents in
// (-4, 16] ("0.0001", "-12.5", "1e-05", "1e+16"), "nan", "inf", "-inf".
std::string python_float_repr(double x);

// Python's json.dumps(v, ensure_ascii=False): separators ", " and ": " when indent < 0, else one item per line
// indented by `indent` spaces with "," and ": "; floats as repr, NaN / Infinity / -Infinity for the non-finite.
std::string python_json_dumps(const nlohmann::ordered_json& v, int indent = -1);

// The records of `result`'s items (scored with AccuracyOptions::keep_items) of `task` (its first result.items
// items), in item order. Throws shedder::InternalError when the details do not match the task.
std::vector<nlohmann::ordered_json> harness_samples(const Task& task, const TaskResult& result);

// evaluation_tracker.py's task hash: SHA-256 of every record's doc_hash + prompt_hash + target_hash, in order.
std::string harness_task_hash(const std::vector<nlohmann::ordered_json>& samples);

// The JSONL text of the records (one python_json_dumps line each).
std::string harness_samples_jsonl(const std::vector<nlohmann::ordered_json>& samples);

// "samples_<task>_<date_id>.jsonl", as the harness names it.
std::string harness_samples_file_name(const std::string& task, const std::string& date_id);

}  // namespace shedder

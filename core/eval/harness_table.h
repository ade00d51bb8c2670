// The console table lm-evaluation-harness prints after a run (lm_eval.utils.make_table of the "results" column,
// written by pytablewriter's MarkdownTableWriter), made from a results file in the harness's layout:
//
//   |    Tasks     |Version|Filter|n-shot|  Metric  |   | Value |   |Stderr|
//   |--------------|------:|------|-----:|----------|---|------:|---|-----:|
//   |lambada_openai|      1|none  |     0|acc       |↑  | 0.4425|±  |0.0069|
//   |              |       |none  |     0|perplexity|↓  |16.0467|±  |0.5172|
//
// make_table's rows: one per metric of a task (its "<metric>,<filter>" keys sorted, standard errors beside their
// metric), the task's alias and version on its first row only, ↑/↓ from "higher_is_better", values as "%.4f",
// a standard error "N/A" as "   N/A". pytablewriter's layout: every column as wide as its widest cell (at least 3),
// headers centred (an odd space to the right); a column of numbers (integers, or reals with empty cells) is
// right-aligned ("---:"); in a column with any text, text is left-aligned but numbers still right-aligned; an
// integral number is an integer ("1.0" prints "1" in an integer column); reals print with the column's decimal
// places, the most any of its numbers needs (Python's repr), so a column of "0.3800" and "0.3650" prints 0.380 and
// 0.365; "|" in a cell is escaped as "\|". Widths count code points (East Asian wide characters count 1, not 2).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace shedder {

// The table of `results_file` (needs "results"; "versions", "n-shot" and "higher_is_better" are used when
// present), each line ending in "\n".
std::string harness_table(const nlohmann::json& results_file);

// The line the harness's CLI prints above the table: "MODEL (MODEL_ARGS), gen_kwargs: (None), limit: LIMIT,
// num_fewshot: None, batch_size: N", from the file's "config".
std::string harness_run_line(const nlohmann::json& results_file);

}  // namespace shedder

// Search results from the engine into the GUI's records: one step (core SearchStep → StepRecord), a run's base
// measurements, and a whole run read back from a run folder that holds only the engine's files (journal.jsonl and,
// once finished, search_result.json) — runs made by `shedder-cli search`, or killed before their project was
// written. The search in the GUI, the comparison window and `shedder-cli report` all go through these.
#pragma once

#include <QString>

#include "run_record.h"

namespace shedder {
struct SearchStep;
struct SearchResult;
}  // namespace shedder

namespace shedder::ui {

StepRecord toStepRecord(const shedder::SearchStep& s);
// The base measurements (latency, memory, accuracy) of a search result into `run`.
void setBaseMeasurements(RunRecord& run, const shedder::SearchResult& res);

// The run in `dir` (a run folder or its journal.jsonl / search_result.json): settings (granularity, metric, model,
// calibration), base perplexity and measurements, every step with its candidates; total parameters from
// search_result.json when present, else from a step's parameter share. Throws shedder::Error naming the file when
// neither file is there or one is malformed.
RunRecord readRunFolder(const QString& dir);

}  // namespace shedder::ui

// The option table of `shedder-cli report` (cmd_report.cpp runs it). The table is in every build, so that help,
// the man page and the completion list the command; a build without the GUI library (SHEDDER_BUILD_GUI=OFF, e.g.
// the CUDA build of scripts/build-cuda.sh), which has no Qt to draw the figures, refuses it with that reason.
#include "commands.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& report_spec() {
  static const CommandSpec spec{
      "report", "SOURCE...", "compare runs: overlaid curves, importance heatmaps and tables for a paper",
      "Each SOURCE is a search's run folder (or its journal.jsonl / search_result.json; a folder holding the "
      "workbench's workbench.shedproj is read from that project, held-out perplexities included), a workbench "
      "project (.shedproj) or an lm-evaluation-harness results file (results_*.json, e.g. from `accuracy "
      "--output-path` or from lm_eval on a cluster), which becomes one variant row. Figures: calibration (and "
      "held-out) perplexity, accuracy and decode latency against components removed and parameters kept, the "
      "runs overlaid with the table's variants ringed, and every run's importance heatmap (component x step, "
      "coloured by each candidate's perplexity increase, removed cells numbered in removal order), each with its "
      "data as CSV beside it. Tables: variants (the start and last step of every run and every results file; "
      "--all-steps: every step), zero-shot accuracy per task with the harness's standard errors, and each run's "
      "steps. report.json lists what was written. The figures and tables are made by the same code as the "
      "workbench's comparison window (File > Add Run to Comparison). --out must be new, empty or an earlier report.",
      {opt("out", "DIR", "", "the folder to write (required)"),
       opt("format", "png,svg,pdf", "png", "figure formats, comma-separated"),
       opt("tables", "md,tex,csv", "md,tex,csv", "table formats, comma-separated"),
       opt("style", "paper|screen", "paper",
           "paper: 8 pt text and thin lines for a journal column; screen: the workbench's look"),
       flag("serif", "a serif font in the figures (to match LaTeX body text)"),
       opt("line-width", "PT", "1", "width of the data lines in the paper style, points"),
       opt("size", "WxH", "8.5x6", "figure size in cm (8.5x6: one column; 17x8: the page width)"),
       opt("dpi", "N", "300", "resolution of PNG figures"),
       flag("titles", "draw each figure's title above it (papers set it as the caption instead)"),
       flag("all-steps", "every step of every run in the tables (default: each run's start and last step)")},
      /*common=*/false};
  return spec;
}

#ifndef SHEDDER_CLI_REPORT
int cmd_report(const Args&) {
  throw Error("report: this shedder-cli was built without the GUI library (SHEDDER_BUILD_GUI=OFF), whose Qt draws the "
              "figures; use a build with Qt, such as the Debian package, on the run folders this one writes");
}
#endif

}  // namespace shedder::cli

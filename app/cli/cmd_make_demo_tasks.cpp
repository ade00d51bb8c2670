// `shedder-cli make-demo-tasks TEXT... --out DIR [--seed S] [--items N] [--split-on LINE]`: the built-in demo
// tasks (DIR/demo_continuation.jsonl, DIR/demo_cloze.jsonl) from held-out documents.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common.h"
#include "eval/demo_tasks.h"
#include "eval/token_windows.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder::cli {

const CommandSpec& make_demo_tasks_spec() {
  static const CommandSpec spec{
      "make-demo-tasks", "TEXT...", "the built-in demo accuracy tasks from held-out text",
      "Writes DIR/demo_continuation.jsonl (multiple choice: a document's next words against spans of other "
      "documents) and DIR/demo_cloze.jsonl (target: a document's last word, LAMBADA-style). TEXT files are plain "
      "text (one document per file, or split at --split-on lines) or JSONL with a text field.",
      {opt("out", "DIR", "", "the folder for the two task files (required)"),
       opt("seed", "S", "0", "seed of the item draw"),
       opt("items", "N", "200", "items per task, at most"),
       opt("choices", "C", "4", "choices per demo_continuation item"),
       opt("split-on", "LINE", "", "split plain-text files into documents at lines equal to LINE"),
       flag("force", "replace existing task files")}};
  return spec;
}

int cmd_make_demo_tasks(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::vector<std::string> files = args.positional();
  if (files.empty()) throw Error("make-demo-tasks: give the held-out text file(s) (plain text or JSONL with \"text\")");
  if (!args.has("out")) throw Error("make-demo-tasks: missing --out DIR");
  DemoTaskOptions o;
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.items = args.get_int("items");
  o.choices = args.get_int("choices");

  // JSONL: one document per line; plain text: one document per file, or split at --split-on lines.
  std::vector<std::string> docs = read_documents(files);
  if (args.has("split-on")) docs = split_documents(docs, args.get("split-on"));
  const DemoTasks t = make_demo_tasks(docs, o);
  const std::string out = args.get("out");
  const bool force = args.flag("force");
  const std::string cont = (fs::path(out) / "demo_continuation.jsonl").string();
  const std::string cloze = (fs::path(out) / "demo_cloze.jsonl").string();
  std::error_code ec;
  if (!force)
    for (const auto& p : {cont, cloze})
      if (fs::exists(p, ec)) throw Error(p + ": exists (use --force to replace it)");
  write_task(cont, TaskKind::MultipleChoice, t.continuation, force);
  write_task(cloze, TaskKind::Target, t.cloze, force);
  if (common.json) {
    std::cout << nlohmann::json{{"documents", t.documents},
                                {"demo_continuation", {{"file", cont}, {"items", t.continuation.size()}}},
                                {"demo_cloze", {{"file", cloze}, {"items", t.cloze.size()}}}}
                     .dump()
              << "\n";
  } else {
    std::printf("%lld documents -> %s (%zu items), %s (%zu items)\n", static_cast<long long>(t.documents), cont.c_str(),
                t.continuation.size(), cloze.c_str(), t.cloze.size());
  }
  return 0;
}

}  // namespace shedder::cli

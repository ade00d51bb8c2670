// `shedder-cli convert-task FORMAT EXPORT --out FILE.jsonl [--force]`: a Hugging Face export of one of the
// paper's seven tasks (lambada_openai, hellaswag, piqa, arc_easy, arc_challenge, winogrande, openbookqa) to
// our task format, with lm-evaluation-harness's zero-shot prompts.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "eval/task_converters.h"
#include "util/error.h"

namespace shedder::cli {

namespace {

std::string formats(const char* sep) {
  std::string known;
  for (const auto& n : converter_names()) known += (known.empty() ? "" : sep) + n;
  return known;
}

}  // namespace

const CommandSpec& convert_task_spec() {
  static const CommandSpec spec{
      "convert-task", "FORMAT EXPORT",
      "one of the paper's seven tasks, exported from Hugging Face datasets, in the task format",
      "FORMAT is one of " + formats(", ") +
          "; EXPORT the file written by load_dataset(...)[split].to_json(\"x.jsonl\") (or a JSON array of records, or "
          "the datasets-server's {\"rows\": [...]}); nothing is downloaded. The items get lm-evaluation-harness's "
          "zero-shot prompts.",
      {opt("out", "FILE.jsonl", "", "the task file to write (required)"), flag("force", "replace an existing file")}};
  return spec;
}

int cmd_convert_task(const Args& args) {
  const CommonOptions common = apply_common(args);
  const auto& pos = args.positional();
  if (pos.size() != 2)
    throw Error("convert-task: usage: convert-task " + formats("|") + " EXPORT.jsonl --out FILE.jsonl");
  if (!args.has("out")) throw Error("convert-task: missing --out FILE.jsonl");
  const ConvertedTask t = convert_task(pos[0], pos[1]);
  write_task(args.get("out"), t.kind, t.items, args.flag("force"));
  if (common.json)
    std::cout << nlohmann::json{{"out", args.get("out")}, {"items", t.items.size()}, {"kind", task_kind_name(t.kind)}}.dump()
              << "\n";
  else
    std::printf("%s: %zu %s items -> %s\n", pos[0].c_str(), t.items.size(), task_kind_name(t.kind), args.get("out").c_str());
  return 0;
}

}  // namespace shedder::cli

// `shedder-cli convert-task FORMAT EXPORT --out FILE.jsonl [--force]`: a Hugging Face export of one of the
// paper's seven tasks (lambada_openai, hellaswag, piqa, arc_easy, arc_challenge, winogrande, openbookqa) to
// our task format, with lm-evaluation-harness's zero-shot prompts.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "eval/task_converters.h"
#include "util/error.h"

namespace shedder::cli {

int cmd_convert_task(const std::vector<std::string>& words) {
  Args args(words, with_common({{"out", true, false}, {"force", false, false}}));
  const CommonOptions common = apply_common(args);
  const auto& pos = args.positional();
  if (pos.size() != 2) {
    std::string known;
    for (const auto& n : converter_names()) known += (known.empty() ? "" : "|") + n;
    throw Error("convert-task: usage: convert-task " + known + " EXPORT.jsonl --out FILE.jsonl");
  }
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

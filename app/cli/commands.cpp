// The command registry of shedder-cli: name -> option table + function (see commands.h). Adding, removing or
// folding a command is one line here.
#include "commands.h"

namespace shedder::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {info_spec, cmd_info},
      {tokenize_spec, cmd_tokenize},
      {eval_spec, cmd_eval},
      {search_spec, cmd_search},
      {export_spec, cmd_export},
      {create_model_spec, cmd_create_model},
      {tune_spec, cmd_tune},
      {build_corpus_spec, cmd_build_corpus},
      {train_tokenizer_spec, cmd_train_tokenizer},
      {accuracy_spec, cmd_accuracy},
      {generate_spec, cmd_generate},
      {bench_spec, cmd_bench},
      {make_demo_tasks_spec, cmd_make_demo_tasks},
      {convert_task_spec, cmd_convert_task},
      {report_spec, cmd_report},
      {launch_spec, cmd_launch},
      {help_spec, cmd_help},
      {completion_spec, cmd_completion},
  };
  return table;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (c.spec().name == name) return &c;
  return nullptr;
}

}  // namespace shedder::cli

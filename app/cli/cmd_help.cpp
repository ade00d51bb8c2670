// `shedder-cli help [COMMAND] [--man | --markdown]` and `shedder-cli completion bash`: the usage, a command's
// help, the man page, the Markdown reference and the bash completion script, all from the option tables.
#include <iostream>

#include "commands.h"
#include "help.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& help_spec() {
  static const CommandSpec spec{
      "help",
      "[COMMAND]",
      "the usage, a command's options, the man page or the Markdown reference",
      "Without an argument the usage (the list of commands), with one that command's help (as COMMAND --help).",
      {flag("man", "print the man page, shedder-cli(1), in roff"),
       flag("markdown", "print the Markdown reference (docs/cli.md)")},
      /*common=*/false};
  return spec;
}

int cmd_help(const Args& args) {
  const auto& pos = args.positional();
  if (pos.size() > 1) throw Error("help: unexpected argument '" + pos[1] + "'");
  if (args.flag("man") + args.flag("markdown") + !pos.empty() > 1)
    throw Error("help: give one of COMMAND, --man and --markdown");
  if (args.flag("man")) {
    print_man_page(std::cout);
  } else if (args.flag("markdown")) {
    print_markdown(std::cout);
  } else if (!pos.empty()) {
    const Command* c = find_command(pos[0]);
    if (!c) return unknown_command(pos[0]);
    print_command_help(std::cout, c->spec());
  } else {
    print_usage(std::cout);
  }
  return 0;
}

const CommandSpec& completion_spec() {
  static const CommandSpec spec{
      "completion",
      "bash",
      "a shell completion script for shedder-cli",
      "The Debian package installs it as /usr/share/bash-completion/completions/shedder-cli; elsewhere, "
      "source <(shedder-cli completion bash) in ~/.bashrc.",
      {},
      /*common=*/false};
  return spec;
}

int cmd_completion(const Args& args) {
  const auto& pos = args.positional();
  if (pos.size() != 1 || pos[0] != "bash")
    throw Error("completion: give the shell: bash (the only one supported)" +
                (pos.empty() ? std::string() : " (got '" + pos[0] + "')"));
  print_bash_completion(std::cout);
  return 0;
}

}  // namespace shedder::cli

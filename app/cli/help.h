// Everything shedder-cli says about its commands and options, generated from the option tables of the command
// registry (commands.h): the top-level usage, a command's help, the man page (roff), the Markdown reference
// (docs/cli.md) and the bash completion script.
#pragma once

#include <ostream>
#include <string>

#include "options.h"

namespace shedder::cli {

// `shedder-cli`, `shedder-cli --help`, `shedder-cli help`: every command with its positionals and summary.
void print_usage(std::ostream& os);
// `shedder-cli COMMAND --help`: the command's usage, description and every option with its value name, default
// and help text.
void print_command_help(std::ostream& os, const CommandSpec& spec);
// `shedder-cli help --man`: shedder-cli(1).
void print_man_page(std::ostream& os);
// `shedder-cli help --markdown`: docs/cli.md.
void print_markdown(std::ostream& os);
// `shedder-cli completion bash`: a bash completion script for shedder-cli.
void print_bash_completion(std::ostream& os);

// Reports `name` as no command of shedder-cli on stderr; returns the usage-error exit code (2).
int unknown_command(const std::string& name);

// The words of a synopsis ("info|eval|search|export MODEL" -> {"info|eval|search|export", "MODEL"}), without
// the brackets of optional ones.
std::vector<std::string> synopsis_words(const std::string& synopsis);

}  // namespace shedder::cli

// shedder-cli entry point: finds the command in the registry (commands.h), parses its words against its option
// table, answers --help from that table, runs it, and turns every error into one line on stderr and an exit code:
// 0 success, 1 user error, 2 usage error (no or unknown command), 3 internal error, 130 cancelled.
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "help.h"
#include "runtime/cpu_level.h"
#include "util/error.h"

int main(int argc, char** argv) {
  using namespace shedder::cli;
  const std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) {
    print_usage(std::cerr);
    return 2;
  }
  if (words[0] == "--help" || words[0] == "-h") {
    print_usage(std::cout);
    return 0;
  }
  if (words[0] == "--version" || words[0] == "version") {
    shedder::CpuLevel level;
    try {  // the CPU kernels' instruction-set level (runtime/cpu_level.h): the processor's, or SHEDDER_CPU_LEVEL's
      level = shedder::cpu_level();
    } catch (const shedder::Error& e) {
      std::cerr << "shedder-cli: error: " << e.what() << "\n";
      return 1;
    }
    std::cout << "shedder-cli " << SHEDDER_VERSION << "\ncpu kernels: " << shedder::cpu_level_name(level)
              << " (this processor: " << shedder::cpu_level_name(shedder::detected_cpu_level()) << ")\n";
    return 0;
  }
  const Command* cmd = find_command(words[0]);
  if (!cmd) return unknown_command(words[0]);
  try {
    const Args args(std::vector<std::string>(words.begin() + 1, words.end()), cmd->spec());
    if (args.help()) {
      print_command_help(std::cout, cmd->spec());
      return 0;
    }
    shedder::cpu_level();  // a bad SHEDDER_CPU_LEVEL is refused before any work
    return cmd->run(args);
  } catch (const shedder::Cancelled&) {
    std::cerr << "shedder-cli: cancelled\n";
    return 130;
  } catch (const shedder::Error& e) {
    std::cerr << "shedder-cli: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    std::cerr << "shedder-cli: internal error: " << msg << "\n";
    return 3;
  }
}

// shedder-cli's option tables and their parser. Each command describes itself once, in a CommandSpec (name,
// positionals, summary, description and a table of OptionSpecs: name, value name, default, help); the parser (Args),
// the usage texts, the man page, the Markdown reference and the bash completion are all made from these tables
// (help.h), in the spirit of llama.cpp's common/arg.cpp. The common options (--threads, --device, --dtype, --json)
// are one shared table appended to the commands that take them.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace shedder::cli {

struct OptionSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // what the value is, as help shows it: N, FILE, DIR, FILE..., block|ssm; "" for a flag
  std::string def;         // the default as help states it; Args::get* return it when the option is not given
  std::string help;        // one sentence or a few, without the default
  bool takes_value = true;
  bool multi = false;  // takes the following words up to the next option of the command
};

// A flag (no value), an option with one value (default `def`, "" for none) and one taking several values.
OptionSpec flag(std::string name, std::string help);
OptionSpec opt(std::string name, std::string value_name, std::string def, std::string help);
OptionSpec multi(std::string name, std::string value_name, std::string help);
// `a` followed by `b` (tables made of shared pieces).
std::vector<OptionSpec> join(std::vector<OptionSpec> a, const std::vector<OptionSpec>& b);

struct CommandSpec {
  std::string name;
  std::string synopsis;     // the positionals, e.g. "MODEL", "TEXT...", "info|eval|search|export MODEL"
  std::string summary;      // one line
  std::string description;  // paragraphs separated by blank lines (may be empty)
  std::vector<OptionSpec> options;
  bool common = true;        // also takes the common options
  bool passthrough = false;  // the first positional (or "--") ends this command's options; the rest is Args::rest()
};

// The common options (--threads, --device, --dtype, --json), in the order help lists them.
const std::vector<OptionSpec>& common_options();
// The options `spec` accepts: its own, then the common ones when it takes them.
std::vector<OptionSpec> all_options(const CommandSpec& spec);

class Args {
 public:
  // Parses a command's words against its table. An option taking one value takes the next word, whatever it is
  // ("--text -- Larry Wall"); one taking several values takes the following words up to a word that is an option of
  // the command ("--name" or "--name=value") or the end; "--name=value" gives a value inline. `--help` / `-h` where
  // an option may stand ask for the command's help (help(), and no error is raised then). Throws shedder::Error for
  // an unknown option, a missing value or a value given to a flag.
  Args(const std::vector<std::string>& words, const CommandSpec& spec);

  const CommandSpec& spec() const { return *spec_; }
  bool help() const { return help_; }
  const std::vector<std::string>& words() const { return words_; }  // as given
  const std::vector<std::string>& positional() const { return positional_; }
  const std::vector<std::string>& rest() const { return rest_; }  // passthrough commands: what follows
  bool has(const std::string& name) const;                        // given on the command line
  bool flag(const std::string& name) const { return has(name); }
  // The last value given, else the table's default. Naming an option that is not in the table is a bug
  // (std::logic_error, an internal error), and so is get_int/get_double of an absent option whose default is not
  // a number (such defaults are worked out by the command: check has() first).
  std::string get(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;  // every value given, in order
  long long get_int(const std::string& name) const;             // Error when the value is not an integer
  double get_double(const std::string& name) const;             // Error when the value is not a number

 private:
  const OptionSpec& option(const std::string& name) const;

  const CommandSpec* spec_;
  std::vector<OptionSpec> options_;
  std::vector<std::string> words_, positional_, rest_;
  std::map<std::string, std::vector<std::string>> values_;
  bool help_ = false;
};

}  // namespace shedder::cli

// Minimal command-line parsing for shedder-cli: positionals, `--opt value`, `--opt=value`,
// options taking several values (`--text a.txt b.txt`), and flags. Unknown options are errors.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace shedder::cli {

struct OptionSpec {
  std::string name;      // without the leading "--"
  bool takes_value = true;
  bool multi = false;    // collects every following non-option word
};

class Args {
 public:
  // Throws shedder::Error on an unknown option or a missing value.
  Args(const std::vector<std::string>& words, const std::vector<OptionSpec>& specs);

  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool flag(const std::string& name) const { return has(name); }
  std::string get(const std::string& name, const std::string& def = "") const;
  std::vector<std::string> all(const std::string& name) const;
  long long get_int(const std::string& name, long long def) const;   // Error when not an integer
  double get_double(const std::string& name, double def) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace shedder::cli

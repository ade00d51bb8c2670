// Command-line parsing for shedder-cli (see args.h).
#include "args.h"

#include <cstdlib>

#include "util/error.h"

namespace shedder::cli {

Args::Args(const std::vector<std::string>& words, const std::vector<OptionSpec>& specs) {
  std::map<std::string, OptionSpec> by_name;
  for (const auto& s : specs) by_name[s.name] = s;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() > 2 && w.compare(0, 2, "--") == 0) {
      std::string name = w.substr(2), inline_value;
      bool has_inline = false;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline = true;
      }
      auto it = by_name.find(name);
      if (it == by_name.end()) throw Error("unknown option --" + name);
      auto& vals = values_[name];
      if (!it->second.takes_value) {
        if (has_inline) throw Error("option --" + name + " takes no value");
        continue;
      }
      if (has_inline) {
        vals.push_back(inline_value);
        continue;
      }
      size_t taken = 0;
      while (i + 1 < words.size() && !(words[i + 1].size() > 2 && words[i + 1].compare(0, 2, "--") == 0)) {
        vals.push_back(words[++i]);
        ++taken;
        if (!it->second.multi) break;
      }
      if (taken == 0) throw Error("option --" + name + " needs a value");
    } else {
      positional_.push_back(w);
    }
  }
}

std::string Args::get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return def;
  return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long long Args::get_int(const std::string& name, long long def) const {
  if (!has(name)) return def;
  const std::string v = get(name);
  char* end = nullptr;
  const long long r = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') throw Error("option --" + name + " expects an integer (got '" + v + "')");
  return r;
}

double Args::get_double(const std::string& name, double def) const {
  if (!has(name)) return def;
  const std::string v = get(name);
  char* end = nullptr;
  const double r = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') throw Error("option --" + name + " expects a number (got '" + v + "')");
  return r;
}

}  // namespace shedder::cli

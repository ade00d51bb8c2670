// The common option table and the command-line parser of shedder-cli (see options.h).
#include "options.h"

#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "util/error.h"

namespace shedder::cli {

OptionSpec flag(std::string name, std::string help) { return {std::move(name), "", "", std::move(help), false, false}; }

OptionSpec opt(std::string name, std::string value_name, std::string def, std::string help) {
  return {std::move(name), std::move(value_name), std::move(def), std::move(help), true, false};
}

OptionSpec multi(std::string name, std::string value_name, std::string help) {
  return {std::move(name), std::move(value_name), "", std::move(help), true, true};
}

std::vector<OptionSpec> join(std::vector<OptionSpec> a, const std::vector<OptionSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<OptionSpec>& common_options() {
  static const std::vector<OptionSpec> table = {
      opt("threads", "N", "0", "CPU threads; 0: all cores (libtorch alone would use one)"),
      opt("device", "cpu|cuda|cuda:N|auto", "cpu",
          "compute device; auto: the first GPU when there is one, else the CPU (an error when the device does not "
          "exist here)"),
      opt("dtype", "auto|float32|bfloat16|float16", "auto",
          "compute dtype on a GPU; auto is the checkpoint's dtype there and float32 on the CPU (the CPU computes in "
          "float32)"),
      flag("json", "print one JSON document on stdout (progress goes to stderr)"),
  };
  return table;
}

std::vector<OptionSpec> all_options(const CommandSpec& spec) {
  std::vector<OptionSpec> all = spec.options;
  if (spec.common) all.insert(all.end(), common_options().begin(), common_options().end());
  return all;
}

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// "--name" or "--name=value" -> name ("" for any other word).
std::string option_name(const std::string& w) {
  if (w.size() <= 2 || !starts_with(w, "--")) return {};
  return w.substr(2, w.find('=') == std::string::npos ? std::string::npos : w.find('=') - 2);
}

}  // namespace

Args::Args(const std::vector<std::string>& words, const CommandSpec& spec)
    : spec_(&spec), options_(all_options(spec)), words_(words) {
  std::map<std::string, const OptionSpec*> by_name;
  for (const auto& o : options_)
    if (!by_name.emplace(o.name, &o).second)
      throw std::logic_error(spec.name + ": option --" + o.name + " is in its table twice");
  auto is_option = [&](const std::string& w) {
    const std::string n = option_name(w);
    return n == "help" || by_name.count(n) != 0;
  };
  const std::string see = " (shedder-cli " + spec.name + " --help lists the options)";
  std::string error;  // the first problem; `--help` anywhere wins over it
  auto fail = [&](const std::string& msg) {
    if (error.empty()) error = spec.name + ": " + msg;
  };
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--help" || w == "-h") {
      help_ = true;
      continue;
    }
    if (spec.passthrough && w == "--") {
      rest_.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
      break;
    }
    const std::string name = option_name(w);
    if (name.empty()) {
      if (spec.passthrough) {
        rest_.assign(words.begin() + static_cast<std::ptrdiff_t>(i), words.end());
        break;
      }
      positional_.push_back(w);
      continue;
    }
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      fail("unknown option --" + name + see);
      continue;
    }
    const OptionSpec& o = *it->second;
    auto& vals = values_[name];
    const size_t eq = w.find('=');
    if (!o.takes_value) {
      if (eq != std::string::npos) fail("option --" + name + " takes no value");
      continue;
    }
    if (eq != std::string::npos) {
      vals.push_back(w.substr(eq + 1));
      continue;
    }
    size_t taken = 0;
    if (!o.multi) {
      if (i + 1 < words.size()) {
        vals.push_back(words[++i]);
        ++taken;
      }
    } else {
      while (i + 1 < words.size() && !is_option(words[i + 1])) {
        vals.push_back(words[++i]);
        ++taken;
      }
    }
    if (taken == 0) fail("option --" + name + " needs a value (" + o.value_name + ")");
  }
  if (!help_ && !error.empty()) throw Error(error);
}

const OptionSpec& Args::option(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name) return o;
  throw std::logic_error(spec_->name + ": asks for option --" + name + ", which is not in its table");
}

bool Args::has(const std::string& name) const {
  option(name);
  return values_.count(name) != 0;
}

std::string Args::get(const std::string& name) const {
  const OptionSpec& o = option(name);
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return o.def;
  return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
  option(name);
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long long Args::get_int(const std::string& name) const {
  const bool given = has(name);
  const std::string v = get(name);
  char* end = nullptr;
  const long long r = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') {
    if (!given) throw std::logic_error(spec_->name + ": option --" + name + " has no integer default ('" + v + "')");
    throw Error("option --" + name + " expects an integer (got '" + v + "')");
  }
  return r;
}

double Args::get_double(const std::string& name) const {
  const bool given = has(name);
  const std::string v = get(name);
  char* end = nullptr;
  const double r = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') {
    if (!given) throw std::logic_error(spec_->name + ": option --" + name + " has no numeric default ('" + v + "')");
    throw Error("option --" + name + " expects a number (got '" + v + "')");
  }
  return r;
}

}  // namespace shedder::cli

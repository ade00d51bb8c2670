// Lenient JSON parsing and the typed field reader (see json_util.h).
#include "util/json_util.h"

#include <cmath>

#include "util/error.h"
#include "util/file_util.h"

namespace shedder {

namespace {

// `text` with the bare Infinity / -Infinity / NaN tokens (outside strings) rewritten into {"__float__": "..."}.
std::string rewrite_bare_floats(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 64);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    auto starts = [&](const char* tok) { return text.compare(i, std::char_traits<char>::length(tok), tok) == 0; };
    if (starts("-Infinity")) {
      out += "{\"__float__\": \"-Infinity\"}";
      i += 8;
    } else if (starts("Infinity")) {
      out += "{\"__float__\": \"Infinity\"}";
      i += 7;
    } else if (starts("NaN")) {
      out += "{\"__float__\": \"NaN\"}";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

nlohmann::json parse_json_lenient(const std::string& text, const std::string& label) {
  try {
    return nlohmann::json::parse(rewrite_bare_floats(text));
  } catch (const std::exception& e) {
    throw Error(label + ": malformed JSON: " + e.what());
  }
}

nlohmann::ordered_json parse_ordered_json_lenient(const std::string& text, const std::string& label) {
  try {
    return nlohmann::ordered_json::parse(rewrite_bare_floats(text));
  } catch (const std::exception& e) {
    throw Error(label + ": malformed JSON: " + e.what());
  }
}

nlohmann::json read_json_file_lenient(const std::string& path) { return parse_json_lenient(read_file_bytes(path), path); }

double json_float(const nlohmann::json& v, const std::string& what) {
  if (v.is_number()) return v.get<double>();
  if (v.is_object() && v.contains("__float__") && v["__float__"].is_string()) {
    const std::string s = v["__float__"].get<std::string>();
    if (s == "Infinity" || s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "NaN" || s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(what + " is not a number (got " + v.dump() + ")");
}

JsonFields::JsonFields(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {
  if (!j_.is_object()) throw Error(source_ + ": not a JSON object");
}

void JsonFields::fail(const char* key, const std::string& why) const {
  std::string shown = j_.contains(key) ? j_[key].dump() : "absent";
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  throw Error(source_ + ": field \"" + key + "\" " + why + " (got " + shown + ")");
}

bool JsonFields::has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

const nlohmann::json& JsonFields::raw(const char* key) const { return j_.at(key); }

int64_t JsonFields::integer(const char* key, int64_t def, int64_t lo, int64_t hi) const {
  if (!has(key)) return def;
  const nlohmann::json& v = j_[key];
  int64_t r = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(key, "is too large");
    r = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    r = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::abs(d) > 9.0e15) fail(key, "must be an integer");
    r = static_cast<int64_t>(d);
  } else {
    fail(key, "must be an integer");
  }
  if (r < lo || r > hi) fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return r;
}

double JsonFields::number(const char* key, double def, double lo, double hi) const {
  if (!has(key)) return def;
  double d = 0;
  try {
    d = json_float(j_[key], std::string("field \"") + key + "\"");
  } catch (const Error&) {
    fail(key, "must be a number");
  }
  if (std::isnan(d)) fail(key, "must be a number, not NaN");
  if (d < lo || d > hi) fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return d;
}

bool JsonFields::boolean(const char* key, bool def) const {
  if (!has(key)) return def;
  if (!j_[key].is_boolean()) fail(key, "must be true or false");
  return j_[key].get<bool>();
}

std::string JsonFields::string(const char* key, const std::string& def) const {
  if (!has(key)) return def;
  if (!j_[key].is_string()) fail(key, "must be a string");
  return j_[key].get<std::string>();
}

std::vector<int64_t> JsonFields::integers(const char* key, int64_t lo, int64_t hi) const {
  std::vector<int64_t> out;
  if (!has(key)) return out;
  const nlohmann::json& v = j_[key];
  if (!v.is_array()) fail(key, "must be a list of integers");
  if (v.size() > (1u << 20)) fail(key, "is too long");
  const std::string range = "must be a list of integers between " + std::to_string(lo) + " and " + std::to_string(hi);
  for (const auto& x : v) {
    if (!x.is_number_integer()) fail(key, range);
    if (x.is_number_unsigned() && x.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(key, range);
    const int64_t r = x.get<int64_t>();
    if (r < lo || r > hi) fail(key, range);
    out.push_back(r);
  }
  return out;
}

}  // namespace shedder

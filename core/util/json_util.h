// JSON helpers every layer needs: parsing text that may hold the bare tokens Infinity / NaN (real checkpoints'
// config.json files do), and a typed reader for the fields of one object whose every error is one line naming
// the file, the field and the problem — never a nlohmann exception, never an out-of-range value reaching
// arithmetic (config files are untrusted input).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace shedder {

// Parses JSON text that may contain the bare tokens Infinity, -Infinity and NaN (written by older Python json
// writers); they become {"__float__": "Infinity"} etc. Throws shedder::Error naming `label` on malformed JSON.
nlohmann::json parse_json_lenient(const std::string& text, const std::string& label);
// parse_json_lenient keeping the objects' keys in the text's order.
nlohmann::ordered_json parse_ordered_json_lenient(const std::string& text, const std::string& label);
// parse_json_lenient of a whole file (shedder::Error naming it when it cannot be read).
nlohmann::json read_json_file_lenient(const std::string& path);
// A number that may be written as {"__float__": "Infinity"} / "-Infinity" / "NaN". Error naming `what` else.
double json_float(const nlohmann::json& v, const std::string& what);

// Typed fields of the JSON object `j` read from `source` (a file name, for messages). Absent or null fields give
// the default; a field of the wrong type or outside its range is a shedder::Error "<source>: field "<key>" ...".
class JsonFields {
 public:
  // Throws shedder::Error when `j` is not an object.
  JsonFields(const nlohmann::json& j, std::string source);

  bool has(const char* key) const;  // present and not null
  const nlohmann::json& raw(const char* key) const;
  const std::string& source() const { return source_; }

  // An integer in [lo, hi] (a float with an integral value, e.g. 2.0, is taken too).
  int64_t integer(const char* key, int64_t def, int64_t lo = std::numeric_limits<int64_t>::min(),
                  int64_t hi = std::numeric_limits<int64_t>::max()) const;
  // A number in [lo, hi]; NaN is always refused, infinities only when the range includes them.
  double number(const char* key, double def, double lo = -std::numeric_limits<double>::infinity(),
                double hi = std::numeric_limits<double>::infinity()) const;
  bool boolean(const char* key, bool def) const;
  std::string string(const char* key, const std::string& def) const;
  // A list of integers, each in [lo, hi] (absent: empty).
  std::vector<int64_t> integers(const char* key, int64_t lo = std::numeric_limits<int64_t>::min(),
                                int64_t hi = std::numeric_limits<int64_t>::max()) const;

 private:
  [[noreturn]] void fail(const char* key, const std::string& why) const;
  const nlohmann::json& j_;
  std::string source_;
};

}  // namespace shedder

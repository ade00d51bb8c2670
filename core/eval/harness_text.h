// The Python string operations lm-evaluation-harness applies to prompts and choices, on UTF-8 text:
// str.isspace / strip / rstrip / lstrip, len() in code points, str.capitalize, str.split(' ') and the
// hellaswag preprocess. Shared by the accuracy scorer and the task converters so both agree with the harness.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shedder::harness {

// Python's str.isspace() for one code point (Unicode whitespace: bidi WS/B/S or category Zs).
bool is_space(uint32_t cp);
std::string rstrip(const std::string& s);
std::string lstrip(const std::string& s);
std::string strip(const std::string& s);
// Python len(): code points (an invalid UTF-8 byte counts as one).
int64_t char_length(const std::string& s);
// Python str.capitalize(): the first character upper-cased, the rest lower-cased (ASCII letters only;
// other characters are left as they are).
std::string capitalize(const std::string& s);
// Python s.split(' '): every single space separates (empty pieces kept).
std::vector<std::string> split_space(const std::string& s);
std::string join(const std::vector<std::string>& parts, const std::string& sep);
// Replaces every non-overlapping occurrence of `from` (non-empty), left to right, like str.replace.
std::string replace_all(const std::string& s, const std::string& from, const std::string& to);
// lm-evaluation-harness hellaswag preprocess: strip, " [title]" -> ". ", drop "[...]" spans (shortest
// match, not across newlines), then "  " -> " " once.
std::string hellaswag_preprocess(const std::string& text);

}  // namespace shedder::harness

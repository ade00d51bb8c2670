// Python string semantics on UTF-8 for the harness emulation (see harness_text.h).
#include "eval/harness_text.h"

#include "tokenizer/unicode_text.h"

namespace shedder::harness {

namespace {

using tokenizer_detail::decode_utf8;

// Byte offsets of the code points of s.
std::vector<size_t> char_starts(const std::string& s) {
  std::vector<size_t> out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    out.push_back(i);
    i += decode_utf8(p + i, s.size() - i).len;
  }
  return out;
}

uint32_t cp_at(const std::string& s, size_t off) {
  return decode_utf8(reinterpret_cast<const unsigned char*>(s.data()) + off, s.size() - off).cp;
}

}  // namespace

bool is_space(uint32_t cp) {
  if (cp >= 0x09 && cp <= 0x0D) return true;
  if (cp >= 0x1C && cp <= 0x20) return true;
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string rstrip(const std::string& s) {
  const std::vector<size_t> st = char_starts(s);
  size_t end = s.size();
  for (size_t k = st.size(); k-- > 0;) {
    if (!is_space(cp_at(s, st[k]))) break;
    end = st[k];
  }
  return s.substr(0, end);
}

std::string lstrip(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = decode_utf8(p + i, s.size() - i);
    if (!is_space(c.cp)) break;
    i += c.len;
  }
  return s.substr(i);
}

std::string strip(const std::string& s) { return lstrip(rstrip(s)); }

int64_t char_length(const std::string& s) { return static_cast<int64_t>(char_starts(s).size()); }

std::string capitalize(const std::string& s) {
  std::string out = s;
  bool first = true;
  const std::vector<size_t> st = char_starts(s);
  for (size_t k = 0; k < st.size(); ++k) {
    char& c = out[st[k]];
    if (c >= 'a' && c <= 'z' && first) c = static_cast<char>(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'Z' && !first) c = static_cast<char>(c - 'A' + 'a');
    first = false;
  }
  return out;
}

std::vector<std::string> split_space(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t sp = s.find(' ', pos);
    if (sp == std::string::npos) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string hellaswag_preprocess(const std::string& text) {
  std::string t = replace_all(strip(text), " [title]", ". ");
  // re.sub("\\[.*?\\]", "", t): '.' matches anything but '\n'; the shortest span from each '['.
  std::string out;
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '[') {
      size_t j = i + 1;
      while (j < t.size() && t[j] != ']' && t[j] != '\n') ++j;
      if (j < t.size() && t[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    out += t[i++];
  }
  return replace_all(out, "  ", " ");
}

}  // namespace shedder::harness

// lm-evaluation-harness's console table (see harness_table.h): make_table's rows, pytablewriter's Markdown layout.
#include "eval/harness_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>
#include <vector>

#include "eval/harness_samples.h"
#include "util/number_format.h"

namespace shedder {

namespace {

enum class Kind { Null, Integer, Real, Text };

struct Cell {
  Kind kind = Kind::Null;
  std::string text;  // as given (Text, Null)
  double value = 0;  // Integer, Real
  int decimals = 0;  // Real: digits after the point of Python's repr(float(text))
};

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// A cell as typepy types it: blank → Null; a number → Integer when integral, else Real; anything else → Text.
Cell cell(const std::string& text) {
  static const std::regex number(R"(^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$)");
  Cell c;
  c.text = text;
  if (text.find_first_not_of(" \t") == std::string::npos) return c;
  if (!std::regex_match(text, number)) {
    c.kind = Kind::Text;
    return c;
  }
  c.value = std::strtod(text.c_str(), nullptr);
  if (!std::isfinite(c.value)) {
    c.kind = Kind::Text;
    return c;
  }
  if (c.value == std::floor(c.value)) {
    c.kind = Kind::Integer;
    return c;
  }
  c.kind = Kind::Real;
  const std::string r = python_float_repr(std::fabs(c.value));
  const size_t dot = r.find('.'), e = r.find("e-");
  if (e != std::string::npos) c.decimals = std::atoi(r.c_str() + e + 2);  // "1e-05": 5, as dataproperty counts it
  else if (dot != std::string::npos) c.decimals = static_cast<int>(r.size() - dot - 1);
  return c;
}

// A JSON value as make_table hands it to pytablewriter (numbers as Python would print them, null as "").
Cell cell(const nlohmann::json& v) {
  if (v.is_null()) return cell(std::string());
  if (v.is_string()) return cell(v.get<std::string>());
  if (v.is_number_float()) return cell(python_float_repr(v.get<double>()));
  if (v.is_number()) return cell(v.dump());
  if (v.is_boolean()) {
    Cell c;
    c.kind = Kind::Text;
    c.text = v.get<bool>() ? "True" : "False";
    return c;
  }
  return cell(v.dump());
}


std::string pad(const std::string& s, int64_t width, char align) {
  const int64_t space = std::max<int64_t>(0, width - code_points(s));
  if (align == '>') return std::string(static_cast<size_t>(space), ' ') + s;
  if (align == '^') {
    const int64_t left = space / 2;
    return std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(space - left), ' ');
  }
  return s + std::string(static_cast<size_t>(space), ' ');
}

std::string escape_bars(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// pytablewriter's Markdown table of `rows` under `header`.
std::string markdown(const std::vector<std::string>& header, const std::vector<std::vector<Cell>>& rows) {
  const size_t ncol = header.size();
  std::vector<std::vector<std::string>> shown(rows.size(), std::vector<std::string>(ncol));
  std::vector<bool> numeric(ncol);
  std::vector<int64_t> width(ncol);
  for (size_t c = 0; c < ncol; ++c) {
    bool text = false, real = false, integer = false;
    int decimals = 0;
    for (const auto& row : rows) {
      const Cell& x = row[c];
      text = text || x.kind == Kind::Text;
      real = real || x.kind == Kind::Real;
      integer = integer || x.kind == Kind::Integer;
      if (x.kind == Kind::Real) decimals = std::max(decimals, x.decimals);
    }
    const Kind column = text ? Kind::Text : real ? Kind::Real : integer ? Kind::Integer : Kind::Null;
    numeric[c] = column == Kind::Real || column == Kind::Integer;
    width[c] = std::max<int64_t>(3, code_points(header[c]));
    for (size_t r = 0; r < rows.size(); ++r) {
      const Cell& x = rows[r][c];
      std::string s = x.text;
      if (x.kind == Kind::Real || (x.kind == Kind::Integer && column == Kind::Real)) s = format_fixed(x.value, decimals);
      else if (x.kind == Kind::Integer) s = format_fixed(x.value, 0);
      else if (x.kind == Kind::Null) s.clear();
      shown[r][c] = s;
      width[c] = std::max(width[c], code_points(s));
    }
  }
  std::string out = "|";
  for (size_t c = 0; c < ncol; ++c) out += escape_bars(pad(header[c], width[c], '^')) + "|";
  out += "\n|";
  for (size_t c = 0; c < ncol; ++c)
    out += (numeric[c] ? std::string(static_cast<size_t>(width[c] - 1), '-') + ":"
                       : std::string(static_cast<size_t>(width[c]), '-')) + "|";
  out += "\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += "|";
    for (size_t c = 0; c < ncol; ++c) {
      const Kind k = rows[r][c].kind;
      const char align = numeric[c] || k == Kind::Integer || k == Kind::Real ? '>' : '<';
      out += escape_bars(pad(shown[r][c], width[c], align)) + "|";
    }
    out += "\n";
  }
  return out;
}

const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json none = nlohmann::json::object();
  return j.is_object() && j.contains(key) && j[key].is_object() ? j[key] : none;
}

// Python's str() of a JSON value (None for null).
std::string python_str(const nlohmann::json& v) {
  if (v.is_null()) return "None";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_float()) return python_float_repr(v.get<double>());
  return v.dump();
}

}  // namespace

std::string harness_table(const nlohmann::json& file) {
  const nlohmann::json& results = member(file, "results");
  const nlohmann::json& versions = member(file, "versions");
  const nlohmann::json& shots = member(file, "n-shot");
  const nlohmann::json& better = member(file, "higher_is_better");
  std::vector<std::vector<Cell>> rows;
  for (const auto& [task, metrics] : results.items()) {
    if (!metrics.is_object()) continue;
    Cell name = cell(metrics.contains("alias") ? metrics["alias"] : nlohmann::json(task));
    Cell version = cell(versions.contains(task) ? versions[task] : nlohmann::json("    N/A"));
    const std::string n = shots.contains(task) ? python_str(shots[task]) : " ";
    const nlohmann::json& hib = member(better, task.c_str());
    for (const auto& [key, v] : metrics.items()) {  // sorted by key, as make_table sorts them
      if (key == "alias" || key == "name" || key == "sample_len" || key == "sample_count") continue;
      const size_t comma = key.find(',');
      const std::string m = key.substr(0, comma), f = comma == std::string::npos ? "" : key.substr(comma + 1);
      if (m.size() >= 7 && m.compare(m.size() - 7, 7, "_stderr") == 0) continue;
      std::string arrow;
      if (hib.contains(m) && hib[m].is_boolean()) arrow = hib[m].get<bool>() ? "↑" : "↓";
      const Cell value = v.is_number_float() ? cell(format_fixed(v.get<double>(), 4)) : cell(v);
      const std::string se_key = m + "_stderr," + f;
      std::vector<Cell> row = {name, version, cell(f), cell(n), cell(m), cell(arrow), value};
      if (metrics.contains(se_key)) {
        const nlohmann::json& se = metrics[se_key];
        row.push_back(cell(std::string("±")));
        if (se.is_string() && se.get<std::string>() == "N/A") row.push_back(cell(std::string("   N/A")));
        else if (se.is_number()) row.push_back(cell(format_fixed(se.get<double>(), 4)));
        else row.push_back(cell(se));
      } else {
        row.push_back(cell(std::string()));
        row.push_back(cell(std::string()));
      }
      rows.push_back(std::move(row));
      name = cell(std::string());
      version = cell(std::string());
    }
  }
  return markdown({"Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"}, rows);
}

std::string harness_run_line(const nlohmann::json& file) {
  const nlohmann::json& c = member(file, "config");
  auto get = [&](const char* key) { return python_str(c.contains(key) ? c[key] : nlohmann::json(nullptr)); };
  return get("model") + " (" + get("model_args") + "), gen_kwargs: (" + get("gen_kwargs") + "), limit: " +
         get("limit") + ", num_fewshot: None, batch_size: " + get("batch_size");
}

}  // namespace shedder

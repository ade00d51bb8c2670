// Markdown, LaTeX (booktabs) and CSV writers of a Table (see text_table.h).
#include "report/text_table.h"

#include <cmath>
#include <cstdio>

#include "util/error.h"
#include "util/number_format.h"

namespace shedder {

namespace {

void check(const Table& t) {
  for (size_t r = 0; r < t.rows.size(); ++r)
    if (t.rows[r].size() != t.header.size())
      throw InternalError("table \"" + t.caption + "\": row " + std::to_string(r) + " has " +
                          std::to_string(t.rows[r].size()) + " cells for " + std::to_string(t.header.size()) +
                          " columns");
}

bool is_numeric(const Table& t, size_t c) { return c < t.numeric.size() && t.numeric[c]; }

std::string md_cell(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '|') o += "\\|";
    else if (ch == '\n') o += ' ';
    else o += ch;
  }
  return o;
}

std::string tex_cell(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    // Multi-byte signs first (UTF-8): ± ↑ ↓ Δ ×.
    auto starts = [&](const char* u) { return s.compare(i, std::char_traits<char>::length(u), u) == 0; };
    if (starts("\xC2\xB1")) { o += "$\\pm$"; ++i; continue; }
    if (starts("\xE2\x86\x91")) { o += "$\\uparrow$"; i += 2; continue; }
    if (starts("\xE2\x86\x93")) { o += "$\\downarrow$"; i += 2; continue; }
    if (starts("\xCE\x94")) { o += "$\\Delta$"; ++i; continue; }
    if (starts("\xC3\x97")) { o += "$\\times$"; ++i; continue; }
    switch (ch) {
      case '\\': o += "\\textbackslash{}"; break;
      case '&': case '%': case '$': case '#': case '_': case '{': case '}': o += '\\'; o += ch; break;
      case '~': o += "\\textasciitilde{}"; break;
      case '^': o += "\\textasciicircum{}"; break;
      case '\n': o += ' '; break;
      default: o += ch;
    }
  }
  return o;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"') o += '"';
    o += ch;
  }
  return o + '"';
}

}  // namespace

std::optional<TableFormat> parse_table_format(const std::string& s) {
  if (s == "md" || s == "markdown") return TableFormat::Markdown;
  if (s == "tex" || s == "latex") return TableFormat::Latex;
  if (s == "csv") return TableFormat::Csv;
  return std::nullopt;
}

const char* table_suffix(TableFormat f) {
  switch (f) {
    case TableFormat::Markdown: return "md";
    case TableFormat::Latex: return "tex";
    case TableFormat::Csv: return "csv";
  }
  return "";
}

std::string to_markdown(const Table& t) {
  check(t);
  std::string o;
  if (!t.caption.empty()) o += "**" + md_cell(t.caption) + "**\n\n";
  o += "|";
  for (const auto& h : t.header) o += " " + md_cell(h) + " |";
  o += "\n|";
  for (size_t c = 0; c < t.header.size(); ++c) o += is_numeric(t, c) ? " ---: |" : " --- |";
  o += "\n";
  for (const auto& row : t.rows) {
    o += "|";
    for (const auto& cell : row) o += " " + md_cell(cell) + " |";
    o += "\n";
  }
  return o;
}

std::string to_latex(const Table& t) {
  check(t);
  std::string spec;
  for (size_t c = 0; c < t.header.size(); ++c) spec += is_numeric(t, c) ? 'r' : 'l';
  std::string o = "% needs \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n";
  if (!t.caption.empty()) o += "\\caption{" + tex_cell(t.caption) + "}\n";
  if (!t.label.empty()) o += "\\label{" + t.label + "}\n";
  o += "\\begin{tabular}{" + spec + "}\n\\toprule\n";
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) o += (c ? " & " : "") + tex_cell(cells[c]);
    o += " \\\\\n";
  };
  line(t.header);
  o += "\\midrule\n";
  for (const auto& row : t.rows) line(row);
  o += "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
  return o;
}

std::string to_csv(const Table& t) {
  check(t);
  std::string o;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) o += (c ? "," : "") + csv_cell(cells[c]);
    o += "\n";
  };
  line(t.header);
  for (const auto& row : t.rows) line(row);
  return o;
}

std::string write_table(const Table& t, TableFormat f) {
  switch (f) {
    case TableFormat::Markdown: return to_markdown(t);
    case TableFormat::Latex: return to_latex(t);
    case TableFormat::Csv: return to_csv(t);
  }
  return {};
}

std::string fixed(std::optional<double> v, int decimals) {
  if (!v || !std::isfinite(*v)) return {};
  return format_fixed(*v, decimals);
}

std::string with_stderr(std::optional<double> v, std::optional<double> se, int decimals) {
  std::string s = fixed(v, decimals);
  if (s.empty()) return s;
  const std::string e = fixed(se, decimals);
  return e.empty() ? s : s + " \xC2\xB1 " + e;
}

}  // namespace shedder

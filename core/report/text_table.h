// Tables for papers and notebooks: one Table (caption, header, rows of cells already formatted as text) written as
// Markdown (GitHub pipes), LaTeX (booktabs: \toprule / \midrule / \bottomrule, special characters escaped, "±"
// and "↑"/"↓" as math) or CSV (RFC 4180: a cell with a comma, quote or line break is quoted, quotes doubled). The
// report command and the comparison window build their step, accuracy and variants tables as Tables.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shedder {

enum class TableFormat { Markdown, Latex, Csv };

// "md" / "markdown", "tex" / "latex", "csv"; nullopt otherwise.
std::optional<TableFormat> parse_table_format(const std::string& s);
const char* table_suffix(TableFormat f);  // "md", "tex", "csv"

struct Table {
  std::string caption;                     // Markdown: a bold line above; LaTeX: \caption; CSV: not written
  std::string label;                       // LaTeX \label (e.g. "tab:variants"); "" = none
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as wide as `header`
  std::vector<bool> numeric;               // right-aligned columns (default: none)
};

// Throws shedder::InternalError when a row's width differs from the header's.
std::string to_markdown(const Table& t);
std::string to_latex(const Table& t);
std::string to_csv(const Table& t);
std::string write_table(const Table& t, TableFormat f);

// Text of a number with `decimals` digits after the point ("" for nullopt or a non-finite value).
std::string fixed(std::optional<double> v, int decimals);
// "0.6120 ± 0.0154" (Markdown/CSV) — LaTeX gets "$\pm$" through to_latex's escaping of "±".
std::string with_stderr(std::optional<double> v, std::optional<double> se, int decimals);

}  // namespace shedder

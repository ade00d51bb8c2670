// The usage texts, the man page and the Markdown reference of shedder-cli, generated from the registry's option
// tables (see help.h; the bash completion is in completion.cpp).
#include "help.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"

namespace shedder::cli {

namespace {

constexpr size_t kWidth = 100;   // columns of the terminal texts
constexpr size_t kHelpCol = 30;  // where an option's help starts

const char* const kModelNote =
    "MODEL is a folder with config.json, weights (*.safetensors or pytorch_model.bin) and tokenizer.json.";
const char* const kAbout =
    "shedder-cli is the headless front end of Mamba Shedder Workbench. It opens Hugging Face model folders of "
    "Mamba-1, Mamba-2, Zamba2 and Hymba models, evaluates them (perplexity, zero-shot accuracy, "
    "latency and memory), runs the Mamba-Shedder search (greedy removal of blocks, SSMs, attention heads, MLP channels ... by calibration perplexity), "
    "exports pruned checkpoints and tunes them.";
const char* const kErrors = "Errors exit non-zero with one line on stderr naming the file or option and the problem.";
const char* const kExitStatus[][2] = {
    {"0", "success"},
    {"1", "an error in the input (a file, a model folder, an unknown option, a bad value), reported as one line"},
    {"2", "a usage error: no command, or an unknown one"},
    {"3", "an internal error (a bug)"},
    {"130", "a search or tuning run interrupted (Ctrl-C); its journal or checkpoint is kept for --resume"},
};

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

// Paragraphs of a description (separated by blank lines).
std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

constexpr char kGlue = '\x1f';  // a space wrap() does not break at

// Writes `text` filled to kWidth columns, starting at column `col` (already written) and continuing at `indent`.
void wrap(std::ostream& os, const std::string& text, size_t col, size_t indent) {
  bool first = true;
  for (std::string w : split_words(text)) {
    std::replace(w.begin(), w.end(), kGlue, ' ');
    if (!first && col + 1 + w.size() > kWidth) {
      os << "\n" << std::string(indent, ' ');
      col = indent;
    } else if (!first) {
      os << ' ';
      ++col;
    }
    os << w;
    col += w.size();
    first = false;
  }
  os << "\n";
}

// The help text of an option with its default; `glue` keeps "(default: X" together when wrapped.
std::string with_default(const OptionSpec& o, char glue = ' ') {
  return o.def.empty() ? o.help : o.help + " (default:" + glue + o.def + ")";
}

std::string option_label(const OptionSpec& o) {
  return "--" + o.name + (o.takes_value ? " " + o.value_name : std::string());
}

void print_options(std::ostream& os, const std::vector<OptionSpec>& options) {
  for (const auto& o : options) {
    const std::string label = "  " + option_label(o);
    os << label;
    if (label.size() + 2 <= kHelpCol) {
      os << std::string(kHelpCol - label.size(), ' ');
    } else {
      os << "\n" << std::string(kHelpCol, ' ');
    }
    wrap(os, with_default(o, kGlue), kHelpCol, kHelpCol);
  }
}

// A summary as a sentence: capitalised, with a full stop.
std::string sentence(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s + ".";
}

std::string usage_line(const CommandSpec& s) {
  const std::string options = s.options.empty() && !s.common ? "" : " [options]";
  if (s.passthrough) return "shedder-cli " + s.name + options + " " + s.synopsis;
  return "shedder-cli " + s.name + (s.synopsis.empty() ? "" : " " + s.synopsis) + options;
}

// --- roff -------------------------------------------------------------------------------------------------------

// Text for a roff line: backslashes and hyphens escaped, non-ASCII characters as \[uXXXX], a leading dot or quote
// protected.
std::string roff(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      o += "\\e";
    } else if (c == '-') {
      o += "\\-";
    } else if (c < 0x80) {
      o += static_cast<char>(c);
    } else {  // UTF-8 sequence -> code point
      const int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
      unsigned cp = c & (0x3F >> n);
      for (int k = 0; k < n && i + 1 < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\[u%04X]", cp);
      o += buf;
    }
  }
  if (!o.empty() && (o[0] == '.' || o[0] == '\'')) o = "\\&" + o;
  return o;
}

// --- Markdown ---------------------------------------------------------------------------------------------------

// Text for a Markdown table cell or paragraph: characters that would be read as markup escaped.
std::string md(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '|' || c == '*' || c == '_' || c == '\\') o += '\\';
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else
      o += c;
  }
  return o;
}

// Code in a Markdown table cell (only the pipe needs escaping there).
std::string md_code(const std::string& s) {
  std::string o = "`";
  for (char c : s) {
    if (c == '|') o += '\\';
    o += c;
  }
  return o + "`";
}

void md_option_table(std::ostream& os, const std::vector<OptionSpec>& options) {
  os << "| option | default | description |\n| --- | --- | --- |\n";
  for (const auto& o : options)
    os << "| " << md_code(option_label(o)) << " | " << (o.def.empty() ? "" : md_code(o.def)) << " | " << md(o.help)
       << " |\n";
}

}  // namespace

std::vector<std::string> synopsis_words(const std::string& synopsis) {
  std::vector<std::string> out;
  for (std::string w : split_words(synopsis)) {
    if (!w.empty() && w.front() == '[') w.erase(0, 1);
    if (!w.empty() && w.back() == ']') w.pop_back();
    if (!w.empty()) out.push_back(w);
  }
  return out;
}

int unknown_command(const std::string& name) {
  if (name == "hybrid") {  // folded into the other commands (0.x had a separate command for Zamba2 and Hymba)
    std::cerr << "shedder-cli: 'hybrid' is gone: every command takes Zamba2 and Hymba models now (shedder-cli info, "
                 "eval, search, export ... MODEL)\n";
    return 2;
  }
  std::cerr << "shedder-cli: unknown command '" << name << "' (see shedder-cli --help)\n";
  return 2;
}

void print_usage(std::ostream& os) {
  os << "shedder-cli " << SHEDDER_VERSION << " - Mamba Shedder Workbench, headless\n\n"
     << "usage: shedder-cli COMMAND [options]\n"
     << "       shedder-cli COMMAND --help     the command's options, with their defaults\n"
     << "       shedder-cli --version\n\ncommands:\n";
  for (const auto& c : commands()) {
    const CommandSpec& s = c.spec();
    const std::string head = "  " + s.name + (s.synopsis.empty() ? "" : " " + s.synopsis);
    os << head;
    if (head.size() + 2 <= kHelpCol)
      os << std::string(kHelpCol - head.size(), ' ');
    else
      os << "\n" << std::string(kHelpCol, ' ');
    wrap(os, s.summary, kHelpCol, kHelpCol);
  }
  os << "\ncommon options (";
  bool first = true;
  for (const auto& c : commands())
    if (!c.spec().common) {
      os << (first ? "not " : ", ") << c.spec().name;
      first = false;
    }
  os << "):\n";
  print_options(os, common_options());
  os << "\n";
  wrap(os, kModelNote, 0, 0);
}

void print_command_help(std::ostream& os, const CommandSpec& s) {
  os << "usage: " << usage_line(s) << "\n\n";
  wrap(os, s.summary, 0, 0);
  for (const auto& p : paragraphs(s.description)) {
    os << "\n";
    wrap(os, p, 0, 0);
  }
  if (!s.options.empty()) {
    os << "\noptions:\n";
    print_options(os, s.options);
  }
  if (s.common) {
    os << "\ncommon options:\n";
    print_options(os, common_options());
  }
}

void print_man_page(std::ostream& os) {
  os << ".\\\" shedder-cli(1), generated by `shedder-cli help --man` from its option tables; do not edit.\n"
     << ".TH SHEDDER\\-CLI 1 \"\" \"shedder\\-cli " << roff(SHEDDER_VERSION) << "\" \"User Commands\"\n"
     << ".SH NAME\nshedder\\-cli \\- prune, evaluate, tune and export Mamba language models from the command line\n"
     << ".SH SYNOPSIS\n.B shedder\\-cli\n.I COMMAND\n.RI [ options ]\n.br\n.B shedder\\-cli\n.I COMMAND\n"
     << ".B \\-\\-help\n.br\n.B shedder\\-cli \\-\\-version\n"
     << ".SH DESCRIPTION\n"
     << roff(kAbout) << "\n.PP\n"
     << roff(kModelNote) << "\n.PP\n"
     << roff(kErrors) << "\n"
     << ".SH COMMANDS\n";
  for (const auto& c : commands()) {
    const CommandSpec& s = c.spec();
    const bool options = !s.options.empty() || s.common;
    os << ".SS " << roff(s.name) << "\n.B shedder\\-cli " << roff(s.name) << "\n";
    if (options && s.passthrough) os << ".RI [ options ]\n";
    for (const auto& w : split_words(s.synopsis)) os << ".I " << roff(w) << "\n";
    if (options && !s.passthrough) os << ".RI [ options ]\n";
    os << ".PP\n" << roff(sentence(s.summary)) << "\n";
    for (const auto& p : paragraphs(s.description)) os << ".PP\n" << roff(p) << "\n";
    for (const auto& o : s.options) {
      os << ".TP\n";
      if (o.takes_value)
        os << ".BI \\-\\-" << roff(o.name) << " \" " << roff(o.value_name) << "\"\n";
      else
        os << ".B \\-\\-" << roff(o.name) << "\n";
      os << roff(with_default(o)) << "\n";
    }
    if (s.common) os << ".PP\nAlso the common options (see COMMON OPTIONS).\n";
  }
  os << ".SH COMMON OPTIONS\n";
  for (const auto& o : common_options()) {
    os << ".TP\n";
    if (o.takes_value)
      os << ".BI \\-\\-" << roff(o.name) << " \" " << roff(o.value_name) << "\"\n";
    else
      os << ".B \\-\\-" << roff(o.name) << "\n";
    os << roff(with_default(o)) << "\n";
  }
  os << ".SH EXIT STATUS\n";
  for (const auto& e : kExitStatus) os << ".TP\n.B " << e[0] << "\n" << roff(e[1]) << "\n";
  os << ".SH ENVIRONMENT\n.TP\n.B SHEDDER_RESOURCES_DIR\n"
     << roff("Where the demo data is (default: ../share/mamba-shedder beside the executable).") << "\n"
     << ".TP\n.B RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK\n"
     << roff("A distributed search's place in its group, as torchrun, Slurm or shedder-cli launch set them.") << "\n"
     << ".SH FILES\n.TP\n.I /usr/share/mamba\\-shedder/demo\n"
     << roff("The demo models (mamba1, mamba2), the demo corpus splits and the demo accuracy tasks (tasks/*.jsonl).")
     << "\n.SH EXAMPLES\n.nf\n"
     << roff("shedder-cli eval /usr/share/mamba-shedder/demo/mamba1 \\") << "\n"
     << roff("    --text /usr/share/mamba-shedder/demo/corpus/test.jsonl --seq-len 256") << "\n"
     << roff("shedder-cli search /usr/share/mamba-shedder/demo/mamba1 --granularity block --steps 4 \\") << "\n"
     << roff("    --calib-text /usr/share/mamba-shedder/demo/corpus/calibration.jsonl --seq-len 256 --out run") << "\n"
     << roff("shedder-cli accuracy /usr/share/mamba-shedder/demo/mamba1 --demo-tasks --remove block:10,8") << "\n"
     << ".fi\n.SH SEE ALSO\n.BR mamba\\-shedder (1)\n";
}

void print_markdown(std::ostream& os) {
  os << "# shedder-cli\n\n"
     << "<!-- Generated by `shedder-cli help --markdown` from the option tables in app/cli; do not edit by hand.\n"
     << "     `cmake --build build --target cli-reference` rewrites it; test_cli_options fails when it is stale. "
        "-->\n\n"
     << md(kAbout) << "\n\n"
     << md(kModelNote) << " " << md(kErrors) << " `shedder-cli COMMAND --help` prints a command's options, "
     << "`man shedder-cli` has all of them and `shedder-cli completion bash` completes them.\n\n"
     << "| command | what it does |\n| --- | --- |\n";
  for (const auto& c : commands()) {
    const CommandSpec& s = c.spec();
    os << "| [" << md_code(s.name + (s.synopsis.empty() ? "" : " " + s.synopsis)) << "](#" << s.name << ") | "
       << md(s.summary) << " |\n";
  }
  os << "\n## Common options\n\nEvery command but";
  bool first = true;
  for (const auto& c : commands())
    if (!c.spec().common) {
      os << (first ? " " : ", ") << "`" << c.spec().name << "`";
      first = false;
    }
  os << " also takes:\n\n";
  md_option_table(os, common_options());
  os << "\nExit status:\n\n";
  for (const auto& e : kExitStatus) os << "- " << e[0] << ": " << md(e[1]) << "\n";
  for (const auto& c : commands()) {
    const CommandSpec& s = c.spec();
    os << "\n## " << s.name << "\n\n`" << usage_line(s) << "`\n\n" << md(sentence(s.summary)) << "\n";
    for (const auto& p : paragraphs(s.description)) os << "\n" << md(p) << "\n";
    if (!s.options.empty()) {
      os << "\n";
      md_option_table(os, s.options);
    }
    if (s.common) os << "\nAlso the [common options](#common-options).\n";
  }
}

}  // namespace shedder::cli

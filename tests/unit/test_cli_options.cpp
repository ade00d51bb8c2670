// End-to-end tests of shedder-cli's option tables and of what is generated from them, with the real binary (path
// in env SHEDDER_CLI, as test_cli): the top-level usage and every command's help (`COMMAND --help`, `-h`,
// `help COMMAND`), the man page (roff that groff accepts), the Markdown reference (docs/cli.md must equal the
// binary's output) and the bash completion script (run in bash); option values that start with "-" (one-value
// options take the next word, whatever it is; several-value options stop at the command's next option); and the
// default number of windows with pre-tokenized input (all of the file's, in eval and search).
#include <ATen/ATen.h>

#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>
#include <QtTest/QtTest>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "support/cli_runner.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace shedder;
using namespace shedder::test;
using json = nlohmann::json;

namespace {

// Every command of shedder-cli (the registry must offer each of them, with help).
const std::vector<std::string> kCommands = {
    "info",         "tokenize",        "eval",     "search",    "export", "create-model",    "tune",
    "build-corpus", "train-tokenizer", "accuracy", "generate",  "bench",  "make-demo-tasks", "convert-task",
    "launch",       "help",            "completion"};

json one_json(const CliResult& r) {
  if (!r.ok() || count_lines(r.out) != 1) return json();
  return json::parse(r.out, nullptr, false);
}

// The option names ("--name") a help text lists at the start of its lines.
std::vector<std::string> listed_options(const std::string& help) {
  std::vector<std::string> names;
  static const std::regex re(R"(^  (--[a-z0-9-]+))");
  std::istringstream in(help);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, re)) names.push_back(m[1]);
  return names;
}

// The line of a help text that documents `--name` ("" when none).
std::string option_line(const std::string& help, const std::string& name) {
  std::istringstream in(help);
  std::string line, found;
  while (std::getline(in, line)) {
    if (!found.empty()) {
      if (line.rfind("    ", 0) != 0) break;  // continuation lines are indented further
      found += " " + line.substr(line.find_first_not_of(' '));
      continue;
    }
    if (line.rfind("  " + name + " ", 0) == 0 || line == "  " + name) found = line;
  }
  return found;
}

// Runs `script` with bash; stdout, or "" with a QFAIL-worthy message in *why.
std::string run_bash(const std::string& script, std::string* why) {
  QProcess p;
  p.start(QStringLiteral("bash"), {QStringLiteral("-c"), QString::fromStdString(script)});
  if (!p.waitForStarted(10000) || !p.waitForFinished(30000)) {
    *why = "bash did not run";
    return {};
  }
  const std::string err = p.readAllStandardError().toStdString();
  if (p.exitCode() != 0 || !err.empty()) *why = "bash exit " + std::to_string(p.exitCode()) + ": " + err;
  return p.readAllStandardOutput().toStdString();
}

}  // namespace

class TestCliOptions : public QObject {
  Q_OBJECT

  std::string root_, m1_, tokens64_, completion_;
  std::string path(const std::string& n) const { return root_ + "/" + n; }

  // The completions bash offers for the words of `line` (the last word is the one being completed).
  std::vector<std::string> complete(const std::vector<std::string>& words) {
    std::string arr;
    for (const auto& w : words) arr += " '" + w + "'";
    std::string why;
    const std::string out = run_bash("source '" + completion_ + "'; COMP_WORDS=(" + arr +
                                         "); COMP_CWORD=" + std::to_string(words.size() - 1) +
                                         "; _shedder_cli; printf '%s\\n' \"${COMPREPLY[@]}\"",
                                     &why);
    if (!why.empty()) qWarning("%s", why.c_str());
    std::vector<std::string> r;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) r.push_back(line);
    std::sort(r.begin(), r.end());
    return r;
  }

 private Q_SLOTS:
  void initTestCase() {
    if (cli_path().empty() || !fs::exists(cli_path()))
      QSKIP("SHEDDER_CLI is not set to the shedder-cli binary (run the test through ctest)");
    root_ = test::make_temp_dir("cli-options");
    m1_ = path("m1");
    const CliResult r = run({"create-model", q(m1_), "--arch", "mamba", "--layers", "2", "--hidden", "16", "--seed",
                             "3", "--threads", "1"});
    QVERIFY2(r.ok(), r.describe().c_str());
    at::manual_seed(11);
    tokens64_ = path("w64.safetensors");
    write_safetensors(tokens64_, {{"windows", at::randint(0, 257, {64, 8}, at::kLong)}});
  }

  void cleanupTestCase() {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }

  // `COMMAND --help`, `COMMAND -h` and `help COMMAND` print the same usage with every option, exit 0; the top-level
  // usage lists every command.
  void help_for_every_command() {
    std::vector<QStringList> calls = {{"--help"}, {"help"}, {}};
    for (const auto& c : kCommands) {
      calls.push_back({q(c), "--help"});
      calls.push_back({q(c), "-h"});
      calls.push_back({"help", q(c)});
    }
    const auto r = run_many(calls);
    QVERIFY2(r[0].ok() && r[0].err.empty(), r[0].describe().c_str());
    QCOMPARE(r[1].out, r[0].out);
    QCOMPARE(r[2].code, 2);  // no command at all: the usage on stderr, a usage error
    QCOMPARE(r[2].err, r[0].out);
    for (const auto& c : kCommands)
      QVERIFY2(contains(r[0].out, "\n  " + c + " "), ("the usage lacks " + c + ":\n" + r[0].out).c_str());
    for (size_t i = 0; i < kCommands.size(); ++i) {
      const CliResult &a = r[3 + 3 * i], &b = r[4 + 3 * i], &c = r[5 + 3 * i];
      for (const CliResult* x : {&a, &b, &c}) QVERIFY2(x->ok() && x->err.empty(), x->describe().c_str());
      QCOMPARE(b.out, a.out);
      QCOMPARE(c.out, a.out);
      QVERIFY2(contains(a.out, "usage: shedder-cli " + kCommands[i]), a.out.c_str());
    }
    // search: every option with its value name, default and help; the common options too.
    const std::string s = r[3 + 3 * 3].out;
    QVERIFY2(contains(s, "usage: shedder-cli search MODEL"), s.c_str());
    const std::vector<std::string> listed = listed_options(s);
    for (const char* o :
         {"--granularity", "--steps", "--metric", "--calib-text", "--calib-tokens", "--windows", "--seq-len", "--seed",
          "--out", "--resume", "--bench-repeats", "--dist-timeout", "--threads", "--device", "--dtype", "--json"})
      QVERIFY2(std::find(listed.begin(), listed.end(), o) != listed.end(),
               (std::string("search --help lacks ") + o).c_str());
    QVERIFY(contains(option_line(s, "--granularity"), "(default: block)"));
    QVERIFY(contains(option_line(s, "--steps"), "--steps N"));
    QVERIFY(contains(option_line(s, "--steps"), "(default: 1)"));
    QVERIFY(contains(option_line(s, "--seed"), "(default: 42)"));
    QVERIFY(contains(option_line(s, "--calib-text"), "FILE..."));
    const std::string windows = option_line(s, "--windows");
    QVERIFY2(contains(windows, "32") && contains(windows, "all") && contains(windows, "--calib-tokens"),
             windows.c_str());
    // eval: its default window count, and an option without a default says none.
    const std::string e = r[3 + 3 * 2].out;
    QVERIFY2(contains(option_line(e, "--seq-len"), "(default: 512)"), e.c_str());
    QVERIFY2(contains(option_line(e, "--max-windows"), "(default: 0)"), e.c_str());
    // Options of one command are not offered by another.
    QVERIFY(option_line(e, "--granularity").empty());

    // Asking for help on something that is no command is a usage error.
    const CliResult bad = run({"help", "frobnicate"});
    QVERIFY2(check_failure(bad, {"frobnicate", "unknown command"}, 2).empty(), bad.describe().c_str());
  }

  // The man page: roff for every command and option, accepted by groff without warnings.
  void man_page() {
    const CliResult r = run({"help", "--man"});
    QVERIFY2(r.ok() && r.err.empty(), r.describe().c_str());
    QVERIFY2(contains(r.out, "\n.TH SHEDDER\\-CLI 1 "), r.out.substr(0, 300).c_str());
    for (const char* sec : {".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH COMMANDS", ".SH EXIT STATUS"})
      QVERIFY2(contains(r.out, sec), sec);
    auto roff = [](std::string s) {
      std::string o;
      for (char ch : s) o += ch == '-' ? std::string("\\-") : std::string(1, ch);
      return o;
    };
    for (const auto& c : kCommands) QVERIFY2(contains(r.out, ".B shedder\\-cli " + roff(c)), c.c_str());
    QVERIFY(contains(r.out, roff("--calib-tokens")));
    QVERIFY(contains(r.out, roff("--mlp-tail-groups")));
    if (QStandardPaths::findExecutable(QStringLiteral("groff")).isEmpty()) QSKIP("groff is not installed");
    const std::string file = path("shedder-cli.1");
    test::write_file(file, r.out);
    std::string why;
    run_bash("groff -man -ww -z '" + file + "'", &why);
    QVERIFY2(why.empty(), why.c_str());
  }

  // docs/cli.md is the binary's `help --markdown`, byte for byte.
  void markdown_reference_is_up_to_date() {
    const CliResult r = run({"help", "--markdown"});
    QVERIFY2(r.ok() && r.err.empty(), r.describe().c_str());
    for (const auto& c : kCommands) QVERIFY2(contains(r.out, "\n## " + c + "\n"), c.c_str());
    QVERIFY(contains(r.out, "`--calib-tokens FILE.safetensors[:TENSOR]`"));
    const char* src = std::getenv("SHEDDER_SOURCE_DIR");
    if (!src) QSKIP("SHEDDER_SOURCE_DIR is not set (run the test through ctest)");
    const std::string doc = std::string(src) + "/docs/cli.md";
    QVERIFY2(fs::exists(doc), (doc + " is missing").c_str());
    QVERIFY2(test::read_file(doc) == r.out,
             (doc + " is out of date with shedder-cli's option tables; regenerate it with `cmake --build build "
                    "--target cli-reference` (or `shedder-cli help --markdown > docs/cli.md`)")
                 .c_str());
  }

  // The bash completion: command names, each command's options, choices, directories for MODEL/DIR values and
  // files for FILE values.
  void bash_completion() {
    const CliResult r = run({"completion", "bash"});
    QVERIFY2(r.ok() && r.err.empty(), r.describe().c_str());
    completion_ = path("shedder-cli.bash");
    test::write_file(completion_, r.out);
    std::string why;
    run_bash("bash -n '" + completion_ + "'", &why);
    QVERIFY2(why.empty(), why.c_str());
    const CliResult bad = run({"completion", "zsh"});
    QVERIFY2(check_failure(bad, {"completion", "zsh", "bash"}).empty(), bad.describe().c_str());

    fs::create_directories(path("cdir/sub"));
    test::write_file(path("cfile.txt"), "x");
    using V = std::vector<std::string>;
    QCOMPARE(complete({"shedder-cli", "sea"}), V({"search"}));
    QCOMPARE(complete({"shedder-cli", "e"}), V({"eval", "export"}));
    QCOMPARE(complete({"shedder-cli", "search", "--calib-t"}), V({"--calib-text", "--calib-tokens"}));
    QCOMPARE(complete({"shedder-cli", "search", "m", "--granularity", ""}),
             V({"attn", "block", "channel", "head", "mixer-channel", "mlp", "shared", "ssm", "ssm-head", "state"}));
    QCOMPARE(complete({"shedder-cli", "eval", "m", "--thr"}), V({"--threads"}));
    QCOMPARE(complete({"shedder-cli", "eval", "m", "--gran"}), V());  // not an eval option
    // The old `hybrid` command is gone; its name gets a hint, not a completion.
    QCOMPARE(complete({"shedder-cli", "hyb"}), V());
    QCOMPARE(complete({"shedder-cli", "help", "tr"}), V({"train-tokenizer"}));
    // MODEL and DIR values: directories only; FILE values: files and directories (to walk into).
    QCOMPARE(complete({"shedder-cli", "eval", path("c")}), V({path("cdir")}));
    QCOMPARE(complete({"shedder-cli", "search", "m", "--out", path("c")}), V({path("cdir")}));
    QCOMPARE(complete({"shedder-cli", "eval", "m", "--tokens", path("c")}), V({path("cdir"), path("cfile.txt")}));
    // Several-value options keep completing files after their first value, until an option.
    QCOMPARE(complete({"shedder-cli", "eval", "m", "--text", "a.txt", path("cf")}), V({path("cfile.txt")}));
    QCOMPARE(complete({"shedder-cli", "eval", "m", "--text", "a.txt", "--seq-l"}), V({"--seq-len"}));
    // A one-value option's value is not completed as an option even when it starts with "-".
    QCOMPARE(complete({"shedder-cli", "tokenize", "m", "--text", "-", "--js"}), V({"--json"}));
  }

  // One-value options take the next word whatever it is; several-value options stop at an option of the command.
  void values_starting_with_a_dash() {
    const QString m = q(m1_);
    const auto r = run_many({{"tokenize", m, "--text", "-- Larry Wall", "--json"},
                             {"tokenize", m, "--text=-- Larry Wall", "--json"},
                             {"tokenize", m, "--text", "--json"},
                             {"tokenize", m, "--json", "--text"},
                             {"eval", m, "--tokens", q(tokens64_), "--max-windows", "-1"},
                             {"eval", m, "--tokens", q(tokens64_), "--remove", "block:0", "ssm:1", "--max-windows", "3",
                              "--json", "--threads", "1"}});
    const json a = one_json(r[0]), b = one_json(r[1]), c = one_json(r[2]);
    QVERIFY2(a.is_object() && a["ids"].size() == 13, r[0].describe().c_str());  // byte-level: one id per byte
    QCOMPARE(a, b);
    QVERIFY2(c.is_discarded(), r[2].describe().c_str());
    // "--json" was the text: plain output (6 ids), not JSON.
    QVERIFY2(r[2].ok() && count_lines(r[2].out) == 1 && r[2].out.find('{') == std::string::npos &&
                 std::count(r[2].out.begin(), r[2].out.end(), ' ') == 5,
             r[2].describe().c_str());
    std::string bad = check_failure(r[3], {"--text", "needs a value"});
    QVERIFY2(bad.empty(), bad.c_str());
    bad = check_failure(r[4], {"--max-windows", ">= 0"});
    QVERIFY2(bad.empty(), bad.c_str());
    const json e = one_json(r[5]);
    QVERIFY2(e.is_object() && e["removed"].size() == 2 && e["windows"] == 3, r[5].describe().c_str());

    // A several-value option takes a file whose name starts with "-" (run in the folder that holds it).
    test::write_file(path("-doc.txt"), std::string(200, 'a'));
    QProcess p;
    p.setWorkingDirectory(q(root_));
    p.start(q(cli_path()), {"eval", m, "--text", "-doc.txt", "--seq-len", "10", "--json", "--threads", "1"});
    QVERIFY(p.waitForFinished(60000));
    const std::string out = p.readAllStandardOutput().toStdString();
    QVERIFY2(p.exitCode() == 0, (out + p.readAllStandardError().toStdString()).c_str());
    const json j = json::parse(out, nullptr, false);
    QVERIFY2(j.is_object() && j["seq_len"] == 10 && j["windows"] == 20, out.c_str());
  }

  // Pre-tokenized windows: eval and search use all windows of the file unless told otherwise; text input keeps its
  // defaults (search: 32 windows drawn with the seed).
  void token_files_default_to_all_windows() {
    const QString m = q(m1_), t = q(tokens64_);
    std::string text;
    for (int i = 0; i < 100; ++i) text += "the quick brown fox jumps over the lazy dog. ";
    test::write_file(path("long.txt"), text);  // 4500 bytes: 562 windows of 8
    const QStringList common = {"--json", "--threads", "1"};
    const auto r = run_many(
        {QStringList{"eval", m, "--tokens", t} + common,
         QStringList{"search", m, "--calib-tokens", t, "--steps", "1"} + common,
         QStringList{"search", m, "--calib-tokens", t, "--steps", "1", "--windows", "10"} + common,
         QStringList{"search", m, "--calib-text", q(path("long.txt")), "--seq-len", "8", "--steps", "1"} + common});
    const json e = one_json(r[0]);
    QVERIFY2(e.is_object() && e["windows"] == 64, r[0].describe().c_str());
    const int expect[] = {0, 64, 10, 32};
    for (int i = 1; i < 4; ++i) {
      const json s = one_json(r[i]);
      QVERIFY2(contains(r[i].err, std::to_string(expect[i]) + " windows x 8 tokens"), r[i].describe().c_str());
      QVERIFY2(s.is_object() && s["windows"] == expect[i] && s["seq_len"] == 8, r[i].describe().c_str());
    }
  }
};

QTEST_GUILESS_MAIN(TestCliOptions)
#include "test_cli_options.moc"

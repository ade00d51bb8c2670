// The candidate-parallel distributed search through the real shedder-cli on this machine (CPU processes):
// `launch --nproc 3` over Gloo gives exactly the single-process search (removals, every candidate's perplexity,
// outputs written once, one JSON line); explicit --world-size/--rank/--master with the store backend does too;
// a distributed --resume continues a single-process journal to the same result; SIGINT to the launcher stops
// every rank with exit 130 and a resumable journal; bad distributed options fail with one clear line.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QtCore/QProcess>
#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "support/cli_runner.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace shedder::test;
using json = nlohmann::json;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

json one_json(const CliResult& r) {
  if (!r.ok() || count_lines(r.out) != 1) return json();
  return json::parse(r.out, nullptr, false);
}

// Empty when both results took the same steps with identical perplexities for every candidate.
std::string same_search(const json& a, const json& b) {
  if (!a.is_object() || !b.is_object()) return "missing result";
  if (a["base_ppl"] != b["base_ppl"]) return "base perplexity differs";
  if (a["steps"].size() != b["steps"].size()) return "different number of steps";
  for (size_t i = 0; i < a["steps"].size(); ++i) {
    const json &s = a["steps"][i], &t = b["steps"][i];
    if (s["removed"] != t["removed"] || s["ppl"] != t["ppl"]) return "step " + std::to_string(i) + " differs";
    if (s["candidates"] != t["candidates"]) return "candidates of step " + std::to_string(i) + " differ";
  }
  return "";
}

}  // namespace

class TestDistributed : public QObject {
  Q_OBJECT

  std::string tmp_, model_, calib_;
  json single_;  // the 3-step single-process search

  QStringList search_args(const std::string& out, int steps = 3) const {
    QStringList a = {"search", q(model_), "--calib-tokens", q(calib_), "--seq-len", "256", "--windows", "8",
                     "--batch", "4", "--steps", QString::number(steps), "--threads", "1", "--json"};
    if (!out.empty()) a << "--out" << q(out);
    return a;
  }

 private Q_SLOTS:
  void initTestCase() {
    if (cli_path().empty()) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI is not set (run through CTest)"));
    model_ = test_data_dir() + "/trained_tiny/mamba1";
    calib_ = test_data_dir() + "/trained_tiny/calib.safetensors";
    tmp_ = make_temp_dir("distributed");
    const CliResult r = run(search_args(tmp_ + "/single"));
    QVERIFY2(r.ok(), r.describe().c_str());
    single_ = one_json(r);
    QVERIFY(single_.is_object() && single_["steps"].size() == 3);
  }

  void launch_gloo_matches_single_process() {
    const CliResult r = run(QStringList{"launch", "--nproc", "3", "--"} + search_args(tmp_ + "/gloo"));
    QVERIFY2(r.ok(), r.describe().c_str());
    QVERIFY2(contains(r.err, "3 ranks (gloo backend"), r.err.c_str());
    const json j = one_json(r);  // rank 0 alone prints the result
    const std::string d = same_search(single_, j);
    QVERIFY2(d.empty(), d.c_str());
    // Every rank scored about a third of the candidates.
    QVERIFY(j["evaluations"].get<int>() < single_["evaluations"].get<int>());
    const json f = json::parse(read_file(tmp_ + "/gloo/search_result.json"));
    QVERIFY(same_search(single_, f).empty());
    QVERIFY(fs::exists(tmp_ + "/gloo/journal.jsonl") && fs::exists(tmp_ + "/gloo/pruning_config.json"));
  }

  // Early abandonment across ranks: every rank abandons against its own best, which is never better than the
  // global best, so the picks and every complete score are those of the exhaustive single-process search, and every
  // bound is below the candidate's exhaustive perplexity.
  void early_abandonment_keeps_the_single_process_picks() {
    QStringList one = search_args("");
    one[one.indexOf("--batch") + 1] = "1";
    const CliResult e = run(QStringList(one) << "--exhaustive");
    QVERIFY2(e.ok(), e.describe().c_str());
    const json full = one_json(e);
    const CliResult r = run(QStringList{"launch", "--nproc", "2", "--"} + one);
    QVERIFY2(r.ok(), r.describe().c_str());
    const json j = one_json(r);
    QVERIFY(j.is_object() && full.is_object());
    QCOMPARE(j["steps"].size(), full["steps"].size());
    int bounds = 0;
    for (size_t i = 0; i < j["steps"].size(); ++i) {
      const json &s = j["steps"][i], &t = full["steps"][i];
      QCOMPARE(s["removed"], t["removed"]);
      QCOMPARE(s["ppl"], t["ppl"]);
      QCOMPARE(s["candidates"].size(), t["candidates"].size());
      for (size_t k = 0; k < s["candidates"].size(); ++k) {
        const json &c = s["candidates"][k], &d = t["candidates"][k];
        QCOMPARE(c["id"], d["id"]);
        if (c.contains("ppl")) {
          QCOMPARE(c["ppl"], d["ppl"]);
        } else {
          ++bounds;
          QVERIFY(c["ppl_at_least"].get<double>() <= d["ppl"].get<double>());
        }
      }
    }
    QVERIFY2(bounds > 0, "no rank stopped a candidate early: nothing about bounds was checked");
  }

  void explicit_options_with_the_store_backend() {
    const int port = free_port();
    QVERIFY(port > 0);
    std::vector<QProcess*> procs;
    for (int r = 0; r < 2; ++r) {
      auto* p = new QProcess(this);
      p->start(q(cli_path()), search_args(r == 0 ? tmp_ + "/store" : "") << "--world-size" << "2" << "--rank"
                                                                         << QString::number(r) << "--master"
                                                                         << QString("127.0.0.1:%1").arg(port)
                                                                         << "--dist-backend" << "store");
      procs.push_back(p);
    }
    std::vector<std::string> outs;
    for (QProcess* p : procs) {
      QVERIFY(p->waitForFinished(300000));
      QCOMPARE(p->exitCode(), 0);
      outs.push_back(p->readAllStandardOutput().toStdString());
    }
    QVERIFY2(outs[1].empty(), "rank 1 must print nothing");
    const std::string d = same_search(single_, json::parse(outs[0]));
    QVERIFY2(d.empty(), d.c_str());
    QVERIFY(!fs::exists(tmp_ + "/store/journal.jsonl.tmp"));
  }

  void distributed_resume_continues_a_journal() {
    const std::string dir = tmp_ + "/resume";
    QVERIFY(run(search_args(dir, 1)).ok());
    const CliResult r = run(QStringList{"launch", "--nproc", "2", "--"} + search_args(dir) << "--resume");
    QVERIFY2(r.ok(), r.describe().c_str());
    const json j = one_json(r);
    QCOMPARE(j["resumed_steps"].get<int>(), 1);
    const std::string d = same_search(single_, j);
    QVERIFY2(d.empty(), d.c_str());
  }

  void interrupt_stops_every_rank() {
    const std::string dir = tmp_ + "/interrupted";
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    p.setReadChannel(QProcess::StandardError);
    p.start(q(cli_path()), QStringList{"launch", "--nproc", "2", "--"} + search_args(dir, 7));
    QVERIFY(p.waitForStarted());
    std::string err;
    while (!contains(err, "step 0:") && p.state() == QProcess::Running) {
      p.waitForReadyRead(1000);
      err += p.readAllStandardError().toStdString();
    }
    QVERIFY2(contains(err, "step 0:"), err.c_str());
    ::kill(static_cast<pid_t>(p.processId()), SIGINT);
    QVERIFY(p.waitForFinished(120000));
    err += p.readAllStandardError().toStdString();
    QCOMPARE(p.exitCode(), 130);
    QVERIFY2(contains(err, "search cancelled"), err.c_str());
    // The journal holds the finished steps and a resume completes the search.
    const CliResult r = run(search_args(dir, 3) << "--resume");
    QVERIFY2(r.ok(), r.describe().c_str());
    QVERIFY(one_json(r)["resumed_steps"].get<int>() >= 1);
  }

  void bad_distributed_options() {
    std::string m = check_failure(run(search_args("") << "--world-size" << "2" << "--rank" << "2"), {"rank 2", "0..1"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(run(search_args("") << "--world-size" << "2" << "--rank" << "0" << "--master" << "nohostport"),
                      {"--master", "ADDR:PORT"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(run(search_args("") << "--world-size" << "2" << "--rank" << "1" << "--master"
                                          << QString("127.0.0.1:%1").arg(free_port()) << "--dist-backend" << "nccl"),
                      {"nccl", "not available"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(run({"launch", "search", q(model_)}), {"launch", "--nproc"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(run({"launch", "--nproc", "2"}), {"launch", "no command"});
    QVERIFY2(m.empty(), m.c_str());
  }
};

QTEST_GUILESS_MAIN(TestDistributed)
#include "test_distributed.moc"

// Zero-shot accuracy scoring: the harness's tokenization rules (whitespace moving to the continuation,
// enc(context + continuation) after enc(context), the prefix token for an empty context), log-likelihoods
// and greedy flags against a hand computation from the full forward pass, acc / acc_norm (characters, not
// bytes) / LAMBADA perplexity / winogrande partial scoring, shared-context batching against separate full
// sequences, left truncation, and the task file's error messages.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cmath>
#include <string>
#include <vector>

#include "eval/accuracy.h"
#include "eval/harness_text.h"
#include "eval/task_format.h"
#include "model/mamba_model.h"
#include "model/removal.h"
#include "support/expect_error.h"
#include "support/test_support.h"
#include "tokenizer/bpe_tokenizer.h"

using namespace shedder;
using test::expect_error;

namespace {

std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }

std::vector<int32_t> bytes_ids(const std::string& s) {  // the trained models' tokenizer: id = byte + 1
  std::vector<int32_t> v;
  for (unsigned char c : s) v.push_back(static_cast<int32_t>(c) + 1);
  return v;
}

// Sum of log p(continuation | context) from one full forward pass over context + continuation[:-1], in
// float64, and whether every continuation token is its row's argmax.
double hand_ll(const Model& m, const EncodedPair& p, const RemovalSet& mask, bool* greedy,
               int64_t max_length = 1 << 30) {
  std::vector<int32_t> all(p.context);
  all.insert(all.end(), p.continuation.begin(), p.continuation.end());
  const size_t keep = std::min<size_t>(all.size(), static_cast<size_t>(max_length + 1));
  std::vector<int64_t> inp(all.end() - static_cast<ptrdiff_t>(keep), all.end() - 1);
  at::Tensor ids = at::empty({1, static_cast<int64_t>(inp.size())}, at::kLong);
  std::copy(inp.begin(), inp.end(), ids.data_ptr<int64_t>());
  at::Tensor logits = m.forward(ids, mask)[0].to(at::kDouble);
  at::Tensor logp = at::log_softmax(logits, -1);
  const int64_t k = static_cast<int64_t>(p.continuation.size()), L = static_cast<int64_t>(inp.size());
  double ll = 0;
  bool g = true;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t pos = L - k + j, tok = p.continuation[static_cast<size_t>(j)];
    ll += logp[pos][tok].item<double>();
    g = g && logits[pos].argmax().item<int64_t>() == tok;
  }
  if (greedy) *greedy = g;
  return ll;
}

// Log-likelihoods: sums of `tokens` log-probabilities, each a float32 logit minus a logsumexp over the vocabulary
// (a few nats). Computed another way (batched, from a shared context's state, or the float64 hand computation
// above) each term differs by float32 rounding of those nats; bound 1e-5 per token plus 1e-5 of the sum, so the
// tolerance follows the magnitude of what is summed (measured at most 5.1e-7 with every CPU level).
double ll_error(double got, double want, int64_t tokens) {
  return std::abs(got - want) / (static_cast<double>(tokens) + std::abs(want));
}
constexpr double kLoglikRtol = 1e-5;

int64_t first_argmax(const std::vector<double>& v) {
  return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::string write_tmp(const std::string& name, const std::string& text) {
  const std::string p = test::make_temp_dir("acc") + "/" + name;
  test::write_file(p, text);
  return p;
}

Task mc_task() {
  Task t;
  t.name = "mc";
  t.path = "mc.jsonl";
  t.kind = TaskKind::MultipleChoice;
  const std::vector<std::pair<std::string, std::vector<std::string>>> qs = {
      {"The cat sat on the", {"mat.", "caf\xc3\xa9 au lait", "refrigerator of doom", "\xc3\xa9t\xc3\xa9"}},
      {"Q: What do you call a fish with no eyes?\nA:", {"A fsh.", "Fish.", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "Nothing at all"}},
      {"You will be married within a year, ", {"and divorced within two.", "maybe.", "\xc3\xa0 la mode", "so"}},
      {"Never put off till tomorrow what", {"you can do today.", "the day after", "\xc3\xa8\xc3\xa8", "is."}},
      {"", {"Hello", "World"}},
      {"He ordered a", {"sofa", "caf\xc3\xa9 au lait"}},  // acc_norm by characters and by bytes disagree here
      {"A penny saved is", {" a penny earned.", "nothing", "\xc3\xbc\xc3\xbc\xc3\xbc", "two"}},
  };
  int64_t line = 1;
  for (const auto& [ctx, ch] : qs) {
    TaskItem it;
    it.line = line++;
    it.context = ctx;
    it.choices = ch;
    it.gold = (line % 2 == 0) ? 0 : 1;
    t.items.push_back(it);
  }
  return t;
}

}  // namespace

class TestAccuracy : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  // One thread: the models are tiny, and OpenMP spin-waits make many small ops slow on a loaded machine.
  void initTestCase() { at::set_num_threads(1); }

  void python_string_rules() {
    QCOMPARE(harness::rstrip("ab \t\n"), std::string("ab"));
    QCOMPARE(harness::rstrip("ab\xc2\xa0"), std::string("ab"));          // NBSP is str.isspace()
    QCOMPARE(harness::rstrip("ab\xe2\x80\x8b"), std::string("ab\xe2\x80\x8b"));  // zero-width space is not
    QCOMPARE(harness::strip("\x1f x \x1c"), std::string("x"));           // separators are, for Python
    QCOMPARE(harness::char_length("caf\xc3\xa9"), int64_t(4));
    QCOMPARE(harness::capitalize("hELLO wORLD"), std::string("Hello world"));
    QCOMPARE(harness::split_space(" a  b"), (std::vector<std::string>{"", "a", "", "b"}));
    QCOMPARE(harness::hellaswag_preprocess("  How to [title] cook [step] pasta  well [x "),
             std::string("How to. cook pasta well [x"));
    QCOMPARE(harness::replace_all("    ", "  ", " "), std::string("  "));
  }

  // Trailing whitespace of the context moves to the continuation (byte-level tokenizer: id = byte + 1).
  void whitespace_moves_to_the_continuation() {
    auto m = MambaModel::load(trained("mamba1"));
    const BpeTokenizer& tok = m->tokenizer();
    EncodedPair p = encode_pair(tok, "ab  ", "c", 0);
    QCOMPARE(p.context, bytes_ids("ab"));
    QCOMPARE(p.continuation, bytes_ids("  c"));
    p = encode_pair(tok, "ab\xc2\xa0", " c", 0);
    QCOMPARE(p.context, bytes_ids("ab"));
    QCOMPARE(p.continuation, bytes_ids("\xc2\xa0 c"));
    // An empty context is the end-of-text token; a continuation starting with it gives up that token.
    p = encode_pair(tok, "", "xy", 0);
    QCOMPARE(p.context, std::vector<int32_t>{0});
    QCOMPARE(p.continuation, bytes_ids("xy"));
    p = encode_pair(tok, "", "<|endoftext|>xy", 0);
    QCOMPARE(p.context, std::vector<int32_t>{0});
    QCOMPARE(p.continuation, bytes_ids("xy"));
    // A context of only whitespace leaves no context tokens: refused (the harness asserts on it).
    Task t;
    t.path = "ws.jsonl";
    t.kind = TaskKind::Target;
    TaskItem it;
    it.line = 2;
    it.context = " \n ";
    it.target = " word";
    t.items.push_back(it);
    expect_error([&] { encode_task(t, tok, 0); }, {"ws.jsonl:2", "only whitespace"});
  }

  // With real BPE merges the continuation is enc(context + continuation) after enc(context): here that
  // differs from encoding the continuation on its own.
  void continuation_tokens_come_from_the_joint_encoding() {
    SHEDDER_REQUIRE_FIXTURES();
    const BpeTokenizer tok = BpeTokenizer::from_file(test::fixtures_dir() + "/tokenizer/tokenizer.json");
    const EncodedPair p = encode_pair(tok, "The cat sat on the ", "mat", 0);
    QCOMPARE(p.context, tok.encode("The cat sat on the"));
    const auto whole = tok.encode("The cat sat on the mat");
    QCOMPARE(p.continuation, std::vector<int32_t>(whole.begin() + static_cast<ptrdiff_t>(p.context.size()), whole.end()));
    QCOMPARE(p.continuation, tok.encode(" mat"));
    QVERIFY(p.continuation != tok.encode("mat"));
    QVERIFY(tok.encode("The cat sat on the ").size() + tok.encode("mat").size() != p.context.size() + p.continuation.size() ||
            tok.encode("The cat sat on the ") != p.context);
  }

  // Log-likelihoods and greedy flags equal a hand computation, with the context shared or not, with and
  // without removals, on both architectures.
  void scores_match_hand_computation() {
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(name));
      const EncodedTask et = encode_task(mc_task(), m->tokenizer(), 0);
      RemovalSet r;
      r.add(Granularity::Block, 3);
      r.add(Granularity::Ssm, 5);
      for (const RemovalSet& mask : {RemovalSet{}, r}) {
        for (bool share : {true, false}) {
          AccuracyOptions o;
          o.share_context = share;
          o.batch = 3;
          for (const auto& item : et.items) {
            const auto got = score_pairs(*m, item.pairs, *m->plan(mask), o);
            for (size_t k = 0; k < item.pairs.size(); ++k) {
              bool g = false;
              const double want = hand_ll(*m, item.pairs[k], mask, &g);
              QVERIFY2(ll_error(got[k].loglik, want, got[k].tokens) <= kLoglikRtol,
                       (std::string(name) + " " + item.where + ": " + std::to_string(got[k].loglik) + " vs " +
                        std::to_string(want)).c_str());
              QCOMPARE(got[k].greedy, g);
              QCOMPARE(got[k].tokens, static_cast<int64_t>(item.pairs[k].continuation.size()));
            }
          }
        }
      }
    }
  }

  // acc = argmax of the sums; acc_norm = argmax of sum / len(choice) in characters (not bytes).
  void acc_and_acc_norm() {
    auto m = MambaModel::load(trained("mamba2"));
    const Task t = mc_task();
    const EncodedTask et = encode_task(t, m->tokenizer(), 0);
    AccuracyOptions o;
    o.keep_items = true;
    const TaskResult r = evaluate_task(*m, et, {}, o);
    QCOMPARE(r.items, int64_t(t.items.size()));
    double acc = 0, acc_norm = 0, gold = 0;
    bool chars_matter = false;
    for (size_t i = 0; i < t.items.size(); ++i) {
      std::vector<double> ll, by_chars, by_bytes;
      for (size_t k = 0; k < t.items[i].choices.size(); ++k) {
        ll.push_back(hand_ll(*m, et.items[i].pairs[k], {}, nullptr));
        by_chars.push_back(ll.back() / static_cast<double>(harness::char_length(t.items[i].choices[k])));
        by_bytes.push_back(ll.back() / static_cast<double>(t.items[i].choices[k].size()));
      }
      QCOMPARE(r.details[i].pred, first_argmax(ll));
      QCOMPARE(r.details[i].pred_norm, first_argmax(by_chars));
      chars_matter = chars_matter || first_argmax(by_chars) != first_argmax(by_bytes);
      acc += first_argmax(ll) == t.items[i].gold;
      acc_norm += first_argmax(by_chars) == t.items[i].gold;
      gold += ll[static_cast<size_t>(t.items[i].gold)];
    }
    QVERIFY2(chars_matter, "no item tells character from byte normalisation apart; change the test choices");
    const double n = static_cast<double>(t.items.size());
    QCOMPARE(r.acc, acc / n);
    QVERIFY(r.acc_norm.has_value());
    QCOMPARE(*r.acc_norm, acc_norm / n);
    QVERIFY(ll_error(r.gold_loglik, gold / n, 1) <= kLoglikRtol);
    QVERIFY(!r.perplexity.has_value());
    QVERIFY(r.to_json().contains("acc_norm") && !r.to_json().contains("perplexity"));
  }

  // LAMBADA: acc = greedy reproduces every target token; perplexity = exp(-mean summed log-likelihood).
  void target_task_acc_and_perplexity() {
    auto m = MambaModel::load(trained("mamba2"));
    Task t;
    t.name = "cloze";
    t.kind = TaskKind::Target;
    const std::vector<std::pair<std::string, std::string>> items = {
        {"Q: How many", " "}, {"Q: What do you call a fish with no eyes?\nA", ":"}, {"Q: Why", " d"},
        {"It is a good day to", " die"}, {"You will be married within a year", "."}, {"The fortune cookie", " said"},
        {"Hello, world!", " \xc3\xa9t\xc3\xa9"}, {"in the", " s"}, {"Go to the", " to"}};
    for (const auto& [c, g] : items) {
      TaskItem it;
      it.context = c;
      it.target = g;
      t.items.push_back(it);
    }
    const EncodedTask et = encode_task(t, m->tokenizer(), 0);
    AccuracyOptions o;
    o.batch = 4;  // several target items per forward pass, right-padded
    const TaskResult r = evaluate_task(*m, et, {}, o);
    double ll = 0, acc = 0;
    for (const auto& it : et.items) {
      bool g = false;
      ll += hand_ll(*m, it.pairs[0], {}, &g);
      acc += g;
    }
    const double n = static_cast<double>(items.size());
    QCOMPARE(r.acc, acc / n);
    QVERIFY(acc > 0 && acc < n);  // both outcomes occur, so acc is really tested
    QVERIFY(r.perplexity.has_value());
    QVERIFY(std::abs(*r.perplexity - std::exp(-ll / n)) < 1e-3 * *r.perplexity);
    QVERIFY(!r.acc_norm.has_value());
  }

  // Winogrande: each option substituted before the blank is a context; the text after the blank is scored.
  void partial_scoring() {
    auto m = MambaModel::load(trained("mamba1"));
    Task t;
    t.name = "wino";
    t.kind = TaskKind::Partial;
    TaskItem it;
    it.choices = {"The trophy doesn't fit into the suitcase because the trophy",
                  "The trophy doesn't fit into the suitcase because the suitcase"};
    it.target = "is too small.";
    it.gold = 1;
    t.items.push_back(it);
    const EncodedTask et = encode_task(t, m->tokenizer(), 0);
    QCOMPARE(et.items[0].pairs[0].continuation, bytes_ids(" is too small."));
    QCOMPARE(et.items[0].pairs[1].context, bytes_ids(it.choices[1]));
    AccuracyOptions o;
    o.keep_items = true;
    const TaskResult r = evaluate_task(*m, et, {}, o);
    const double l0 = hand_ll(*m, et.items[0].pairs[0], {}, nullptr), l1 = hand_ll(*m, et.items[0].pairs[1], {}, nullptr);
    QVERIFY(ll_error(r.details[0].choices[0].loglik, l0, r.details[0].choices[0].tokens) <= kLoglikRtol);
    QVERIFY(ll_error(r.details[0].choices[1].loglik, l1, r.details[0].choices[1].tokens) <= kLoglikRtol);
    QCOMPARE(r.acc, l1 > l0 ? 1.0 : 0.0);
    QVERIFY(!r.acc_norm.has_value() && !r.perplexity.has_value());
  }

  // Inputs longer than max_length + 1 are cut from the left (the shared path is then not used).
  void left_truncation() {
    auto m = MambaModel::load(trained("mamba2"));
    const EncodedPair p = encode_pair(m->tokenizer(), "A rather long context that will not fit", " at all", 0);
    AccuracyOptions o;
    o.max_length = 12;
    const auto got = score_pairs(*m, {p, p}, *m->plan({}), o);
    const double want = hand_ll(*m, p, {}, nullptr, 12);
    QVERIFY(ll_error(got[0].loglik, want, got[0].tokens) <= kLoglikRtol);
    QVERIFY(ll_error(hand_ll(*m, p, {}, nullptr), want, got[0].tokens) > 1000 * kLoglikRtol);  // the cut matters
    o.max_length = 3;
    expect_error([&] { score_pairs(*m, {p}, *m->plan({}), o); }, {"longer than --max-length"});
  }

  void task_files_round_trip() {
    const Task t = mc_task();
    const std::string dir = test::make_temp_dir("acc-rt");
    write_task(dir + "/mc.jsonl", t.kind, t.items, false);
    const Task back = read_task(dir + "/mc.jsonl");
    QCOMPARE(back.name, std::string("mc"));
    QCOMPARE(back.items.size(), t.items.size());
    for (size_t i = 0; i < t.items.size(); ++i) {
      QCOMPARE(back.items[i].context, t.items[i].context);
      QCOMPARE(back.items[i].choices, t.items[i].choices);
      QCOMPARE(back.items[i].gold, t.items[i].gold);
      QCOMPARE(back.items[i].line, int64_t(i + 1));
    }
    expect_error([&] { write_task(dir + "/mc.jsonl", t.kind, t.items, false); }, {"mc.jsonl", "exists"});
    const Task w = read_task(write_tmp("w.jsonl", "\n{\"contexts\": [\"a\", \"b\"], \"continuation\": \"c\", \"gold\": 1, "
                                                 "\"target_delimiter\": \"\", \"id\": 7}\n"));
    QCOMPARE(w.kind, TaskKind::Partial);
    QCOMPARE(w.items[0].line, int64_t(2));
    QCOMPARE(w.items[0].delimiter, std::string());
    QCOMPARE(w.items[0].id, std::string("7"));
  }

  void bad_task_files_name_file_and_line() {
    const std::string ok = "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n";
    struct Case {
      std::string text;
      std::vector<std::string> phrases;
    };
    const std::vector<Case> cases = {
        {ok + "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0\n", {":2:", "malformed JSON"}},
        {ok + ok + "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0, \"answer\": 1}\n", {":3:", "unknown field \"answer\""}},
        {"{\"context\": \"a\", \"choices\": [], \"gold\": 0}\n", {":1:", "\"choices\"", "at least 2"}},
        {"{\"context\": \"a\", \"choices\": [\"b\", \"\"], \"gold\": 0}\n", {":1:", "empty"}},
        {"{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 2}\n", {":1:", "gold 2 is out of range", "2 choices"}},
        {"{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": -1}\n", {":1:", "out of range"}},
        {"{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": \"0\"}\n", {":1:", "\"gold\" must be an integer"}},
        {"{\"context\": \"a\", \"choices\": [\"b\", \"c\"]}\n", {":1:", "missing field \"gold\""}},
        {"{\"choices\": [\"b\", \"c\"], \"gold\": 0}\n", {":1:", "missing field \"context\""}},
        {"{\"context\": 3, \"target\": \"x\"}\n", {":1:", "\"context\" must be a string"}},
        {ok + "{\"context\": \"a\", \"target\": \" b\"}\n", {":2:", "target item in a file of multiple_choice items"}},
        {"[1, 2]\n", {":1:", "JSON object"}},
        {"{\"text\": \"a\"}\n", {":1:", "not a task item"}},
        {"\n  \n", {"no task items"}},
    };
    for (const auto& c : cases) {
      const std::string p = write_tmp("bad.jsonl", c.text);
      std::vector<std::string> phrases = c.phrases;
      phrases.push_back(p);
      expect_error([&] { read_task(p); }, phrases);
    }
    expect_error([] { read_task("/nonexistent/task.jsonl"); }, {"/nonexistent/task.jsonl", "cannot open"});
  }

  // A continuation that BPE merges into the context's last token leaves nothing to score.
  void continuation_absorbed_by_merges() {
    SHEDDER_REQUIRE_FIXTURES();
    const BpeTokenizer tok = BpeTokenizer::from_file(test::fixtures_dir() + "/tokenizer/tokenizer.json");
    QVERIFY(encode_pair(tok, "th", "e", 0).continuation.empty());  // "the" is one token
    Task t;
    t.path = "cloze.jsonl";
    t.kind = TaskKind::Target;
    TaskItem it;
    it.line = 4;
    it.context = "Over th";
    it.target = "e";
    t.items.push_back(it);
    expect_error([&] { encode_task(t, tok, 0); }, {"cloze.jsonl:4", "tokenizes to nothing"});
  }
};

QTEST_APPLESS_MAIN(TestAccuracy)
#include "test_accuracy.moc"

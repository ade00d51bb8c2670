// The byte-level BPE trainer: the GPT-2 pre-tokenizer split it shares with the encoder, merges of a
// hand-worked corpus, loading and round trips of trained tokenizers, vocabulary size, special
// tokens, determinism, option errors, the train-tokenizer CLI, and training speed.
#include <QProcess>
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "support/expect_error.h"
#include "support/test_support.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/bpe_trainer.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;
using test::expect_error;

namespace {

const char* kFallbackText =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair. "
    "The quick brown fox jumps over the lazy dog; the dog doesn't mind, and the fox's 2 friends said "
    "they'll come back in 1999 or 2024. Caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
    "\xF0\x9F\x98\x80 tabs\tand\nnewlines\n\n  and   spaces.\n";

// Fortune files (plain text) up to about `max_bytes`, one document each; empty when not installed.
std::vector<std::string> fortune_documents(size_t max_bytes) {
  std::vector<std::string> docs;
  const fs::path dir = "/usr/share/games/fortunes";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return docs;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && !e.path().has_extension()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  // "fortunes" first so that small budgets still get it.
  std::stable_partition(files.begin(), files.end(), [](const fs::path& p) { return p.filename() == "fortunes"; });
  size_t total = 0;
  for (const auto& f : files) {
    if (total >= max_bytes) break;
    std::string text = test::read_file(f.string());
    if (text.size() > max_bytes - total) text.resize(max_bytes - total);
    total += text.size();
    docs.push_back(std::move(text));
  }
  return docs;
}

std::vector<std::string> merges_of(const std::string& tokenizer_json) {
  const auto j = nlohmann::json::parse(tokenizer_json);
  std::vector<std::string> out;
  for (const auto& m : j["model"]["merges"]) out.push_back(m.get<std::string>());
  return out;
}

size_t json_vocab_size(const std::string& tokenizer_json) {
  return nlohmann::json::parse(tokenizer_json)["model"]["vocab"].size();
}

std::string sp(const std::string& s) { return byte_level_symbol(' ') + s; }  // "Ġ" + s

BpeTrainOptions options(size_t vocab, int64_t min_freq = 2) {
  BpeTrainOptions o;
  o.vocab_size = vocab;
  o.min_frequency = min_freq;
  return o;
}

}  // namespace

// A tokenizer with no merges: <|endoftext|> at 0, the 256 byte symbols at 1..256, nothing else; it encodes
// every byte to its own id.
static void check_merge_less(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  QCOMPARE(j["model"]["merges"].size(), size_t(0));
  QCOMPARE(j["model"]["vocab"].size(), size_t(257));
  QCOMPARE(j["model"]["vocab"]["<|endoftext|>"].get<int>(), 0);
  for (int b = 0; b < 256; ++b)
    QCOMPARE(j["model"]["vocab"][byte_level_symbol(static_cast<uint8_t>(b))].get<int>(), b + 1);
  QCOMPARE(j["added_tokens"][0]["content"].get<std::string>(), std::string("<|endoftext|>"));
  const BpeTokenizer tok = BpeTokenizer::from_json(json, "merge-less");
  QCOMPARE(tok.encode("ab c"), (std::vector<int32_t>{'a' + 1, 'b' + 1, ' ' + 1, 'c' + 1}));
}

class TestBpeTrainer : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void pretokenizeSplitsLikeGpt2() {
    const std::string text = "Hello world's  test 123!! ok\n\n";
    const std::vector<std::string_view> got = byte_level_pretokenize(text);
    const std::vector<std::string> want = {"Hello", " world", "'s", " ", " test", " 123", "!!", " ok", "\n\n"};
    QCOMPARE(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) QCOMPARE(std::string(got[i]), want[i]);
    QVERIFY(byte_level_pretokenize("").empty());
    // The pieces tile the input, whatever it is (also invalid UTF-8).
    std::mt19937 rng(7);
    for (int round = 0; round < 50; ++round) {
      std::string s(static_cast<size_t>(rng() % 200), '\0');
      for (char& c : s) c = static_cast<char>(rng() % 256);
      std::string joined;
      for (std::string_view p : byte_level_pretokenize(s)) {
        QVERIFY(!p.empty());
        joined += p;
      }
      QCOMPARE(joined, s);
    }
  }

  void pretokenizeMatchesEncoder() {
    // Encoding piece by piece gives what encode() gives: both use the one split.
    const std::vector<std::string> docs = {kFallbackText};
    const BpeTokenizer tok = BpeTokenizer::from_json(train_byte_level_bpe(docs, options(400)), "trained");
    const std::string text = kFallbackText;
    std::vector<int32_t> pieces;
    for (std::string_view p : byte_level_pretokenize(text)) {
      const auto ids = tok.encode(p);
      pieces.insert(pieces.end(), ids.begin(), ids.end());
    }
    QCOMPARE(pieces, tok.encode(text));
  }

  void handWorkedMerges() {
    // Sennrich's example, one word per document (so no leading spaces): low x5, lower x2,
    // newest x6, widest x3. Worked by hand with ties going to the smaller (left, right) pair.
    std::vector<std::string> docs;
    for (int i = 0; i < 5; ++i) docs.push_back("low");
    for (int i = 0; i < 2; ++i) docs.push_back("lower");
    for (int i = 0; i < 6; ++i) docs.push_back("newest");
    for (int i = 0; i < 3; ++i) docs.push_back("widest");
    const std::string json = train_byte_level_bpe(docs, options(1000));
    const std::vector<std::string> want = {
        "e s",      // 9, ties with "s t" (9): "e" < "s"
        "es t",     // 9
        "l o",      // 7, ties with "o w" (7)
        "lo w",     // 7
        "e w",      // 6, ties with "n e" and "w est" (6)
        "ew est",   // 6, ties with "n ew" (6)
        "n ewest",  // 6
        "d est",    // 3, ties with "i d" and "w i"
        "i dest",   // 3
        "w idest",  // 3
        "e r",      // 2, ties with "low e" (2)
        "low er",   // 2
    };
    QCOMPARE(merges_of(json), want);
    // The corpus ran out of pairs at min_frequency 2: fewer tokens than asked, no error.
    QCOMPARE(json_vocab_size(json), size_t{257 + 12});
    const BpeTokenizer tok = BpeTokenizer::from_json(json, "hand");
    QCOMPARE(tok.vocab_size(), size_t{257 + 12});
    // Vocabulary order: special, bytes, merged tokens in merge order.
    QCOMPARE(*tok.token_to_id("<|endoftext|>"), 0);
    QCOMPARE(*tok.token_to_id("a"), 1 + 'a');
    QCOMPARE(*tok.token_to_id("es"), 257);
    QCOMPARE(*tok.token_to_id("lower"), 257 + 11);
    QCOMPARE(tok.encode("newest"), std::vector<int32_t>{*tok.token_to_id("newest")});
    QCOMPARE(tok.encode("lowest"), (std::vector<int32_t>{*tok.token_to_id("low"), *tok.token_to_id("est")}));
    QCOMPARE(tok.decode(tok.encode("lowest widest")), std::string("lowest widest"));
    // min_frequency 3 stops before the merges seen only twice.
    BpeTrainOptions o = options(1000, 3);
    QCOMPARE(merges_of(train_byte_level_bpe(docs, o)).size(), size_t{10});
  }

  void noMergesIsTheByteLevelTokenizer() {
    const std::vector<std::string> docs = {"aaaa bbbb aaaa"};
    check_merge_less(train_byte_level_bpe(docs, options(257)));
  }

  void trainedTokenizerRoundTrips() {
    std::vector<std::string> docs = fortune_documents(300000);
    if (docs.empty()) docs = {kFallbackText};
    const std::string json = train_byte_level_bpe(docs, options(2000));
    const BpeTokenizer tok = BpeTokenizer::from_json(json, "trained");
    QCOMPARE(json_vocab_size(json), size_t{2000});
    QCOMPARE(tok.vocab_size(), size_t{2000});
    // Real text.
    for (const std::string& text : {docs[0], std::string(kFallbackText)}) {
      const auto ids = tok.encode(text);
      QCOMPARE(tok.decode(ids), text);
      if (text.size() > 1000) QVERIFY2(ids.size() * 2 < text.size(), "trained tokenizer compresses poorly");
    }
    // Random bytes, also invalid UTF-8.
    std::mt19937 rng(42);
    for (int round = 0; round < 200; ++round) {
      std::string s(static_cast<size_t>(rng() % 300), '\0');
      for (char& c : s) c = static_cast<char>(rng() % 256);
      QCOMPARE(tok.decode(tok.encode(s)), s);
    }
    // Random words from the corpus alphabet.
    const std::string alphabet = "etaoinshrdlu ETAOIN.,'\n";
    for (int round = 0; round < 200; ++round) {
      std::string s(static_cast<size_t>(rng() % 100), ' ');
      for (char& c : s) c = alphabet[rng() % alphabet.size()];
      QCOMPARE(tok.decode(tok.encode(s)), s);
    }
    if (docs.size() > 1 || docs[0].size() > 10000) {
      // Common words become single tokens.
      for (const char* w : {"the", "and", "of", "to", "is"}) {
        const auto ids = tok.encode(std::string(" ") + w);
        QVERIFY2(ids.size() == 1, (std::string("not one token: ' ") + w + "'").c_str());
        QCOMPARE(ids[0], *tok.token_to_id(sp(w)));
      }
    }
  }

  void specialTokens() {
    std::vector<std::string> docs;
    for (int i = 0; i < 50; ++i) docs.push_back("hello<|endoftext|>world<|pad|><|endoftext|> hello world");
    BpeTrainOptions o = options(300);
    o.special_tokens = {"<|endoftext|>", "<|pad|>"};
    const std::string json = train_byte_level_bpe(docs, o);
    const BpeTokenizer tok = BpeTokenizer::from_json(json, "specials");
    QCOMPARE(*tok.token_to_id("<|endoftext|>"), 0);
    QCOMPARE(*tok.token_to_id("<|pad|>"), 1);
    QCOMPARE(*tok.eos_id(), 0);
    QCOMPARE(*tok.token_to_id("a"), 2 + 'a');
    const auto j = nlohmann::json::parse(json);
    QCOMPARE(j["added_tokens"].size(), size_t{2});
    QCOMPARE(j["added_tokens"][1]["content"].get<std::string>(), std::string("<|pad|>"));
    QVERIFY(j["added_tokens"][1]["special"].get<bool>());
    // The specials are not part of the training text: no merged token holds any piece of them.
    for (const auto& m : j["model"]["merges"]) {
      const std::string s = m.get<std::string>();
      QVERIFY2(s.find('|') == std::string::npos && s.find('<') == std::string::npos, s.c_str());
    }
    // And are never split.
    const auto ids = tok.encode("hello<|endoftext|>world<|pad|>");
    QCOMPARE(ids.front(), *tok.token_to_id("hello"));
    QVERIFY(std::count(ids.begin(), ids.end(), 0) == 1);
    QVERIFY(std::count(ids.begin(), ids.end(), 1) == 1);
    QCOMPARE(ids.back(), 1);
    QCOMPARE(tok.decode(ids), std::string("hello<|endoftext|>world<|pad|>"));
    // No specials at all: bytes start at id 0.
    o.special_tokens.clear();
    o.vocab_size = 256;
    const BpeTokenizer bare = BpeTokenizer::from_json(train_byte_level_bpe(docs, o), "bare");
    QCOMPARE(*bare.token_to_id(byte_level_symbol(0)), 0);
    QVERIFY(!bare.eos_id());
  }

  void deterministic() {
    std::vector<std::string> docs = fortune_documents(100000);
    if (docs.empty()) docs = {kFallbackText, kFallbackText};
    const std::string a = train_byte_level_bpe(docs, options(1500));
    const std::string b = train_byte_level_bpe(docs, options(1500));
    QCOMPARE(a, b);
    // Document order does not matter either (counts are over the whole corpus).
    std::vector<std::string> reversed(docs.rbegin(), docs.rend());
    QCOMPARE(train_byte_level_bpe(reversed, options(1500)), a);
  }

  void badOptions() {
    const std::vector<std::string> docs = {"some text"};
    expect_error([&] { train_byte_level_bpe(docs, options(256)); },
                 {"vocab_size 256 is too small", "at least 257", "256 byte symbols"});
    BpeTrainOptions o = options(300);
    o.special_tokens = {"<|endoftext|>", "<|pad|>"};
    o.vocab_size = 257;
    expect_error([&] { train_byte_level_bpe(docs, o); }, {"at least 258", "2 special token(s)"});
    o.vocab_size = 300;
    o.special_tokens = {"<|a|>", "<|a|>"};
    expect_error([&] { train_byte_level_bpe(docs, o); }, {"special token '<|a|>' is listed twice"});
    o.special_tokens = {""};
    expect_error([&] { train_byte_level_bpe(docs, o); }, {"special token is empty"});
    o.special_tokens = {"x"};
    expect_error([&] { train_byte_level_bpe(docs, o); }, {"same string as a byte symbol"});
    expect_error([&] { train_byte_level_bpe(docs, options(300, 0)); }, {"min_frequency must be at least 1"});
  }

  void emptyCorpus() {
    check_merge_less(train_byte_level_bpe({}, options(1000)));
  }

  void cancellation() {
    CancelToken cancel;
    cancel.cancel();
    BpeTrainOptions o = options(1000);
    o.cancel = &cancel;
    const std::vector<std::string> docs = {kFallbackText};
    QVERIFY_THROWS_EXCEPTION(Cancelled, train_byte_level_bpe(docs, o));
  }

  void cli() {
    const char* cli = std::getenv("SHEDDER_CLI");
    if (!cli) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string dir = test::make_temp_dir("bpe_cli");
    const std::string in = dir + "/corpus.txt", out = dir + "/tokenizer.json";
    std::string corpus;
    for (int i = 0; i < 20; ++i) corpus += kFallbackText;
    test::write_file(in, corpus);
    auto run = [&](const QStringList& args, QByteArray* stdout_text) {
      QProcess p;
      p.start(QString::fromUtf8(cli), args);
      if (!p.waitForFinished(120000)) return -1;
      if (stdout_text) *stdout_text = p.readAllStandardOutput();
      return p.exitCode();
    };
    const QStringList args = {"train-tokenizer", "--text", QString::fromStdString(in), "--vocab-size", "400",
                              "--out", QString::fromStdString(out), "--json"};
    QByteArray stdout_text;
    QCOMPARE(run(args, &stdout_text), 0);
    const auto report = nlohmann::json::parse(stdout_text.toStdString());
    QCOMPARE(report["vocab_size"].get<int>(), 400);
    const BpeTokenizer tok = BpeTokenizer::from_file(out);
    QCOMPARE(tok.vocab_size(), size_t{400});
    QCOMPARE(test::read_file(out), train_byte_level_bpe({corpus}, options(400)) + "\n");
    QCOMPARE(run(args, nullptr), 1);  // exists, no --force
    QCOMPARE(run(args + QStringList{"--force"}, nullptr), 0);
    QCOMPARE(run({"train-tokenizer", "--text", QString::fromStdString(in), "--vocab-size", "10", "--out",
                  QString::fromStdString(dir + "/small.json")},
                 nullptr),
             1);
    QVERIFY(!fs::exists(dir + "/small.json"));
  }
};

QTEST_APPLESS_MAIN(TestBpeTrainer)
#include "test_bpe_trainer.moc"

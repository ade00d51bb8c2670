// Tests of the byte-level BPE tokenizer against the Hugging Face reference cases (shared fixtures),
// the merges-as-pairs form, error reporting on bad tokenizer.json files, and hand-made edge cases.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

using shedder::BpeTokenizer;

namespace {

std::string fixture_tokenizer_path() { return shedder::test::fixtures_dir() + "/tokenizer/tokenizer.json"; }

// Returns the message of the shedder::Error that fn throws; fails the test when it throws nothing.
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const shedder::Error& e) {
    return e.what();
  }
  return "<no error thrown>";
}

// A tiny self-contained byte-level BPE: "h e l l o" merges and one special token.
std::string tiny_tokenizer_json(const std::string& merges_json, const std::string& model_type = "BPE") {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  vocab["<|endoftext|>"] = id++;
  // The 256 byte-level characters, then merged tokens.
  const std::vector<std::string> extra = {"he", "ll", "hell", "hello"};
  std::vector<uint32_t> stand_in(256);
  {
    std::vector<bool> direct(256, false);
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) stand_in[b] = direct[b] ? b : 256 + n++;
  }
  for (int b = 0; b < 256; ++b) {
    QString ch = QString(QChar(static_cast<char16_t>(stand_in[b])));
    vocab[ch.toStdString()] = id++;
  }
  for (const auto& t : extra) vocab[t] = id++;
  nlohmann::json root = {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array({{{"id", 0},
                                               {"content", "<|endoftext|>"},
                                               {"single_word", false},
                                               {"lstrip", false},
                                               {"rstrip", false},
                                               {"normalized", false},
                                               {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", model_type}, {"vocab", vocab}, {"merges", nlohmann::json::parse(merges_json)}}}};
  return root.dump();
}

}  // namespace

class TestTokenizer : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void encodes_reference_cases();
  void merges_as_pairs_give_same_ids();
  void reports_missing_file();
  void reports_truncated_json();
  void reports_malformed_merge();
  void reports_unknown_model_type();
  void reports_other_structural_errors();
  void invalid_utf8_round_trips();
  void empty_string_and_special_tokens();
  void tiny_tokenizer_merges();
};

void TestTokenizer::encodes_reference_cases() {
  SHEDDER_REQUIRE_FIXTURES();
  const BpeTokenizer tok = BpeTokenizer::from_file(fixture_tokenizer_path());
  const auto cases = nlohmann::json::parse(
      shedder::test::read_file(shedder::test::fixtures_dir() + "/tokenizer/encode_cases.json"));
  QVERIFY(cases.is_array());
  QVERIFY(cases.size() >= 10);
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const std::vector<int32_t> want = c.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok.encode(text);
    if (got != want) {
      QString g, w;
      for (int32_t i : got) g += QString::number(i) + " ";
      for (int32_t i : want) w += QString::number(i) + " ";
      QFAIL(qPrintable(
          QStringLiteral("encode(\"%1\"): got [%2], want [%3]").arg(QString::fromStdString(text), g, w)));
    }
    QCOMPARE(QString::fromStdString(tok.decode(got)), QString::fromStdString(text));
  }
  QCOMPARE(tok.vocab_size(), size_t{8192});
  QVERIFY(tok.eos_id().has_value());
  QCOMPARE(*tok.eos_id(), 0);
  QCOMPARE(tok.token_to_id("<|endoftext|>").value_or(-1), 0);
  QVERIFY(!tok.token_to_id("definitely not a token").has_value());
}

void TestTokenizer::merges_as_pairs_give_same_ids() {
  SHEDDER_REQUIRE_FIXTURES();
  auto root = nlohmann::json::parse(shedder::test::read_file(fixture_tokenizer_path()));
  auto& merges = root["model"]["merges"];
  QVERIFY(merges.is_array() && !merges.empty());
  // Write both forms, whichever the fixture uses.
  nlohmann::json as_pairs = nlohmann::json::array();
  nlohmann::json as_strings = nlohmann::json::array();
  for (const auto& m : merges) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    as_pairs.push_back({a, b});
    as_strings.push_back(a + " " + b);
  }
  const std::string dir = shedder::test::make_temp_dir("tokenizer");
  root["model"]["merges"] = as_pairs;
  shedder::test::write_file(dir + "/pairs.json", root.dump());
  root["model"]["merges"] = as_strings;
  shedder::test::write_file(dir + "/strings.json", root.dump());

  const BpeTokenizer pairs = BpeTokenizer::from_file(dir + "/pairs.json");
  const BpeTokenizer strings = BpeTokenizer::from_file(dir + "/strings.json");
  const auto cases = nlohmann::json::parse(
      shedder::test::read_file(shedder::test::fixtures_dir() + "/tokenizer/encode_cases.json"));
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const std::vector<int32_t> want = c.at("ids").get<std::vector<int32_t>>();
    QVERIFY2(pairs.encode(text) == want, text.c_str());
    QVERIFY2(strings.encode(text) == want, text.c_str());
  }
  const std::string long_text =
      "The quick brown fox jumps over the lazy dog; it's 42 degrees. Ünïcödé ☃ and tabs\t\tand\n\nlines   ";
  QVERIFY(pairs.encode(long_text) == strings.encode(long_text));
}

void TestTokenizer::reports_missing_file() {
  const std::string path = shedder::test::make_temp_dir("tokenizer") + "/no_such_tokenizer.json";
  const std::string msg = error_message([&] { BpeTokenizer::from_file(path); });
  QVERIFY2(msg.rfind(path, 0) == 0, msg.c_str());
  QVERIFY2(msg.find("cannot open") != std::string::npos, msg.c_str());
}

void TestTokenizer::reports_truncated_json() {
  const std::string dir = shedder::test::make_temp_dir("tokenizer");
  const std::string full = tiny_tokenizer_json(R"([["h","e"]])");
  const std::string path = dir + "/truncated.json";
  shedder::test::write_file(path, full.substr(0, full.size() / 2));
  const std::string msg = error_message([&] { BpeTokenizer::from_file(path); });
  QVERIFY2(msg.rfind(path, 0) == 0, msg.c_str());
  QVERIFY2(msg.find("invalid JSON") != std::string::npos, msg.c_str());
}

void TestTokenizer::reports_malformed_merge() {
  const std::string dir = shedder::test::make_temp_dir("tokenizer");
  struct Case {
    const char* merges;
    const char* phrase;
  };
  const Case cases[] = {
      {R"([["h","e"], 7])", "merges[1] is not a string or a pair of strings"},
      {R"([["h","e"], ["l"]])", "merges[1] is not a string or a pair of strings"},
      {R"([["h","e"], ["l","l","o"]])", "merges[1] is not a string or a pair of strings"},
      {R"(["h e", "l  l"])", "merges[1]"},
      {R"(["h e", "hl"])", "not two tokens separated by one space"},
      {R"([["h","e"], ["q\u00e9z","l"]])", "not in vocab"},
      {R"([["h","e"], ["h","l"]])", "makes token \"hl\" that is not in vocab"},
      {R"({"h": "e"})", "merges is not an array"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string path = dir + "/merges" + std::to_string(n++) + ".json";
    shedder::test::write_file(path, tiny_tokenizer_json(c.merges));
    const std::string msg = error_message([&] { BpeTokenizer::from_file(path); });
    QVERIFY2(msg.rfind(path + ": ", 0) == 0, msg.c_str());
    QVERIFY2(msg.find(c.phrase) != std::string::npos, (msg + " (want: " + c.phrase + ")").c_str());
  }
}

void TestTokenizer::reports_unknown_model_type() {
  const std::string dir = shedder::test::make_temp_dir("tokenizer");
  const std::string path = dir + "/wordpiece.json";
  shedder::test::write_file(path, tiny_tokenizer_json("[]", "WordPiece"));
  const std::string msg = error_message([&] { BpeTokenizer::from_file(path); });
  QVERIFY2(msg.rfind(path + ": ", 0) == 0, msg.c_str());
  QVERIFY2(msg.find("model type \"WordPiece\" is not supported") != std::string::npos, msg.c_str());
}

void TestTokenizer::reports_other_structural_errors() {
  const std::string label = "/some/dir/tokenizer.json";
  auto root = nlohmann::json::parse(tiny_tokenizer_json(R"([["h","e"]])"));
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    const char* phrase;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& j) { j.erase("model"); }, "missing \"model\""},
      {[](nlohmann::json& j) { j["model"]["vocab"] = nlohmann::json::array(); }, "vocab is not an object"},
      {[](nlohmann::json& j) { j["model"]["vocab"]["x"] = "seven"; }, "is not a token id"},
      {[](nlohmann::json& j) { j["model"]["vocab"]["x"] = -3; }, "is not a token id"},
      {[](nlohmann::json& j) { j["model"].erase("merges"); }, "merges is missing"},
      {[](nlohmann::json& j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       },
       "normalizer type \"Lowercase\""},
      {[](nlohmann::json& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       },
       "\"Whitespace\" is not supported"},
      {[](nlohmann::json& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"}};
       },
       "TemplateProcessing"},
      {[](nlohmann::json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "decoder type \"WordPiece\""},
      {[](nlohmann::json& j) { j["added_tokens"][0]["content"] = 5; }, "added_tokens[0].content"},
      {[](nlohmann::json& j) { j = nlohmann::json::array(); }, "top level is not a JSON object"},
  };
  for (const Case& c : cases) {
    nlohmann::json edited = root;
    c.edit(edited);
    const std::string text = edited.dump();
    const std::string msg = error_message([&] { BpeTokenizer::from_json(text, label); });
    QVERIFY2(msg.rfind(label + ": ", 0) == 0, msg.c_str());
    QVERIFY2(msg.find(c.phrase) != std::string::npos, (msg + " (want: " + c.phrase + ")").c_str());
  }
  // Not JSON at all.
  const std::string msg = error_message([&] { BpeTokenizer::from_json("\x01\xff garbage", label); });
  QVERIFY2(msg.rfind(label + ": invalid JSON", 0) == 0, msg.c_str());
}

void TestTokenizer::invalid_utf8_round_trips() {
  SHEDDER_REQUIRE_FIXTURES();
  const BpeTokenizer tok = BpeTokenizer::from_file(fixture_tokenizer_path());
  const std::vector<std::string> texts = {
      std::string("\xff"),
      std::string("abc\xff\xfe def"),
      std::string("caf\xc3"),                 // truncated 2-byte sequence at the end
      std::string("\xe6\x97 x"),              // truncated 3-byte sequence
      std::string("\xc0\xaf overlong"),       // overlong '/'
      std::string("\xed\xa0\x80 surrogate"),  // UTF-16 surrogate encoded in UTF-8
      std::string("\xf4\x90\x80\x80 too big"),
      std::string("\x80\x80\x80 lone continuation bytes"),
      std::string("ok \xf0\x9f\x99\x82 then \xf0\x9f\x99 cut"),
      std::string("<|endoftext|>\xfe<|endoftext|>"),
      std::string("\0embedded\0nul", 14),
  };
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tok.encode(text);
    QVERIFY(!ids.empty());
    for (int32_t id : ids) QVERIFY(id >= 0 && static_cast<size_t>(id) < tok.vocab_size());
    QVERIFY2(tok.decode(ids) == text, QByteArray::fromStdString(text).toHex().constData());
  }
  // Every single byte value encodes to the id of its byte-level character.
  for (int b = 0; b < 256; ++b) {
    const std::string text(1, static_cast<char>(b));
    const std::vector<int32_t> ids = tok.encode(text);
    QCOMPARE(ids.size(), size_t{1});
    QCOMPARE(tok.decode(ids), text);
  }
}

void TestTokenizer::empty_string_and_special_tokens() {
  SHEDDER_REQUIRE_FIXTURES();
  const BpeTokenizer tok = BpeTokenizer::from_file(fixture_tokenizer_path());
  QVERIFY(tok.encode("").empty());
  QCOMPARE(tok.decode({}), std::string());
  // Unknown ids are skipped by decode (as the reference does).
  QCOMPARE(tok.decode({-1, 1 << 30}), std::string());
  const std::vector<int32_t> ids = tok.encode("<|endoftext|><|endoftext|>");
  QCOMPARE(ids, (std::vector<int32_t>{0, 0}));
  QCOMPARE(tok.decode(ids), std::string("<|endoftext|><|endoftext|>"));
  // A partial special token is ordinary text.
  const std::vector<int32_t> partial = tok.encode("<|endoftext|");
  QVERIFY(std::find(partial.begin(), partial.end(), 0) == partial.end());
  QCOMPARE(tok.decode(partial), std::string("<|endoftext|"));
  // Moving keeps the tokenizer usable.
  BpeTokenizer moved = BpeTokenizer::from_file(fixture_tokenizer_path());
  BpeTokenizer other = std::move(moved);
  QCOMPARE(other.encode("Hello world"), (std::vector<int32_t>{40, 7478, 902}));
}

void TestTokenizer::tiny_tokenizer_merges() {
  // Lowest-rank merge first: "he", "ll", then "hell", "hello".
  const BpeTokenizer tok =
      BpeTokenizer::from_json(tiny_tokenizer_json(R"([["h","e"], "l l", ["he","ll"], "hell o"])"), "tiny");
  const std::vector<int32_t> ids = tok.encode("hello");
  QCOMPARE(ids.size(), size_t{1});
  QCOMPARE(ids[0], tok.token_to_id("hello").value_or(-2));
  QCOMPARE(tok.decode(ids), std::string("hello"));
  // Without the "hell o" merge the word stops at "hell" + "o".
  const BpeTokenizer partial =
      BpeTokenizer::from_json(tiny_tokenizer_json(R"([["h","e"], "l l", ["he","ll"]])"), "tiny");
  QCOMPARE(partial.encode("hello"), (std::vector<int32_t>{partial.token_to_id("hell").value_or(-2),
                                                          partial.token_to_id("o").value_or(-2)}));
  QCOMPARE(partial.eos_id().value_or(-1), 0);
}

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"

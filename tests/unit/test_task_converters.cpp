// Converters from Hugging Face exports of the paper's seven tasks, on small hand-written exports of each
// (JSONL as Dataset.to_json writes it, a JSON array, the datasets-server's rows): the harness's zero-shot
// prompts (piqa/arc "Question: ...\nAnswer:", hellaswag preprocess and capitalize, openbookqa's stripped
// answer key, lambada's last word, winogrande's partial scoring), and errors naming the file and record.
// (The raw strings hold no apostrophes: moc takes them for character literals and skips the class.)
#include <QtTest/QtTest>

#include <string>
#include <vector>

#include "eval/task_converters.h"
#include "eval/task_format.h"
#include "support/expect_error.h"
#include "support/test_support.h"

using namespace shedder;
using test::expect_error;

namespace {

std::string write_tmp(const std::string& name, const std::string& text) {
  const std::string p = test::make_temp_dir("conv") + "/" + name;
  test::write_file(p, text);
  return p;
}

}  // namespace

class TestTaskConverters : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void lambada_openai() {
    const std::string p = write_tmp("lambada.jsonl",
        R"({"text": "I look at him, feeling stunned. Like this is some sort of sick joke."})" "\n"
        R"({"text": "a b\nc  d"})" "\n"
        R"({"text": "one\ntwo"})" "\n");
    const ConvertedTask t = convert_task("lambada_openai", p);
    QCOMPARE(t.kind, TaskKind::Target);
    QCOMPARE(t.items.size(), size_t(3));
    QCOMPARE(t.items[0].context, std::string("I look at him, feeling stunned. Like this is some sort of sick"));
    QCOMPARE(t.items[0].target, std::string(" joke."));
    QCOMPARE(t.items[1].context, std::string("a b\nc "));  // split(' ') keeps the empty word
    QCOMPARE(t.items[1].target, std::string(" d"));
    QCOMPARE(t.items[2].context, std::string());
    QCOMPARE(t.items[2].target, std::string(" one\ntwo"));
  }

  void hellaswag() {
    const std::string p = write_tmp("hellaswag.jsonl",
        R"({"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he", )"
        R"("ctx": "A man is sitting on a roof. he", "endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.", )"
        R"("is holding a rubiks cube.", "starts pulling up roofing on a roof."], "source_id": "activitynet~v_-JhWjGDPHMY", )"
        R"("split": "val", "split_type": "indomain", "label": "3"})" "\n"
        R"({"ind": 4, "activity_label": "Personal Care and Style", "ctx_a": "[header] How to increase breast size with a bra )"
        R"([title] Check your bra size. [step] Wearing a bra that is too big will not help.", "ctx_b": "", )"
        R"("endings": [" [substeps] Try a smaller size.  ", "Ask someone [who knows] for help.", "x", "y"], "label": 0})" "\n"
        R"({"activity_label": "Baking", "ctx_a": "She opens the oven.", "ctx_b": "the CAKE IS", "endings": ["a", "b", "c", "d"], "label": "1"})" "\n");
    const ConvertedTask t = convert_task("hellaswag", p);
    QCOMPARE(t.kind, TaskKind::MultipleChoice);
    QCOMPARE(t.items[0].context, std::string("Roof shingle removal: A man is sitting on a roof. He"));
    QCOMPARE(t.items[0].choices[1], std::string("is ripping level tiles off."));
    QCOMPARE(t.items[0].gold, int64_t(3));
    QCOMPARE(t.items[0].id, std::string("24"));
    QCOMPARE(t.items[1].context, std::string("Personal Care and Style: How to increase breast size with a bra. Check your bra "
                                             "size. Wearing a bra that is too big will not help."));
    QCOMPARE(t.items[1].choices[0], std::string(" Try a smaller size."));  // stripped before the brackets go
    QCOMPARE(t.items[1].choices[1], std::string("Ask someone for help."));
    QCOMPARE(t.items[1].gold, int64_t(0));
    QCOMPARE(t.items[2].context, std::string("Baking: She opens the oven. The cake is"));  // str.capitalize lowers the rest
  }

  void piqa() {
    const std::string p = write_tmp("piqa.jsonl",
        R"({"goal": "When boiling butter, when it is ready, you can", "sol1": "Pour it onto a plate", "sol2": "Pour it into a jar", "label": 1})" "\n");
    const ConvertedTask t = convert_task("piqa", p);
    QCOMPARE(t.items[0].context, std::string("Question: When boiling butter, when it is ready, you can\nAnswer:"));
    QCOMPARE(t.items[0].choices, (std::vector<std::string>{"Pour it onto a plate", "Pour it into a jar"}));
    QCOMPARE(t.items[0].gold, int64_t(1));
    QCOMPARE(t.items[0].delimiter, std::string(" "));
  }

  // A JSON array export; numeric labels; the challenge set has the same schema.
  void arc() {
    const std::string p = write_tmp("arc.json",
        R"([{"id": "Mercury_7175875", "question": "Which is the most likely effect of this increase in rotation?", )"
        R"("choices": {"text": ["Planetary density will decrease.", "Planetary years will become longer.", )"
        R"("Planetary days will become shorter.", "Planetary gravity will become stronger."], "label": ["A", "B", "C", "D"]}, )"
        R"("answerKey": "C"},)"
        R"({"id": "NYSEDREGENTS_2015_4_8", "question": "Which is a liquid?", "choices": {"text": ["ice", "milk", "steam"], )"
        R"("label": ["1", "2", "3"]}, "answerKey": "2"}])");
    for (const char* fmt : {"arc_easy", "arc_challenge"}) {
      const ConvertedTask t = convert_task(fmt, p);
      QCOMPARE(t.items.size(), size_t(2));
      QCOMPARE(t.items[0].context, std::string("Question: Which is the most likely effect of this increase in rotation?\nAnswer:"));
      QCOMPARE(t.items[0].choices[2], std::string("Planetary days will become shorter."));
      QCOMPARE(t.items[0].gold, int64_t(2));
      QCOMPARE(t.items[0].id, std::string("Mercury_7175875"));
      QCOMPARE(t.items[1].gold, int64_t(1));
      QCOMPARE(t.items[1].choices.size(), size_t(3));
    }
  }

  // The datasets-server form; the answer key is left-stripped as the harness does.
  void openbookqa() {
    const std::string p = write_tmp("obqa.json",
        R"({"rows": [{"row_idx": 0, "row": {"id": "7-980", "question_stem": "The sun is responsible for", )"
        R"("choices": {"text": ["puppies learning new tricks", "children growing up and getting old", "flowers wilting in a vase", )"
        R"("plants sprouting, blooming and wilting"], "label": ["A", "B", "C", "D"]}, "answerKey": " D"}, "truncated_cells": []}]})");
    const ConvertedTask t = convert_task("openbookqa", p);
    QCOMPARE(t.items[0].context, std::string("The sun is responsible for"));
    QCOMPARE(t.items[0].gold, int64_t(3));
  }

  void winogrande() {
    const std::string p = write_tmp("winogrande.jsonl",
        R"({"sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.", "option1": "Sarah", )"
        R"("option2": "Maria", "answer": "1"})" "\n"
        R"({"sentence": "The trophy does not fit because _  is too big. ", "option1": "the trophy", "option2": "the case", "answer": "2"})" "\n");
    const ConvertedTask t = convert_task("winogrande", p);
    QCOMPARE(t.kind, TaskKind::Partial);
    QCOMPARE(t.items[0].choices, (std::vector<std::string>{"Sarah was a much better surgeon than Maria so Sarah",
                                                          "Sarah was a much better surgeon than Maria so Maria"}));
    QCOMPARE(t.items[0].target, std::string("always got the harder cases."));
    QCOMPARE(t.items[0].gold, int64_t(0));
    QCOMPARE(t.items[1].target, std::string("is too big."));
    QCOMPARE(t.items[1].gold, int64_t(1));
  }

  // Converted items survive the task file format.
  void round_trip_through_task_file() {
    const std::string p = write_tmp("w.jsonl",
        R"({"sentence": "A _ b", "option1": "x", "option2": "y", "answer": "2"})" "\n");
    const ConvertedTask t = convert_task("winogrande", p);
    const std::string out = test::make_temp_dir("conv-out") + "/winogrande.jsonl";
    write_task(out, t.kind, t.items, false);
    const Task back = read_task(out);
    QCOMPARE(back.kind, TaskKind::Partial);
    QCOMPARE(back.items[0].choices, (std::vector<std::string>{"A x", "A y"}));
    QCOMPARE(back.items[0].target, std::string("b"));
    QCOMPARE(back.name, std::string("winogrande"));
  }

  void errors_name_the_record() {
    const std::string good = R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 0})" "\n";
    expect_error([&] { convert_task("piqa", write_tmp("p.jsonl", good + R"({"goal": "g", "sol1": "a", "label": 0})" "\n")); },
                 {"p.jsonl:2", "missing field \"sol2\""});
    expect_error([&] { convert_task("piqa", write_tmp("p.jsonl", good + R"({"goal": "g", "sol1": "a", "sol2": "b", "label": -1})" "\n")); },
                 {"p.jsonl:2", "no label"});
    expect_error([&] { convert_task("piqa", write_tmp("p.jsonl", good + "{not json\n")); }, {"p.jsonl:2", "malformed JSON"});
    expect_error([&] { convert_task("hellaswag", write_tmp("h.json", R"([{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["x", "y"], "label": ""}])")); },
                 {"h.json: record 1", "no label"});
    expect_error([&] { convert_task("arc_easy", write_tmp("a.jsonl", R"({"question": "q", "choices": {"text": ["x", "y"], "label": ["A", "B"]}, "answerKey": "E"})" "\n")); },
                 {"a.jsonl:1", "answerKey 'E'"});
    expect_error([&] { convert_task("winogrande", write_tmp("w.jsonl", R"({"sentence": "no blank", "option1": "x", "option2": "y", "answer": "1"})" "\n")); },
                 {"w.jsonl:1", "no blank"});
    expect_error([&] { convert_task("winogrande", write_tmp("w.jsonl", R"({"sentence": "a _", "option1": "x", "option2": "y", "answer": ""})" "\n")); },
                 {"w.jsonl:1", "no label"});
    expect_error([&] { convert_task("lambada_openai", write_tmp("l.jsonl", R"({"txt": "a b"})" "\n")); }, {"l.jsonl:1", "\"text\""});
    expect_error([&] { convert_task("hellaswag", write_tmp("e.jsonl", "\n\n")); }, {"e.jsonl", "empty"});
    expect_error([&] { convert_task("mmlu", write_tmp("m.jsonl", good)); }, {"unknown task format 'mmlu'", "hellaswag"});
    expect_error([&] { convert_task("piqa", "/nonexistent/piqa.jsonl"); }, {"/nonexistent/piqa.jsonl", "cannot open"});
    expect_error([&] { convert_task("piqa", write_tmp("pretty.json", "{\n  \"goal\": \"g\"\n}\n")); },
                 {"pretty.json", "one JSON document over several lines"});
    // A one-record JSON lines file is also a whole JSON document: read as JSON lines.
    QCOMPARE(convert_task("piqa", write_tmp("one.jsonl", good)).items.size(), size_t(1));
    QCOMPARE(converter_names().size(), size_t(7));
  }
};

QTEST_APPLESS_MAIN(TestTaskConverters)
#include "test_task_converters.moc"

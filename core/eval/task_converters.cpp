// Converting Hugging Face exports of the paper's seven tasks to task files (see task_converters.h).
#include "eval/task_converters.h"

#include <fstream>
#include <sstream>

#include "eval/harness_text.h"
#include "util/error.h"

namespace shedder {

const std::vector<std::string>& converter_names() {
  static const std::vector<std::string> names = {"lambada_openai", "hellaswag", "piqa", "arc_easy",
                                                 "arc_challenge", "winogrande", "openbookqa"};
  return names;
}

namespace {

std::string parse_error_text(const std::exception& e) {
  std::string msg = e.what();
  const size_t p = msg.find("parse error");
  return p == std::string::npos ? msg : msg.substr(p);
}

std::string str_field(const nlohmann::json& r, const char* key, const std::string& where) {
  if (!r.contains(key)) throw Error(where + ": missing field \"" + key + "\"");
  if (!r[key].is_string()) throw Error(where + ": field \"" + key + "\" must be a string");
  return r[key].get<std::string>();
}

// A label written as a number or as a numeric string ("3"); empty / -1 means an unlabelled record.
int64_t int_label(const nlohmann::json& r, const char* key, const std::string& where) {
  if (!r.contains(key) || r[key].is_null()) throw Error(where + ": missing field \"" + key + "\"");
  const auto& v = r[key];
  int64_t out = -1;
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    out = s.empty() ? -1 : std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end != '\0') throw Error(where + ": field \"" + key + "\" is not a number ('" + s + "')");
  } else {
    throw Error(where + ": field \"" + key + "\" must be a number");
  }
  if (out < 0) throw Error(where + ": no label (\"" + key + "\" is empty or negative): export a labelled split such as validation");
  return out;
}

std::vector<std::string> string_list(const nlohmann::json& v, const std::string& what, const std::string& where) {
  if (!v.is_array()) throw Error(where + ": " + what + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) throw Error(where + ": " + what + " must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

void optional_id(const nlohmann::json& r, const char* key, TaskItem& it) {
  if (!r.contains(key)) return;
  if (r[key].is_string()) it.id = r[key].get<std::string>();
  else if (r[key].is_number_integer()) it.id = std::to_string(r[key].get<int64_t>());
}

void check_choices(const TaskItem& it, const std::string& where) {
  if (it.choices.size() < 2) throw Error(where + ": fewer than 2 choices");
  for (size_t k = 0; k < it.choices.size(); ++k)
    if (it.choices[k].empty()) throw Error(where + ": choice " + std::to_string(k) + " is empty");
  if (it.gold < 0 || it.gold >= static_cast<int64_t>(it.choices.size()))
    throw Error(where + ": label " + std::to_string(it.gold) + " is out of range for " +
                std::to_string(it.choices.size()) + " choices");
}

TaskItem lambada(const nlohmann::json& r, const std::string& where) {
  const std::vector<std::string> words = harness::split_space(str_field(r, "text", where));
  TaskItem it;
  it.context = harness::join(std::vector<std::string>(words.begin(), words.end() - 1), " ");
  it.target = " " + words.back();
  return it;
}

TaskItem hellaswag(const nlohmann::json& r, const std::string& where) {
  TaskItem it;
  const std::string ctx = str_field(r, "ctx_a", where) + " " + harness::capitalize(str_field(r, "ctx_b", where));
  it.context = harness::hellaswag_preprocess(str_field(r, "activity_label", where) + ": " + ctx);
  if (!r.contains("endings")) throw Error(where + ": missing field \"endings\"");
  for (const auto& e : string_list(r["endings"], "\"endings\"", where)) it.choices.push_back(harness::hellaswag_preprocess(e));
  it.gold = int_label(r, "label", where);
  optional_id(r, "ind", it);
  return it;
}

TaskItem piqa(const nlohmann::json& r, const std::string& where) {
  TaskItem it;
  it.context = "Question: " + str_field(r, "goal", where) + "\nAnswer:";
  it.choices = {str_field(r, "sol1", where), str_field(r, "sol2", where)};
  it.gold = int_label(r, "label", where);
  return it;
}

// ARC / OpenBookQA: {"choices": {"text": [...], "label": [...]}, "answerKey": "B"}.
void lettered_choices(const nlohmann::json& r, const std::string& where, bool lstrip_key, TaskItem& it) {
  if (!r.contains("choices") || !r["choices"].is_object()) throw Error(where + ": missing field \"choices\" {text, label}");
  const auto& ch = r["choices"];
  if (!ch.contains("text") || !ch.contains("label")) throw Error(where + ": \"choices\" needs \"text\" and \"label\" lists");
  it.choices = string_list(ch["text"], "\"choices\".\"text\"", where);
  const std::vector<std::string> labels = string_list(ch["label"], "\"choices\".\"label\"", where);
  if (labels.size() != it.choices.size()) throw Error(where + ": \"choices\" has different numbers of texts and labels");
  std::string key = str_field(r, "answerKey", where);
  if (lstrip_key) key = harness::lstrip(key);
  for (size_t k = 0; k < labels.size(); ++k)
    if (labels[k] == key) it.gold = static_cast<int64_t>(k);
  if (it.gold < 0) throw Error(where + ": answerKey '" + key + "' is not among the choice labels");
  optional_id(r, "id", it);
}

TaskItem arc(const nlohmann::json& r, const std::string& where) {
  TaskItem it;
  it.context = "Question: " + str_field(r, "question", where) + "\nAnswer:";
  lettered_choices(r, where, false, it);
  return it;
}

TaskItem openbookqa(const nlohmann::json& r, const std::string& where) {
  TaskItem it;
  it.context = str_field(r, "question_stem", where);
  lettered_choices(r, where, true, it);
  return it;
}

TaskItem winogrande(const nlohmann::json& r, const std::string& where) {
  const std::string sentence = str_field(r, "sentence", where);
  const size_t idx = sentence.find('_');
  if (idx == std::string::npos) throw Error(where + ": \"sentence\" has no blank ('_')");
  TaskItem it;
  it.choices = {sentence.substr(0, idx) + str_field(r, "option1", where),
                sentence.substr(0, idx) + str_field(r, "option2", where)};
  it.target = harness::strip(sentence.substr(idx + 1));
  const std::string answer = r.contains("answer") && r["answer"].is_string() ? r["answer"].get<std::string>()
                             : r.contains("answer") && r["answer"].is_number_integer() ? std::to_string(r["answer"].get<int64_t>())
                                                                                        : std::string("?");
  if (answer == "1") it.gold = 0;
  else if (answer == "2") it.gold = 1;
  else if (answer.empty()) throw Error(where + ": no label (\"answer\" is empty): export a labelled split such as validation");
  else throw Error(where + ": \"answer\" must be \"1\" or \"2\" (got '" + answer + "')");
  return it;
}

}  // namespace

std::vector<std::pair<std::string, nlohmann::json>> read_export_records(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::vector<std::pair<std::string, nlohmann::json>> out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw Error(path + ": empty file");
  // A whole-file JSON document (array, or {"rows": [...]} / {"data": [...]}) or JSON lines.
  nlohmann::json whole = nlohmann::json::parse(text, nullptr, false);
  if (!whole.is_discarded() && (whole.is_array() || (whole.is_object() && (whole.contains("rows") || whole.contains("data"))))) {
    const nlohmann::json& list = whole.is_array() ? whole : (whole.contains("rows") ? whole["rows"] : whole["data"]);
    if (!list.is_array()) throw Error(path + ": \"rows\"/\"data\" must be a list of records");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = path + ": record " + std::to_string(i + 1);
      const nlohmann::json& r = list[i].is_object() && list[i].contains("row") && list[i]["row"].is_object() ? list[i]["row"] : list[i];
      if (!r.is_object()) throw Error(where + ": a record must be a JSON object");
      out.emplace_back(where, r);
    }
  } else {
    std::istringstream in(text);
    std::string line;
    int64_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = path + ":" + std::to_string(lineno);
      nlohmann::json r;
      try {
        r = nlohmann::json::parse(line);
      } catch (const std::exception& e) {
        if (!whole.is_discarded())
          throw Error(path + ": one JSON document over several lines; expected JSON lines (one record per line), "
                             "a JSON array of records or {\"rows\": [...]}");
        throw Error(where + ": malformed JSON (" + parse_error_text(e) + ")");
      }
      if (!r.is_object()) throw Error(where + ": a record must be a JSON object");
      out.emplace_back(where, std::move(r));
    }
  }
  if (out.empty()) throw Error(path + ": no records");
  return out;
}

ConvertedTask convert_task(const std::string& format, const std::string& path) {
  TaskItem (*fn)(const nlohmann::json&, const std::string&) = nullptr;
  ConvertedTask out;
  if (format == "lambada_openai" || format == "lambada") {
    fn = lambada;
    out.kind = TaskKind::Target;
  } else if (format == "hellaswag") {
    fn = hellaswag;
  } else if (format == "piqa") {
    fn = piqa;
  } else if (format == "arc_easy" || format == "arc_challenge") {
    fn = arc;
  } else if (format == "openbookqa") {
    fn = openbookqa;
  } else if (format == "winogrande") {
    fn = winogrande;
    out.kind = TaskKind::Partial;
  } else {
    std::string known;
    for (const auto& n : converter_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown task format '" + format + "' (known: " + known + ")");
  }
  for (const auto& [where, rec] : read_export_records(path)) {
    TaskItem it = fn(rec, where);
    if (out.kind != TaskKind::Target) check_choices(it, where);
    out.items.push_back(std::move(it));
  }
  return out;
}

}  // namespace shedder

// Reading, validating and writing JSONL task files (see task_format.h).
#include "eval/task_format.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "util/file_util.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

const char* task_kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::MultipleChoice: return "multiple_choice";
    case TaskKind::Target: return "target";
    case TaskKind::Partial: return "partial";
  }
  return "?";
}

namespace {

std::string need_string(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw Error(where + ": missing field \"" + key + "\"");
  if (!j[key].is_string()) throw Error(where + ": field \"" + key + "\" must be a string");
  return j[key].get<std::string>();
}

std::vector<std::string> need_strings(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw Error(where + ": missing field \"" + key + "\"");
  const auto& a = j[key];
  if (!a.is_array()) throw Error(where + ": field \"" + key + "\" must be a list of strings");
  if (a.size() < 2)
    throw Error(where + ": field \"" + key + "\" has " + std::to_string(a.size()) +
                " entries; a choice item needs at least 2");
  std::vector<std::string> out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) throw Error(where + ": \"" + key + "\"[" + std::to_string(i) + "] must be a string");
    out.push_back(a[i].get<std::string>());
    if (out.back().empty())
      throw Error(where + ": \"" + key + "\"[" + std::to_string(i) + "] is empty (an empty choice cannot be scored)");
  }
  return out;
}

TaskItem parse_item(const nlohmann::json& j, TaskKind& kind, bool first, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": a task line must be a JSON object");
  TaskKind k;
  std::set<std::string> allowed{"id"};
  if (j.contains("choices")) {
    k = TaskKind::MultipleChoice;
    allowed.insert({"context", "choices", "gold", "target_delimiter"});
  } else if (j.contains("contexts")) {
    k = TaskKind::Partial;
    allowed.insert({"contexts", "continuation", "gold", "target_delimiter"});
  } else if (j.contains("target")) {
    k = TaskKind::Target;
    allowed.insert({"context", "target"});
  } else {
    throw Error(where + ": not a task item (needs \"choices\", \"contexts\" or \"target\"; see the README's task format)");
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key()))
      throw Error(where + ": unknown field \"" + it.key() + "\" in a " + task_kind_name(k) + " item");
  if (first) kind = k;
  else if (k != kind)
    throw Error(where + ": a " + std::string(task_kind_name(k)) + " item in a file of " + task_kind_name(kind) +
                " items (one kind per file)");

  TaskItem it;
  if (j.contains("id")) {
    if (j["id"].is_string()) it.id = j["id"].get<std::string>();
    else if (j["id"].is_number_integer()) it.id = std::to_string(j["id"].get<int64_t>());
    else throw Error(where + ": field \"id\" must be a string or an integer");
  }
  if (k == TaskKind::Target) {
    it.context = need_string(j, "context", where);
    it.target = need_string(j, "target", where);
    if (it.target.empty()) throw Error(where + ": field \"target\" is empty");
    return it;
  }
  if (k == TaskKind::MultipleChoice) {
    it.context = need_string(j, "context", where);
    it.choices = need_strings(j, "choices", where);
  } else {
    it.choices = need_strings(j, "contexts", where);
    it.target = need_string(j, "continuation", where);
  }
  if (j.contains("target_delimiter")) it.delimiter = need_string(j, "target_delimiter", where);
  if (!j.contains("gold")) throw Error(where + ": missing field \"gold\"");
  if (!j["gold"].is_number_integer()) throw Error(where + ": field \"gold\" must be an integer (a choice index)");
  it.gold = j["gold"].get<int64_t>();
  if (it.gold < 0 || it.gold >= static_cast<int64_t>(it.choices.size()))
    throw Error(where + ": gold " + std::to_string(it.gold) + " is out of range (" +
                std::to_string(it.choices.size()) + " choices, indices from 0)");
  return it;
}

}  // namespace

Task read_task(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open task file");
  Task t;
  t.path = path;
  t.name = fs::path(path).stem().string();
  std::string line;
  int64_t lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      const size_t p = msg.find("parse error");
      throw Error(where + ": malformed JSON (" + (p == std::string::npos ? msg : msg.substr(p)) + ")");
    }
    TaskItem it = parse_item(j, t.kind, t.items.empty(), where);
    it.line = lineno;
    t.items.push_back(std::move(it));
  }
  if (f.bad()) throw Error(path + ": read error");
  if (t.items.empty()) throw Error(path + ": no task items (one JSON object per line; see the README's task format)");
  return t;
}

std::string task_item_json(TaskKind kind, const TaskItem& it) {
  nlohmann::ordered_json j;
  if (!it.id.empty()) j["id"] = it.id;
  if (kind == TaskKind::Target) {
    j["context"] = it.context;
    j["target"] = it.target;
  } else if (kind == TaskKind::MultipleChoice) {
    j["context"] = it.context;
    j["choices"] = it.choices;
    j["gold"] = it.gold;
  } else {
    j["contexts"] = it.choices;
    j["continuation"] = it.target;
    j["gold"] = it.gold;
  }
  if (kind != TaskKind::Target && it.delimiter != " ") j["target_delimiter"] = it.delimiter;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write_task(const std::string& path, TaskKind kind, const std::vector<TaskItem>& items, bool force) {
  std::error_code ec;
  if (!force && fs::exists(path, ec)) throw Error(path + ": exists (use --force to replace it)");
  if (items.empty()) throw Error(path + ": no items to write");
  std::ostringstream os;
  for (const auto& it : items) os << task_item_json(kind, it) << "\n";
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) create_folder(parent.string());
  write_file_atomic(path, os.str());
}

}  // namespace shedder

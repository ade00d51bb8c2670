// lm-evaluation-harness's per-item sample records (see harness_samples.h).
#include "eval/harness_samples.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "util/error.h"
#include "util/sha256.h"

namespace shedder {

std::string python_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  char buf[64];
  // The shortest round-trip digits, as d.ddde±XX.
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  if (res.ec != std::errc()) throw InternalError("python_float_repr: to_chars failed");
  const std::string s(buf, res.ptr);
  const bool negative = s[0] == '-';
  const size_t e = s.find('e');
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i)
    if (s[i] != '.') digits += s[i];
  const int exp10 = std::atoi(s.c_str() + e + 1);
  const int decpt = exp10 + 1;  // value = 0.digits × 10^decpt
  const int nd = static_cast<int>(digits.size());
  std::string out = negative ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (decpt >= nd) {
      out += digits + std::string(static_cast<size_t>(decpt - nd), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (nd > 1) out += "." + digits.substr(1);
  const int ex = decpt - 1;
  char tail[16];
  std::snprintf(tail, sizeof tail, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
  return out + tail;
}

namespace {

void dump(const nlohmann::ordered_json& v, int indent, int level, std::string& out) {
  using T = nlohmann::ordered_json::value_t;
  const std::string nl = indent < 0 ? "" : "\n" + std::string(static_cast<size_t>(indent * (level + 1)), ' ');
  const std::string close = indent < 0 ? "" : "\n" + std::string(static_cast<size_t>(indent * level), ' ');
  const std::string sep = indent < 0 ? ", " : ",";
  switch (v.type()) {
    case T::null:
      out += "null";
      return;
    case T::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case T::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case T::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case T::number_float: {
      const double x = v.get<double>();
      if (std::isnan(x)) out += "NaN";
      else if (std::isinf(x)) out += x < 0 ? "-Infinity" : "Infinity";
      else out += python_float_repr(x);
      return;
    }
    case T::string:
      // nlohmann escapes as json.dumps(ensure_ascii=False) does: \" \\ \b \f \n \r \t, other controls \u00xx.
      out += v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      return;
    case T::array: {
      if (v.empty()) {
        out += "[]";
        return;
      }
      out += "[";
      bool first = true;
      for (const auto& x : v) {
        out += (first ? "" : sep) + nl;
        first = false;
        dump(x, indent, level + 1, out);
      }
      out += close + "]";
      return;
    }
    case T::object: {
      if (v.empty()) {
        out += "{}";
        return;
      }
      out += "{";
      bool first = true;
      for (const auto& [key, x] : v.items()) {
        out += (first ? "" : sep) + nl;
        first = false;
        dump(nlohmann::ordered_json(key), indent, level + 1, out);
        out += ": ";
        dump(x, indent, level + 1, out);
      }
      out += close + "}";
      return;
    }
    default:
      throw InternalError("python_json_dumps: a value of a type JSON text cannot hold");
  }
}

nlohmann::ordered_json response(const ChoiceScore& c) {
  return nlohmann::ordered_json::array({python_float_repr(c.loglik), c.greedy ? "True" : "False"});
}

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& v, int indent) {
  std::string out;
  dump(v, indent, 0, out);
  return out;
}

std::vector<nlohmann::ordered_json> harness_samples(const Task& task, const TaskResult& r) {
  if (static_cast<int64_t>(r.details.size()) != r.items || static_cast<int64_t>(task.items.size()) < r.items)
    throw InternalError("harness_samples: task '" + task.name + "' has no per-item details for its " +
                        std::to_string(r.items) + " items");
  std::vector<nlohmann::ordered_json> out;
  for (size_t i = 0; i < r.details.size(); ++i) {
    const TaskItem& it = task.items[i];
    const ItemResult& ir = r.details[i];
    std::vector<std::pair<std::string, std::string>> requests;  // (context, continuation) as the harness builds them
    std::string target;
    nlohmann::ordered_json metrics;
    if (task.kind == TaskKind::MultipleChoice) {
      for (const std::string& c : it.choices) requests.emplace_back(it.context, it.delimiter + c);
      target = std::to_string(it.gold);  // doc_to_target gives the gold index; the record holds str(target)
      metrics = {{"acc", ir.correct ? 1.0 : 0.0}, {"acc_norm", ir.correct_norm ? 1.0 : 0.0}};
    } else if (task.kind == TaskKind::Target) {
      requests.emplace_back(it.context, it.target);
      target = it.target;
      metrics = {{"perplexity", ir.choices.empty() ? 0.0 : ir.choices[0].loglik}, {"acc", ir.correct ? 1 : 0}};
    } else {
      for (const std::string& c : it.choices) requests.emplace_back(c, it.delimiter + it.target);
      target = it.target;  // winogrande's doc_to_target: the text after the blank
      metrics = {{"acc", ir.correct ? 1.0 : 0.0}};
    }
    if (ir.choices.size() != requests.size())
      throw InternalError("harness_samples: item " + std::to_string(i) + " of '" + task.name + "' has " +
                          std::to_string(ir.choices.size()) + " scores for " + std::to_string(requests.size()) +
                          " requests");
    const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(task_item_json(task.kind, it));
    nlohmann::ordered_json arguments = nlohmann::ordered_json::object(), resps = nlohmann::ordered_json::array(),
                           filtered = nlohmann::ordered_json::array(), names = nlohmann::ordered_json::array();
    for (size_t k = 0; k < requests.size(); ++k) {
      arguments["gen_args_" + std::to_string(k)] = {{"arg_0", requests[k].first}, {"arg_1", requests[k].second}};
      resps.push_back(nlohmann::ordered_json::array({response(ir.choices[k])}));
      filtered.push_back(response(ir.choices[k]));
    }
    for (const auto& [name, value] : metrics.items()) names.push_back(name);
    nlohmann::ordered_json ex;
    ex["doc_id"] = static_cast<int64_t>(i);
    ex["doc"] = doc;
    ex["target"] = target;
    ex["arguments"] = arguments;
    ex["resps"] = resps;
    ex["filtered_resps"] = filtered;
    ex["filter"] = "none";
    ex["metrics"] = names;
    ex["doc_hash"] = sha256_hex(python_json_dumps(doc, 2));
    ex["prompt_hash"] = sha256_hex(requests[0].first);
    ex["target_hash"] = sha256_hex(target);
    for (const auto& [name, value] : metrics.items()) ex[name] = value;
    out.push_back(std::move(ex));
  }
  return out;
}

std::string harness_task_hash(const std::vector<nlohmann::ordered_json>& samples) {
  Sha256 h;
  for (const auto& s : samples)
    h.update(s.at("doc_hash").get<std::string>() + s.at("prompt_hash").get<std::string>() +
             s.at("target_hash").get<std::string>());
  return h.hex();
}

std::string harness_samples_jsonl(const std::vector<nlohmann::ordered_json>& samples) {
  std::string out;
  for (const auto& s : samples) out += python_json_dumps(s) + "\n";
  return out;
}

std::string harness_samples_file_name(const std::string& task, const std::string& date_id) {
  return "samples_" + task + "_" + date_id + ".jsonl";
}

}  // namespace shedder

// Model card and recipe of an export (see model_card.h).
#include "export/model_card.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "model/model.h"
#include "util/error.h"
#include "util/json_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

constexpr const char* kRecipeFormat = "mamba-shedder-recipe";

// A YAML double-quoted scalar.
std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A word safe for sh without quotes, else single-quoted.
std::string sh_quoted(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    plain = plain &&
            (std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-,:=+@%").find(c) != std::string::npos);
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string with_commas(int64_t n) {
  std::string d = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The source's hub id when config.json names one ("_name_or_path": "state-spaces/mamba-130m-hf"), else the folder's
// name.
std::string base_model_name(const nlohmann::json& report, const nlohmann::json& config) {
  const std::string p = config.is_object() ? config.value("_name_or_path", std::string()) : std::string();
  const bool hub_id = !p.empty() && p.find('/') != std::string::npos && p.find('/') == p.rfind('/') && p[0] != '/' &&
                      p[0] != '.' && p.find(' ') == std::string::npos;
  if (hub_id) return p;
  return fs::path(report.value("source", std::string("model"))).filename().string();
}

}  // namespace

std::string export_command(const std::string& source_dir, const std::vector<std::string>& ids,
                           const std::string& out_dir) {
  std::string joined;
  for (const std::string& id : ids) joined += (joined.empty() ? "" : ",") + id;
  return "shedder-cli export " + sh_quoted(source_dir) + " --remove " + sh_quoted(joined) + " --out " +
         sh_quoted(out_dir);
}

std::string model_card(const nlohmann::json& r, const nlohmann::json& config) {
  const std::string base = base_model_name(r, config);
  const std::string arch = r.value("architecture", std::string("mamba"));
  const bool loadable = r.value("transformers_loadable", false);
  const std::vector<std::string> removed = r.value("removed", std::vector<std::string>{});
  const int64_t before = r.value("parameters_before", int64_t(0)), after = r.value("parameters_after", int64_t(0));
  std::ostringstream o;
  o << "---\n"
    << "base_model: " << yaml_quoted(base) << "\n"
    << "library_name: " << (loadable ? "transformers" : "mamba-shedder") << "\n"
    << "pipeline_tag: text-generation\n"
    << "tags:\n- pruned\n- mamba-shedder\n- " << arch << "\n"
    << "---\n\n";
  o << "# " << base << ", pruned\n\n"
    << base << " with " << removed.size() << " component(s) removed by the Mamba Shedder Workbench: structured, "
    << "training-free removal of whole components (after *Mamba-Shedder*, Muñoz, Yuan, Jain, NAACL 2025). "
    << "No weights were retrained for this export.\n\n";
  o << "| | before | after |\n|---|---|---|\n"
    << "| parameters | " << with_commas(before) << " | " << with_commas(after) << " (−"
    << fixed(r.value("parameters_removed_pct", 0.0), 2) << " %) |\n"
    << "| layers | " << r.value("layers_before", int64_t(0)) << " | " << r.value("layers_after", int64_t(0)) << " |\n";
  if (r.contains("perplexity_before") && r.contains("perplexity_after"))
    o << "| perplexity | " << fixed(r["perplexity_before"].get<double>(), 4) << " | "
      << fixed(r["perplexity_after"].get<double>(), 4) << " |\n";
  o << "| weights | " << r.value("dtype", std::string("F32")) << " | " << r.value("dtype", std::string("F32"))
    << " |\n";
  if (r.contains("perplexity_measured_on"))
    o << "\nPerplexity measured on " << r["perplexity_measured_on"].get<std::string>() << ".\n";
  o << "\n## Removed components, in order\n\n";
  for (size_t i = 0; i < removed.size(); ++i) o << i + 1 << ". `" << removed[i] << "`\n";
  o << "\n## Loading\n\n";
  if (loadable)
    o << "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
      << "model = AutoModelForCausalLM.from_pretrained(\"PATH\")\ntokenizer = "
         "AutoTokenizer.from_pretrained(\"PATH\")\n```\n";
  else
    o << "`transformers` cannot load this folder as written ("
      << r.value("note", std::string("see shedding_report.json"))
      << "); `shedder-cli` and the workbench can, e.g. `shedder-cli eval PATH --text FILE`.\n";
  o << "\n## Reproduce\n\n```sh\n"
    << export_command(r.value("source", std::string("MODEL")), removed, "OUT_DIR") << "\n"
    << "# or, from the recipe written beside this card:\n"
    << "shedder-cli export " << sh_quoted(r.value("source", std::string("MODEL")))
    << " --recipe shedding_recipe.json --out OUT_DIR\n```\n\n"
    << "`shedding_report.json` has the details (layer map, pruning config), `pruning_config.json` the reference "
    << "tool's format.\n";
  return o.str();
}

nlohmann::json shedding_recipe(const nlohmann::json& r) {
  nlohmann::json j;
  j["format"] = kRecipeFormat;
  j["version"] = 1;
  j["source"] = r.value("source", std::string());
  j["architecture"] = r.value("architecture", std::string());
  j["removed"] = r.value("removed", nlohmann::json::array());
  j["parameters_after"] = r.value("parameters_after", int64_t(0));
  return j;
}

Recipe read_recipe(const std::string& path, const Model& model) {
  const nlohmann::json j = read_json_file_lenient(path);
  const JsonFields f(j, path);
  if (f.string("format", "") != kRecipeFormat)
    throw Error(path + ": not a shedding recipe (no \"format\": \"" + std::string(kRecipeFormat) + "\")");
  const std::string arch = f.string("architecture", "");
  if (arch != model.arch())
    throw Error(path + ": a recipe for a " + arch + " model; " + model.dir() + " is " + model.arch());
  if (!j.contains("removed") || !j["removed"].is_array() || j["removed"].empty())
    throw Error(path + ": field \"removed\" must be a non-empty list of component ids");
  Recipe rec;
  for (const auto& v : j["removed"]) {
    if (!v.is_string()) throw Error(path + ": field \"removed\" holds a value that is not a component id");
    rec.removed.add(ComponentId::parse(v.get<std::string>()));
  }
  model.plan(rec.removed, path);  // every id exists in this model
  if (f.has("parameters_after")) rec.parameters_after = f.integer("parameters_after", 0, 1);
  return rec;
}

}  // namespace shedder

// `shedder-cli export MODEL (--remove ... | --pruning-config FILE | --journal FILE --step K | --recipe FILE)
// --out DIR`:
// writes the pruned checkpoint (see core/export/exporter.h) with pruning_config.json, shedding_report.json, a model
// card (README.md) and shedding_recipe.json; with --format gguf, one GGUF file for llama.cpp instead
// (core/export/gguf_export.h).
#include <cstdio>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "eval/perplexity.h"
#include "export/exporter.h"
#include "export/gguf_export.h"
#include "export/model_card.h"
#include "shed/journal.h"
#include "shed/search.h"
#include "util/error.h"

namespace shedder::cli {

namespace {

// Removal set after step `k` of a search journal, and the perplexities it recorded.
RemovalSet removal_from_journal(const std::string& path, int64_t k, const Model& model, double* base, double* after) {
  const JournalContents c = Journal::read(path);
  check_journal_model(path, c, model.dir());
  const nlohmann::json& s = c.header.value("search", nlohmann::json::object());
  RemovalSet r;
  if (s.contains("initial_removal") && s["initial_removal"].is_object() && !s["initial_removal"].empty())
    r.add_json(s["initial_removal"], path);
  bool found = false;
  for (const auto& rec : c.records) {
    if (rec.value("type", "") == "base") *base = rec.value("ppl", 0.0);
    if (rec.value("type", "") != "step") continue;
    const int64_t step = rec.value("step", int64_t(-1));
    if (step > k) break;
    if (!rec.contains("removed") || !rec["removed"].is_string())
      throw Error(path + ": step " + std::to_string(step) + " record names no removed component");
    r.add(ComponentId::parse(rec["removed"].get<std::string>()));
    if (step == k) {
      *after = rec.value("ppl", 0.0);
      found = true;
    }
  }
  if (!found) throw Error(path + ": the journal has no step " + std::to_string(k));
  return r;
}

// --format gguf: one GGUF file at --out; the perplexities in `o`, when measured, are printed with the result.
int write_gguf(const Model& model, const RemovalSet& removed, const ExportOptions& o, const Args& args, bool json) {
  GgufExportOptions g;
  g.out_path = o.out_dir;
  g.force = o.force;
  g.type = args.get("gguf-type");
  g.expect_params_after = o.expect_params_after;
  const GgufExportResult r = export_gguf(model, removed, g);
  if (json) {
    nlohmann::json j{{"format", "gguf"}, {"file", g.out_path}, {"architecture", model.arch()},
                     {"type", ggml_type_name(r.type)}, {"removed", removed.ids()},
                     {"layers_before", model.num_layers()}, {"layers_after", r.layers_after},
                     {"parameters_before", r.params_before}, {"parameters_after", r.params_after},
                     {"bytes", r.bytes}, {"tensors", r.tensors}, {"metadata_keys", r.kvs},
                     {"pass_through_ssm_layers", r.pass_through_ssm_layers}};
    if (o.ppl_before) j["perplexity_before"] = *o.ppl_before;
    if (o.ppl_after) j["perplexity_after"] = *o.ppl_after;
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("exported %s -> %s (GGUF, llama.cpp architecture %s, %s, %llu bytes)\n", model.dir().c_str(),
              g.out_path.c_str(), model.arch(), ggml_type_name(r.type), static_cast<unsigned long long>(r.bytes));
  std::printf("removed %zu component(s); layers %lld -> %lld; parameters %lld -> %lld\n", removed.ids().size(),
              static_cast<long long>(model.num_layers()), static_cast<long long>(r.layers_after),
              static_cast<long long>(r.params_before), static_cast<long long>(r.params_after));
  if (o.ppl_before && o.ppl_after) std::printf("perplexity %.4f -> %.4f\n", *o.ppl_before, *o.ppl_after);
  if (!r.pass_through_ssm_layers.empty())
    std::printf("note: %zu layer(s) keep their block without SSM; their SSM is written as a pass-through (zeros, "
                "D = 1)\n", r.pass_through_ssm_layers.size());
  return 0;
}

}  // namespace

const CommandSpec& export_spec() {
  static const CommandSpec spec{
      "export", "MODEL", "write the pruned checkpoint: a model folder without the removed components",
      "Every architecture. Removed layers are dropped and the rest renumbered (a plain MambaForCausalLM / "
      "Mamba2ForCausalLM / Zamba2ForCausalLM ... checkpoint); removed SSMs lose their dead weights and config.json "
      "lists those layers in shedder_layers_without_ssm; removed attention heads, MLP channels and SSM heads are cut "
      "out of the matrices. Weights keep the checkpoint's dtype. When transformers cannot read the result as written "
      "(layers without SSM, per-block head counts), shedding_report.json says so (transformers_loadable, note) and "
      "shedder-cli still loads it. pruning_config.json and shedding_report.json (removed components, layer map, "
      "parameters and perplexity before and after) are written beside the weights, with a Hugging Face model card "
      "(README.md: base_model, tags, the removed components in order, parameters and perplexity before and after, "
      "the command that reproduces the export) and shedding_recipe.json, which --recipe replays. The folder is "
      "written to a temporary sibling and renamed into place.\n\n"
      "The components come from --remove / --pruning-config, or from a search journal: --journal FILE --step K "
      "takes what the search had removed after step K (and its perplexities).\n\n"
      "--format gguf writes one GGUF file for llama.cpp instead (Mamba-1 and Mamba-2; see docs/export.md).",
      join(join(removal_options(), model_options()),
           {opt("journal", "FILE", "", "a search's journal.jsonl (with --step)"),
            opt("recipe", "FILE", "", "replay an export's shedding_recipe.json (the same components; the parameter "
                                      "count must come out as recorded)"),
            opt("step", "K", "", "with --journal: export the removal set after step K (from 0)"),
            opt("out", "DIR", "", "the folder to write (required); with --format gguf the .gguf file"),
            flag("force", "replace an existing --out folder (with --format gguf: an existing GGUF file)"),
            opt("format", "folder|gguf", "folder",
                "folder: a model folder (safetensors); gguf: one GGUF file for llama.cpp (Mamba-1 and Mamba-2: "
                "llama.cpp's mamba / mamba2 architectures, with the tokenizer; a removed SSM is written as one that "
                "passes its input through; what llama.cpp cannot compute is refused with the reason)"),
            opt("gguf-type", "auto|f32|f16|bf16", "auto",
                "with --format gguf: the type of the matrices (norms, conv weights, biases, A and D stay f32); auto: "
                "the checkpoint's dtype"),
            multi("eval-text", "FILE...", "measure perplexity before and after on these text or JSONL files"),
            opt("eval-tokens", "FILE.safetensors[:TENSOR]", "",
                "measure perplexity before and after on these pre-tokenized windows"),
            opt("seq-len", "N", "512", "tokens per --eval-text window"),
            opt("max-windows", "N", "0", "measure on the first N windows; 0: all of them"),
            opt("batch", "N", "1", "windows per forward pass of the measurement"),
            opt("results-before", "FILE", "",
                "an lm-evaluation-harness results file of the source model (accuracy --output-path or lm_eval): "
                "the card shows each task's accuracy before and after (with --results-after)"),
            opt("results-after", "FILE", "", "the harness results file of the pruned model (with --results-before)")})};
  return spec;
}

int cmd_export(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "export");
  if (!args.has("out")) throw Error("export: --out DIR is required");
  const bool by_journal = args.has("journal"), by_recipe = args.has("recipe");
  const int sources = int(by_journal) + int(by_recipe) + int(args.has("remove") || args.has("pruning-config"));
  if (sources > 1)
    throw Error("export: give one of --journal FILE --step K, --recipe FILE or --remove/--pruning-config");
  if (by_journal != args.has("step")) throw Error("export: --journal and --step go together");
  const std::string format = args.get("format");
  if (format != "folder" && format != "gguf") throw Error("export: --format must be folder or gguf (got '" + format + "')");
  if (args.has("gguf-type") && format != "gguf") throw Error("export: --gguf-type goes with --format gguf");
  if (sources == 0 && format != "gguf")  // a GGUF file of the whole model is a conversion worth having
    throw Error(
        "export: nothing to remove (give --remove, --pruning-config, --recipe FILE or --journal FILE --step K)");

  auto model = load_model(dir, common, &args);
  ExportOptions o;
  o.out_dir = args.get("out");
  o.force = args.flag("force");
  RemovalSet removed;
  if (by_journal) {
    double base = 0, after = 0;
    removed = removal_from_journal(args.get("journal"), args.get_int("step"), *model, &base, &after);
    o.ppl_before = base;
    o.ppl_after = after;
    o.ppl_source = "search calibration windows (" + args.get("journal") + ")";
  } else if (by_recipe) {
    const Recipe recipe = read_recipe(args.get("recipe"), *model);
    removed = recipe.removed;
    o.expect_params_after = recipe.parameters_after;
  } else {
    removed = removal_from_args(*model, args);
  }
  if (args.has("eval-text") || args.has("eval-tokens")) {
    const at::Tensor w = load_windows(*model, args, "eval-", args.get_int("seq-len"), args.get_int("max-windows"),
                                      false, 0, &o.ppl_source);
    const int64_t batch = args.get_int("batch");
    o.ppl_before = evaluate_perplexity(*model, w, batch, {}, stderr_progress("eval before")).perplexity;
    o.ppl_after = evaluate_perplexity(*model, w, batch, removed, stderr_progress("eval after")).perplexity;
  }
  if (format == "gguf") return write_gguf(*model, removed, o, args, common.json);
  o.pruning_extra = removal_context(*model, removed);
  // Accuracy before/after for the card: the results files, else the journal's per-step measurements.
  o.report_extra = export_accuracy(by_journal ? args.get("journal") : "", by_journal ? args.get_int("step") : 0,
                                   args.get("results-before"), args.get("results-after"));
  const ExportResult r = export_pruned(*model, removed, o);
  if (common.json) {
    std::cout << r.report.dump() << "\n";
    return 0;
  }
  std::printf("exported %s -> %s\n", dir.c_str(), o.out_dir.c_str());
  std::printf("removed %zu component(s); layers %lld -> %lld; parameters %lld -> %lld (%.2f%% removed)\n",
              removed.ids().size(), static_cast<long long>(model->num_layers()),
              static_cast<long long>(r.layers_after), static_cast<long long>(r.params_before),
              static_cast<long long>(r.params_after),
              100.0 * static_cast<double>(r.params_before - r.params_after) / static_cast<double>(r.params_before));
  if (o.ppl_before && o.ppl_after) std::printf("perplexity %.4f -> %.4f\n", *o.ppl_before, *o.ppl_after);
  if (!r.report.value("transformers_loadable", false))
    std::printf("note: transformers cannot load this folder as written (%s); shedder-cli can\n",
                r.report.value("note", std::string("see shedding_report.json")).c_str());
  return 0;
}

}  // namespace shedder::cli

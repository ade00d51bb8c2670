// `shedder-cli hybrid info|eval|search|export MODEL ...`: the hybrid SSM-attention models (Zamba2, Hymba) with
// their finer components (hybrid blocks, SSMs, shared transformer uses, attention branches and head groups, MLPs and
// their channel groups, SSM head groups), on the CPU.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "eval/token_windows.h"
#include "model/hybrid_model.h"
#include "shed/removal_set.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder::cli {

namespace {

void print_tree(const Component& c, int depth, double total) {
  if (depth > 0)
    std::printf("%*s%-*s %-14s %12lld %7.2f%%%s\n", 2 * (depth - 1), "", 34 - 2 * (depth - 1), c.id.c_str(),
                component_kind_name(c.kind), static_cast<long long>(c.parameters),
                100.0 * static_cast<double>(c.parameters) / total,
                c.count > 0 ? ("  (" + std::to_string(c.count) + ")").c_str() : "");
  for (const auto& ch : c.children) print_tree(ch, depth + 1, total);
}

at::Tensor windows_from(const HybridModel& m, const Args& args) {
  const long long max_windows = args.get_int("max-windows");
  if (args.has("tokens") == args.has("text"))
    throw Error("hybrid: give exactly one of --tokens FILE.safetensors[:TENSOR] and --text FILE...");
  if (args.has("tokens")) return load_token_windows(args.get("tokens"), m.vocab_size(), max_windows);
  if (!m.tokenizer())
    throw Error((fs::path(m.dir()) / "tokenizer.json").string() + ": missing; use pre-tokenized input (--tokens FILE)");
  const auto eos = m.tokenizer()->eos_id();
  return make_token_windows(*m.tokenizer(), read_documents(args.all("text")), eos ? *eos : 0,
                            args.get_int("seq-len"), max_windows, "--text");
}

HybridRemoval removal_from(const HybridModel& m, const Args& args) {
  HybridRemoval r;
  for (const std::string& spec : args.all("remove")) r.add_spec(spec);
  m.check_removal(r, "--remove");
  return r;
}

const char* const kSubcommands = "info|eval|search|export";
const char* const kGranularities = "block|ssm|shared|attn|mlp|head|channel|ssm-head";

bool is_subcommand(const std::string& s) {
  return !s.empty() && s.find('|') == std::string::npos &&
         ("|" + std::string(kSubcommands) + "|").find("|" + s + "|") != std::string::npos;
}

}  // namespace

const CommandSpec& hybrid_spec() {
  static const CommandSpec spec{
      "hybrid", std::string(kSubcommands) + " MODEL",
      "Zamba2 and Hymba hybrid models (on the CPU), their components named by id",
      "info: the component tree with every id. eval: perplexity with --remove ID,... removed. search: the "
      "reference's greedy perplexity loop over one --granularity (with --out DIR a journal that --resume continues; "
      "search_result.json and pruning_config.json). export: the pruned model folder, with heads, KV heads, channels "
      "and SSM weights cut out physically.\n\n"
      "Ids: layers.N (the block), layers.N.ssm, layers.N.attn and layers.N.mlp (Hymba), layers.N.shared (Zamba2: "
      "this layer's use of its shared transformer block), shared.K.attn.heads.G / layers.N.attn.heads.G (one KV head "
      "with its query heads), shared.K.mlp.channels.C / layers.N.mlp.channels.C (a group of MLP channels) and "
      "layers.N.ssm.heads.S (Hymba: an SSM head).",
      {opt("tokens", "FILE.safetensors[:TENSOR]", "", "eval, search: pre-tokenized windows (this or --text)"),
       multi("text", "FILE...", "eval, search: text or JSONL files, tokenized with the model's tokenizer.json"),
       opt("seq-len", "N", "512", "tokens per --text window"),
       opt("max-windows", "N", "0", "use the first N windows; 0: all of them"),
       opt("batch", "N", "1", "windows per forward pass"),
       multi("remove", "ID,...", "components to remove (eval, export) or removed before the search starts"),
       opt("granularity", kGranularities, "block", "search: the kind of component removed"),
       opt("steps", "N", "1", "search: removals"),
       opt("out", "DIR", "", "export: the folder to write (required); search: the folder for the journal and results"),
       flag("force", "export: replace an existing folder"),
       opt("channel-group", "G", "0", "MLP channels per group; 0: I/16 rounded to a power of two in [16, 128]"),
       flag("reorder-channels", "first sort every MLP's channels by the reference's importance (the function is "
                                "unchanged)"),
       flag("mlp-tail-groups", "make each MLP's last channel group its only channel candidate (with "
                               "--reorder-channels: the reference's width search)"),
       flag("resume", "search: continue the journal in --out")}};
  return spec;
}

int cmd_hybrid(const Args& args) {
  const auto& pos = args.positional();
  if (pos.empty())
    throw Error(std::string("hybrid: give a subcommand: ") + kSubcommands + " (shedder-cli hybrid info MODEL)");
  const std::string sub = pos[0];
  if (!is_subcommand(sub)) throw Error("hybrid: unknown subcommand '" + sub + "' (" + kSubcommands + ")");
  const CommonOptions common = apply_common(args);
  // The hybrid models compute on the CPU: --device auto means the CPU here, an explicit GPU is refused.
  if (common.device.rfind("cpu", 0) != 0 && args.get("device") != "auto")
    throw Error("hybrid: these models run on the CPU only (--device cpu or auto)");
  if (pos.size() < 2) throw Error("hybrid " + sub + ": missing MODEL folder argument");
  if (pos.size() > 2) throw Error("hybrid " + sub + ": unexpected argument '" + pos[2] + "'");
  const std::string dir = pos[1];
  HybridLoadOptions lo;
  lo.mlp_channel_group = args.get_int("channel-group");
  lo.mlp_tail_groups = args.flag("mlp-tail-groups");
  std::shared_ptr<HybridModel> m = load_hybrid_model(dir, lo);
  if (args.flag("reorder-channels")) m->reorder_mlp_channels();
  const HybridRemoval removed = removal_from(*m, args);

  if (sub == "info") {
    const Component tree = m->component_tree();
    if (common.json) {
      std::cout << nlohmann::json{{"model", dir}, {"architecture", m->arch()}, {"parameters", m->total_parameters()},
                                  {"mlp_channel_group", m->mlp_channel_group()}, {"tree", component_to_json(tree)}}
                       .dump(2)
                << "\n";
      return 0;
    }
    std::printf("model        %s\narchitecture %s\nparameters   %lld\nMLP channel groups of %lld\n\n", dir.c_str(),
                m->arch(), static_cast<long long>(m->total_parameters()), static_cast<long long>(m->mlp_channel_group()));
    print_tree(tree, 0, static_cast<double>(tree.parameters));
    return 0;
  }
  if (sub == "export") {
    const std::string out = args.get("out");
    if (out.empty()) throw Error("hybrid export: --out DIR is required");
    m->export_pruned(removed, out, args.flag("force"));
    const int64_t gone = m->removed_parameters(removed);
    if (common.json)
      std::cout << nlohmann::json{{"out", out}, {"params_before", m->total_parameters()},
                                  {"params_after", m->total_parameters() - gone}, {"removed", removed.ids}}
                       .dump(2)
                << "\n";
    else
      std::printf("wrote %s: %lld -> %lld parameters\n", out.c_str(), static_cast<long long>(m->total_parameters()),
                  static_cast<long long>(m->total_parameters() - gone));
    return 0;
  }
  const at::Tensor windows = windows_from(*m, args);
  const int64_t batch = args.get_int("batch");
  if (sub == "eval") {
    const double ppl = hybrid_perplexity(*m, windows, removed, batch);
    if (common.json)
      std::cout << nlohmann::json{{"perplexity", ppl}, {"windows", windows.size(0)}, {"tokens", windows.numel()},
                                  {"params_removed", m->removed_parameters(removed)}}
                       .dump(2)
                << "\n";
    else
      std::printf("perplexity %.4f over %lld windows of %lld tokens\n", ppl, static_cast<long long>(windows.size(0)),
                  static_cast<long long>(windows.size(1)));
    return 0;
  }
  // search
  const auto g = parse_hybrid_granularity(args.get("granularity"));
  if (!g)
    throw Error("hybrid search: unknown --granularity '" + args.get("granularity") + "' (" + kGranularities + ")");
  // With --out, a journal (OUT/journal.jsonl) makes the search resumable (--resume).
  HybridJournalOptions jo;
  if (args.flag("resume") && !args.has("out")) throw Error("hybrid search: --resume needs the --out folder of the run");
  if (args.has("out")) {
    std::error_code ec;
    fs::create_directories(args.get("out"), ec);
    if (ec) throw Error(args.get("out") + ": cannot create folder: " + ec.message());
    jo.path = (fs::path(args.get("out")) / "journal.jsonl").string();
    jo.resume = args.flag("resume");
    if (!jo.resume && fs::exists(jo.path, ec))
      throw Error(jo.path + ": this folder already holds a search journal; continue it with --resume or use a new --out");
    jo.settings = {{"reorder_channels", args.flag("reorder-channels")}, {"mlp_tail_groups", args.flag("mlp-tail-groups")}};
  }
  const HybridSearchResult res =
      run_hybrid_search(*m, windows, *g, args.get_int("steps"), removed, batch, {}, nullptr, jo);
  const nlohmann::json j = res.to_json(*g, m->mlp_channel_group());
  if (args.has("out")) {
    write_file_atomic((fs::path(args.get("out")) / "search_result.json").string(), j.dump(2) + "\n");
    write_file_atomic((fs::path(args.get("out")) / "pruning_config.json").string(),
                      res.removed.to_json(m->mlp_channel_group()).dump(2) + "\n");
  }
  if (common.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("base perplexity %.4f (%lld parameters)\n", res.base_ppl, static_cast<long long>(res.total_params));
  for (size_t i = 0; i < res.steps.size(); ++i)
    std::printf("step %zu: removed %-28s ppl %.4f  params removed %lld (%.2f%%)\n", i, res.steps[i].removed.c_str(),
                res.steps[i].ppl, static_cast<long long>(res.steps[i].params_removed),
                100.0 * static_cast<double>(res.steps[i].params_removed) / static_cast<double>(res.total_params));
  return 0;
}

}  // namespace shedder::cli

// `shedder-cli info MODEL [--json]`: architecture, configuration, parameter counts and layer tree.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "model/component_tree.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& info_spec() {
  static const CommandSpec spec{
      "info", "MODEL", "architecture, configuration, parameter counts and the layer tree",
      "The layer tree names every component by the id the other commands take: layers.N (a block), layers.N.ssm "
      "(its SSM) and layers.N.ssm.heads (Mamba-2 SSM head groups), with parameters and share of the model.",
      {}};
  return spec;
}

int cmd_info(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "info");
  auto model = load_model(dir, common);
  const ModelConfig& c = model->config();
  const Component tree = build_component_tree(*model);
  if (common.json) {
    nlohmann::json j;
    j["model"] = dir;
    j["architecture"] = arch_name(c.arch);
    j["layout"] = c.layout == WeightLayout::HuggingFace ? "huggingface" : "mamba_ssm";
    j["weights"] = model->weight_files();
    j["dtype"] = model->source_dtype();
    j["config"] = c.to_hf_json();
    j["parameters"] = model->params().total;
    j["tokenizer"] = model->has_tokenizer();
    j["tree"] = component_to_json(tree);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model        %s\n", dir.c_str());
  std::printf("architecture %s (%s layout)\n", c.arch == Arch::Mamba1 ? "Mamba-1 (MambaForCausalLM)"
                                                                     : "Mamba-2 (Mamba2ForCausalLM)",
              c.layout == WeightLayout::HuggingFace ? "Hugging Face" : "mamba_ssm");
  std::printf("weights      %s, %s\n", model->weight_files().c_str(), model->source_dtype().c_str());
  std::printf("tokenizer    %s\n", model->has_tokenizer() ? "tokenizer.json" : "none");
  std::printf("layers %lld, hidden %lld, inner %lld, state %lld, conv %lld, vocab %lld",
              static_cast<long long>(c.num_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.intermediate_size), static_cast<long long>(c.state_size),
              static_cast<long long>(c.conv_kernel), static_cast<long long>(c.padded_vocab));
  if (c.arch == Arch::Mamba2)
    std::printf(", heads %lld x %lld, groups %lld", static_cast<long long>(c.num_heads),
                static_cast<long long>(c.head_dim), static_cast<long long>(c.n_groups));
  else
    std::printf(", dt rank %lld", static_cast<long long>(c.time_step_rank));
  std::printf("\nparameters   %lld (%.2f M)%s\n\n", static_cast<long long>(model->params().total),
              static_cast<double>(model->params().total) / 1e6, c.tie_word_embeddings ? ", tied embeddings" : "");
  std::printf("%-24s %-6s %14s %8s\n", "component", "kind", "parameters", "% model");
  const double total = static_cast<double>(tree.parameters);
  for (const auto& blk : tree.children) {
    std::printf("%-24s %-6s %14lld %7.2f%%\n", blk.id.c_str(), component_kind_name(blk.kind),
                static_cast<long long>(blk.parameters), 100.0 * static_cast<double>(blk.parameters) / total);
    for (const auto& ch : blk.children) {
      std::printf("  %-22s %-6s %14lld %7.2f%%\n", ch.id.c_str(), component_kind_name(ch.kind),
                  static_cast<long long>(ch.parameters), 100.0 * static_cast<double>(ch.parameters) / total);
      for (const auto& g : ch.children)
        std::printf("    %-20s %-6s %14lld %7.2f%%  (%lld heads)\n", g.id.c_str(), component_kind_name(g.kind),
                    static_cast<long long>(g.parameters), 100.0 * static_cast<double>(g.parameters) / total,
                    static_cast<long long>(g.count));
    }
  }
  return 0;
}

}  // namespace shedder::cli

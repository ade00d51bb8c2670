// `shedder-cli info MODEL [--json]`: architecture, configuration, parameter counts and the component tree, for every
// architecture.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "model/component_tree.h"
#include "util/error.h"

namespace shedder::cli {

namespace {

void print_tree(const Component& c, int depth, double total) {
  if (depth > 0) {
    const int indent = 2 * (depth - 1);
    std::printf("%*s%-*s %-14s %14lld %7.2f%%", indent, "", 36 - indent, c.id.c_str(), component_kind_name(c.kind),
                static_cast<long long>(c.parameters), 100.0 * static_cast<double>(c.parameters) / total);
    if (c.count > 0) std::printf("  (%lld)", static_cast<long long>(c.count));
    std::printf("\n");
  }
  for (const auto& ch : c.children) print_tree(ch, depth + 1, total);
}

}  // namespace

const CommandSpec& info_spec() {
  static const CommandSpec spec{
      "info", "MODEL", "architecture, configuration, parameter counts and the component tree",
      "The component tree names every component by the id the other commands take, with the parameters that go "
      "when it is removed and its share of the model: layers.N (a layer), layers.N.ssm (its SSM); Mamba-2: "
      "layers.N.ssm.heads.H (an SSM head), layers.N.mixer.channels.C (a group of positions of the head dimension) "
      "and layers.N.ssm.state.J (a chunk of state dimensions); Mamba-1: "
      "layers.N.mixer.channels.C (a group of inner channels) and layers.N.ssm.state.J; Zamba2: "
      "layers.N.shared (a layer's use of its shared block), shared.K.attn.heads.G and shared.K.mlp.channels.C; "
      "Hymba: layers.N.attn, layers.N.mlp, layers.N.attn.heads.G, layers.N.mlp.channels.C and layers.N.ssm.heads.S. "
      "--json adds the granularities the search takes for this model.",
      model_options()};
  return spec;
}

int cmd_info(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "info");
  auto model = load_model(dir, common, &args);
  const Component tree = model->component_tree();
  if (common.json) {
    nlohmann::json j;
    j["model"] = dir;
    j["architecture"] = model->arch();
    j["description"] = model->description();
    j["weights"] = model->weight_files();
    j["dtype"] = model->source_dtype();
    j["config"] = model->summary();
    j["parameters"] = model->total_parameters();
    j["tokenizer"] = model->has_tokenizer();
    j["granularities"] = nlohmann::json::array();
    for (Granularity g : model->granularities()) j["granularities"].push_back(granularity_name(g));
    if (model->has_granularity(Granularity::MlpChannels)) j["mlp_channel_group"] = model->mlp_channel_group();
    j["tree"] = component_to_json(tree);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model        %s\n", dir.c_str());
  std::printf("architecture %s\n", model->description().c_str());
  std::printf("weights      %s, %s\n", model->weight_files().c_str(), model->source_dtype().c_str());
  std::printf("tokenizer    %s\n", model->has_tokenizer() ? "tokenizer.json" : "none");
  std::printf("parameters   %lld (%.2f M)\n", static_cast<long long>(model->total_parameters()),
              static_cast<double>(model->total_parameters()) / 1e6);
  std::printf("search       --granularity %s", granularity_names(model->granularities(), "|").c_str());
  if (model->has_granularity(Granularity::MlpChannels))
    std::printf(" (MLP channel groups of %lld)", static_cast<long long>(model->mlp_channel_group()));
  std::printf("\n\n%-36s %-14s %14s %8s\n", "component", "kind", "parameters", "% model");
  print_tree(tree, 0, static_cast<double>(tree.parameters));
  return 0;
}

}  // namespace shedder::cli

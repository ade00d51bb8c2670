// Shared option handling and progress output of shedder-cli (see common.h).
#include "common.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "runtime/device.h"
#include "runtime/threads.h"
#include "shed/journal.h"
#include "util/error.h"
#include "util/json_util.h"

namespace shedder::cli {

CommonOptions apply_common(const Args& args) {
  CommonOptions o;
  const long long threads = args.get_int("threads");
  if (threads < 0 || threads > 1024) throw Error("--threads must be between 0 (all cores) and 1024");
  o.threads = static_cast<int>(threads);
  o.threads = configure_threads(o.threads);
  const at::Device d = parse_device(args.get("device"));
  o.device = d.str();
  o.dtype = args.get("dtype");
  resolve_compute_dtype(o.dtype, d, "F32");  // rejects a bad --dtype before any work
  o.json = args.flag("json");
  return o;
}

std::vector<OptionSpec> model_options() {
  return {opt("channel-group", "G", "0",
              "channels per channel group: Zamba2's and Hymba's MLP channels (layers.N.mlp.channels.C, "
              "shared.K.mlp.channels.C), Mamba-1's inner channels (layers.N.mixer.channels.C); 0: I/16 rounded to a "
              "power of two in [16, 128]. Mamba-2: positions of the head dimension (layers.N.mixer.channels.C, in "
              "every head); 0: head_dim / 8"),
          opt("state-step", "S", "0",
              "Mamba-1, Mamba-2: state dimensions per state chunk (layers.N.ssm.state.J, in the order of the L1 norms "
              "of their B and C rows); 0: state_size / 8"),
          flag("reorder-channels",
               "Zamba2, Hymba: first sort every MLP's channels by the reference's importance; Mamba-1: every mixer's "
               "inner channels likewise (L1 of their x and z rows). The function is unchanged; channel groups then "
               "hold channels of similar importance"),
          flag("mlp-tail-groups",
               "the reference's width search: each MLP's (Zamba2, Hymba) or mixer's (Mamba-1) last channel group is "
               "its only channel candidate (with --reorder-channels: the least important), and each Mamba-2 layer's "
               "least important head (L1 of its x and z rows) its only head candidate")};
}

namespace {

bool takes(const Args& args, const char* name) {
  for (const auto& o : args.spec().options)
    if (o.name == name) return true;
  return false;
}

// The channel grouping a --pruning-config (or an export's --journal) records for its ids, merged into `lo` (the
// command line may repeat it; a contradiction is an error naming the file).
void apply_recorded_grouping(const Args& args, LoadOptions& lo) {
  nlohmann::json j;
  std::string path;
  if (takes(args, "pruning-config") && args.has("pruning-config")) {
    path = args.get("pruning-config");
    j = read_json_file_lenient(path);
  } else if (takes(args, "journal") && args.has("journal")) {
    path = args.get("journal");
    j = Journal::read(path).header.value("search", nlohmann::json::object());
  }
  if (!j.is_object()) return;  // reported where the removal set is read
  // A size the ids depend on: taken from the file, and a different one on the command line is refused.
  auto recorded = [&](const char* key, const char* option, const char* ids, const char* unit, int64_t& value) {
    if (!j.contains(key) || !j[key].is_number_integer()) return;
    const int64_t v = j[key].get<int64_t>();
    if (args.has(option) && value != v)
      throw Error(path + ": its " + ids + " of " + std::to_string(v) + " " + unit + ", not --" + option + " " +
                  std::to_string(value));
    value = v;
  };
  recorded("mlp_channel_group", "channel-group", "channel ids refer to groups", "channels", lo.mlp_channel_group);
  if (j.contains("mlp_channels_reordered") && j["mlp_channels_reordered"] == true) lo.reorder_mlp_channels = true;
  recorded("state_step", "state-step", "state chunk ids refer to chunks", "dimensions", lo.state_step);
}

}  // namespace

std::shared_ptr<Model> load_model(const std::string& dir, const CommonOptions& common, const Args* args) {
  LoadOptions lo;
  lo.device = common.device;
  lo.dtype = common.dtype;
  if (args && takes(*args, "channel-group")) {
    const long long g = args->get_int("channel-group");
    if (g < 0) throw Error("--channel-group must be >= 0 (0: the default size)");
    lo.mlp_channel_group = g;
    lo.reorder_mlp_channels = args->flag("reorder-channels");
    lo.mlp_tail_groups = args->flag("mlp-tail-groups");
    const long long st = args->get_int("state-step");
    if (st < 0) throw Error("--state-step must be >= 0 (0: state_size / 8)");
    lo.state_step = st;
    apply_recorded_grouping(*args, lo);
  }
  return Model::load(dir, lo);
}

std::string model_arg(const Args& args, const char* command) {
  if (args.positional().empty()) throw Error(std::string(command) + ": missing MODEL folder argument");
  if (args.positional().size() > 1)
    throw Error(std::string(command) + ": unexpected argument '" + args.positional()[1] + "'");
  return args.positional()[0];
}

void install_cancel_signals(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void restore_cancel_signals() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

ProgressFn stderr_progress(const std::string& label) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  return [label, tty](const Progress& p) {
    const bool last = p.done >= p.total;
    if (!tty && !last) return;
    std::fprintf(stderr, "%s%s: %lld/%lld  %.1fs elapsed", tty ? "\r" : "", label.c_str(),
                 static_cast<long long>(p.done), static_cast<long long>(p.total), p.elapsed_s);
    if (p.eta_s >= 0 && !last) std::fprintf(stderr, ", ETA %.1fs   ", p.eta_s);
    if (last) std::fprintf(stderr, "   \n");
    std::fflush(stderr);
  };
}

}  // namespace shedder::cli

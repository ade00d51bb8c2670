// Pieces every shedder-cli command shares: the common options (--threads, --device, --dtype, --json),
// model loading (every architecture, through Model::load) with the model options, and progress lines on stderr.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "options.h"
#include "runtime/progress.h"
#include "model/model.h"

namespace shedder::cli {

// Applies --threads, resolves --device (cpu, cuda, cuda:N, auto: an error when it does not exist here) and
// checks --dtype; returns the parsed common options.
CommonOptions apply_common(const Args& args);
// The table entries of the model options: channel groups (--channel-group: the hybrids' MLPs, Mamba-1 mixers;
// --reorder-channels, --mlp-tail-groups) and pure Mamba models' state chunks (--state-step).
std::vector<OptionSpec> model_options();
// Loads a model folder (any architecture) onto the chosen device in the chosen dtype. With `args` of a command that
// takes model_options(), those apply; a --pruning-config that records the channel grouping its ids refer to
// (mlp_channel_group, mlp_channels_reordered, state_step) supplies what the command line leaves out, and contradicting it is an
// error.
std::shared_ptr<Model> load_model(const std::string& dir, const CommonOptions& common, const Args* args = nullptr);
// The single MODEL positional argument (Error when missing or repeated).
std::string model_arg(const Args& args, const char* command);
// Routes SIGINT and SIGTERM to `handler` (which should only set a CancelToken) and unblocks them: a signal
// mask inherited from the launcher (some supervisors and test harnesses block SIGTERM) would otherwise keep
// Ctrl-C / kill from ever reaching the run. `restore_cancel_signals` puts the defaults back.
void install_cancel_signals(void (*handler)(int));
void restore_cancel_signals();
// Progress printer writing one updating line to stderr (nothing when stderr is not a terminal,
// except the final line).
ProgressFn stderr_progress(const std::string& label);

}  // namespace shedder::cli

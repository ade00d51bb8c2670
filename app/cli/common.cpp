// Shared option handling and progress output of shedder-cli (see common.h).
#include "common.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "runtime/device.h"
#include "runtime/threads.h"
#include "util/error.h"

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

std::shared_ptr<MambaModel> load_model(const std::string& dir, const CommonOptions& common) {
  LoadOptions lo;
  lo.device = common.device;
  lo.dtype = common.dtype;
  return MambaModel::load(dir, lo);
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

// `shedder-cli launch --nproc N [--master-port P] [--] COMMAND ARGS...`: runs N copies of a shedder-cli
// command on this host as one distributed group (the one-host launcher; torchrun or Slurm's srun do the same
// job across hosts). Each copy gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and
// MASTER_PORT (a free port unless given). SIGINT/SIGTERM are passed on to every copy; when one copy fails the
// others are stopped. The exit status is 0 when all succeed, else that of the first failure (128 + signal).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "util/error.h"

namespace shedder::cli {
namespace {

std::vector<pid_t> g_children;
volatile sig_atomic_t g_forwarded = 0;

void forward_signal(int sig) {
  g_forwarded = sig;
  for (pid_t p : g_children)
    if (p > 0) ::kill(p, sig);
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("launch: cannot open a socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  if (port <= 0) throw Error("launch: cannot find a free port (give --master-port P)");
  return port;
}

long parse_number(const std::string& v, const char* opt, long lo, long hi) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || !end || *end || x < lo || x > hi)
    throw Error(std::string("launch: ") + opt + " must be a number in " + std::to_string(lo) + ".." + std::to_string(hi) +
                " (got '" + v + "')");
  return x;
}

}  // namespace

const CommandSpec& launch_spec() {
  static const CommandSpec spec{
      "launch", "[--] COMMAND ARGS...",
      "N copies of a shedder-cli command as one distributed group on this host",
      "Each copy gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT; this is "
      "the one-host launcher (torchrun or Slurm's srun do the same job across hosts), e.g. launch --nproc 2 -- search "
      "MODEL --calib-tokens calib.safetensors --device cuda. SIGINT and SIGTERM are passed on to every copy; when one "
      "copy fails the others are stopped. The exit status is 0 when all succeed, else that of the first failure.",
      {opt("nproc", "N", "", "processes to start, 1 to 1024 (required)"),
       opt("master-port", "P", "a free port", "the rendezvous port")},
      /*common=*/false,
      /*passthrough=*/true};
  return spec;
}

int cmd_launch(const Args& args) {
  if (!args.has("nproc")) throw Error("launch: --nproc N is required (processes to start on this host)");
  const long nproc = parse_number(args.get("nproc"), "--nproc", 1, 1024);
  long port = args.has("master-port") ? parse_number(args.get("master-port"), "--master-port", 1, 65535) : 0;
  const std::vector<std::string>& cmd = args.rest();
  if (cmd.empty()) throw Error("launch: no command to run (e.g. launch --nproc 2 -- search MODEL ...)");
  if (cmd[0] == "launch") throw Error("launch: the command cannot be another launch");
  if (port == 0) port = free_port();

  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) throw Error("launch: cannot find this program's path (/proc/self/exe)");
  exe[n] = '\0';

  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), cmd.begin(), cmd.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::fprintf(stderr, "launch: %ld processes, MASTER_ADDR=127.0.0.1 MASTER_PORT=%ld: %s\n", nproc, port, cmd[0].c_str());
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  g_children.assign(static_cast<size_t>(nproc), -1);
  for (long r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      forward_signal(SIGTERM);
      throw Error(std::string("launch: fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execv(exe, argv.data());
      std::fprintf(stderr, "launch: cannot run %s: %s\n", exe, std::strerror(errno));
      ::_exit(127);
    }
    g_children[static_cast<size_t>(r)] = pid;
  }
  int status_out = 0;
  long running = nproc;
  while (running > 0) {
    int st = 0;
    const pid_t p = ::waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    long rank = -1;
    for (long r = 0; r < nproc; ++r)
      if (g_children[static_cast<size_t>(r)] == p) rank = r;
    if (rank < 0) continue;
    g_children[static_cast<size_t>(rank)] = -1;
    --running;
    const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (code != 0 && status_out == 0) {
      status_out = code;
      if (running > 0) {
        if (!g_forwarded) std::fprintf(stderr, "launch: rank %ld exited with status %d; stopping the others\n", rank, code);
        forward_signal(SIGTERM);
      }
    }
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return status_out;
}

}  // namespace shedder::cli

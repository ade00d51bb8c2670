// Locates the resources folder (see resources.h).
#include "runtime/resources.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace shedder {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0;
}

std::string exe_dir() {
  std::vector<char> buf(4096);
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return {};
  std::string path(buf.data(), static_cast<size_t>(n));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

std::string resources_dir() {
  if (const char* env = std::getenv("SHEDDER_RESOURCES_DIR"); env && is_dir(env)) return env;
  std::string dir = exe_dir();
  if (!dir.empty()) {
    // Installed: <prefix>/bin/exe -> <prefix>/share/mamba-shedder.
    std::string installed = dir + "/../share/mamba-shedder";
    if (is_dir(installed + "/demo")) return installed;
  }
  return {};
}

std::string demo_path(const std::string& name) {
  std::string root = resources_dir();
  if (root.empty()) return {};
  std::string p = root + "/demo/" + name;
  return exists(p) ? p : std::string();
}

}  // namespace shedder

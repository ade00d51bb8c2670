// Implementation of the shared test helpers (fixture lookup, temp folders, file I/O).
#include "support/test_support.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace shedder::test {

std::string fixtures_dir() {
  const char* env = std::getenv("SHEDDER_FIXTURES_DIR");
  if (!env || !*env) return {};
  std::error_code ec;
  if (!fs::is_directory(fs::path(env) / "hf-tiny", ec)) return {};
  return env;
}

bool in_ci() {
  const char* env = std::getenv("CI");
  return env && (std::string(env) == "true" || std::string(env) == "1");
}

std::string test_data_dir() {
  const char* env = std::getenv("SHEDDER_TEST_DATA_DIR");
  return env ? std::string(env) : std::string("tests/data");
}

std::string make_temp_dir(const std::string& tag) {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = fs::temp_directory_path() / ("shedder-test-" + tag + "-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directories(p, ec)) return p.string();
  }
  throw std::runtime_error("could not create a temporary directory");
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace shedder::test

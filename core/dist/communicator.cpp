// c10d-based communicator (see communicator.h). Which process groups exist depends on the libtorch build:
// Debian's libtorch has Gloo (headers from libgloo-dev), PyTorch's CUDA wheels have NCCL but ship no Gloo
// headers; the TCPStore alone works everywhere.
#include "dist/communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SHEDDER_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SHEDDER_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace shedder {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int64_t env_int(const char* a, const char* b, int64_t fallback) {
  for (const char* n : {a, b}) {
    if (!n) continue;
    if (const char* v = env(n)) {
      char* end = nullptr;
      const long long x = std::strtoll(v, &end, 10);
      if (!end || *end) throw Error(std::string("environment variable ") + n + "='" + v + "' is not an integer");
      return x;
    }
  }
  return fallback;
}

std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string text(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

// Broadcast and (for the store backend) allgather through store keys that are unique per call.
class StoreOps {
 public:
  explicit StoreOps(c10::intrusive_ptr<c10d::Store> s) : store_(std::move(s)) {}
  std::string broadcast(int64_t rank, const std::string& t) {
    const std::string key = "bc/" + std::to_string(seq_++);
    if (rank == 0) {
      store_->set(key, bytes(t));
      return t;
    }
    return text(store_->get(key));
  }
  std::vector<std::vector<double>> allgather(int64_t rank, int64_t size, const std::vector<double>& mine) {
    const std::string base = "ag/" + std::to_string(seq_++) + "/";
    std::vector<uint8_t> b(mine.size() * sizeof(double));
    if (!mine.empty()) std::memcpy(b.data(), mine.data(), b.size());
    store_->set(base + std::to_string(rank), b);
    std::vector<std::vector<double>> out(static_cast<size_t>(size));
    for (int64_t r = 0; r < size; ++r) {
      const std::vector<uint8_t> v = r == rank ? b : store_->get(base + std::to_string(r));
      if (v.size() != b.size()) throw Error("distributed search: rank " + std::to_string(r) + " sent a vector of another length");
      out[static_cast<size_t>(r)].resize(mine.size());
      if (!v.empty()) std::memcpy(out[static_cast<size_t>(r)].data(), v.data(), v.size());
    }
    return out;
  }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  int64_t seq_ = 0;
};

class StoreCommunicator : public Communicator {
 public:
  StoreCommunicator(int64_t rank, int64_t size, c10::intrusive_ptr<c10d::Store> s)
      : Communicator(rank, size, "store"), ops_(std::move(s)) {}
  std::vector<std::vector<double>> allgather(const std::vector<double>& mine) override {
    return ops_.allgather(rank(), size(), mine);
  }
  std::string broadcast(const std::string& t) override { return ops_.broadcast(rank(), t); }

 private:
  StoreOps ops_;
};

// A c10d process group for the collectives (PG: ProcessGroupGloo or ProcessGroupNCCL), the store for text.
template <class PG>
class GroupCommunicator : public Communicator {
 public:
  GroupCommunicator(int64_t rank, int64_t size, std::string name, c10::intrusive_ptr<PG> pg,
                    c10::intrusive_ptr<c10d::Store> s, at::Device device)
      : Communicator(rank, size, std::move(name)), pg_(std::move(pg)), ops_(std::move(s)), device_(device) {}
  std::vector<std::vector<double>> allgather(const std::vector<double>& mine) override {
    const int64_t n = static_cast<int64_t>(mine.size());
    at::Tensor in = at::empty({std::max<int64_t>(1, n)}, at::kDouble);
    in.zero_();
    if (n > 0) std::memcpy(in.data_ptr<double>(), mine.data(), static_cast<size_t>(n) * sizeof(double));
    in = in.to(device_);
    std::vector<at::Tensor> inputs{in};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int64_t r = 0; r < size(); ++r) outputs[0].push_back(at::empty_like(in));
    pg_->allgather(outputs, inputs)->wait();
    std::vector<std::vector<double>> out(static_cast<size_t>(size()));
    for (int64_t r = 0; r < size(); ++r) {
      at::Tensor t = outputs[0][static_cast<size_t>(r)].to(at::kCPU).contiguous();
      out[static_cast<size_t>(r)].assign(t.data_ptr<double>(), t.data_ptr<double>() + n);
    }
    return out;
  }
  std::string broadcast(const std::string& t) override { return ops_.broadcast(rank(), t); }

 private:
  c10::intrusive_ptr<PG> pg_;
  StoreOps ops_;
  at::Device device_;
};

}  // namespace

void parse_master(const std::string& spec, DistOptions& o, const std::string& what) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= spec.size())
    throw Error(what + " '" + spec + "': expected ADDR:PORT (e.g. 10.0.0.1:29500)");
  o.master_addr = spec.substr(0, colon);
  char* end = nullptr;
  const long long port = std::strtoll(spec.c_str() + colon + 1, &end, 10);
  if (!end || *end || port < 1 || port > 65535) throw Error(what + " '" + spec + "': the port must be 1..65535");
  o.master_port = port;
}

DistOptions resolve_dist_options(DistOptions o) {
  if (o.world_size <= 0) o.world_size = env_int("WORLD_SIZE", "SLURM_NTASKS", 1);
  if (o.rank < 0) o.rank = env_int("RANK", "SLURM_PROCID", 0);
  if (o.local_rank < 0) o.local_rank = env_int("LOCAL_RANK", "SLURM_LOCALID", o.rank);
  if (o.master_addr.empty()) o.master_addr = env("MASTER_ADDR") ? env("MASTER_ADDR") : "127.0.0.1";
  if (o.master_port <= 0) o.master_port = env_int("MASTER_PORT", nullptr, 29500);
  if (o.world_size < 1 || o.world_size > 65536) throw Error("world size must be 1..65536 (got " + std::to_string(o.world_size) + ")");
  if (o.rank < 0 || o.rank >= o.world_size)
    throw Error("rank " + std::to_string(o.rank) + " is outside 0.." + std::to_string(o.world_size - 1));
  if (o.master_port < 1 || o.master_port > 65535) throw Error("master port must be 1..65535");
  if (o.local_rank < 0) o.local_rank = 0;
  if (!(o.timeout_s > 0)) throw Error("the distributed timeout must be positive");
  return o;
}

std::vector<std::string> available_dist_backends() {
  std::vector<std::string> b;
#ifdef SHEDDER_HAVE_NCCL
  b.push_back("nccl");
#endif
#ifdef SHEDDER_HAVE_GLOO
  b.push_back("gloo");
#endif
  b.push_back("store");
  return b;
}

Communicator::~Communicator() = default;

std::unique_ptr<Communicator> Communicator::create(const DistOptions& o, const at::Device& device) {
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000.0));
  std::string backend = o.backend;
  if (backend == "auto") {
#ifdef SHEDDER_HAVE_NCCL
    if (device.is_cuda()) backend = "nccl";
#endif
#ifdef SHEDDER_HAVE_GLOO
    if (backend == "auto") backend = "gloo";
#endif
    if (backend == "auto") backend = "store";
  }
  bool known = false;
  for (const auto& b : available_dist_backends()) known |= b == backend;
  if (!known) {
    std::string have;
    for (const auto& b : available_dist_backends()) have += (have.empty() ? "" : ", ") + b;
    throw Error("--dist-backend " + backend + ": not available in this build (available: " + have + ")");
  }
  if (backend == "nccl" && !device.is_cuda()) throw Error("--dist-backend nccl needs --device cuda");

  c10::intrusive_ptr<c10d::Store> store;
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    throw Error("distributed rendezvous at " + where + " (rank " + std::to_string(o.rank) + " of " +
                std::to_string(o.world_size) + ") failed: " + std::string(e.what()).substr(0, 400));
  }
  auto ours = c10::make_intrusive<c10d::PrefixStore>("shedder", store);
  if (backend == "store") return std::unique_ptr<Communicator>(new StoreCommunicator(o.rank, o.world_size, ours));
  auto pg_store = c10::make_intrusive<c10d::PrefixStore>("pg", store);
  try {
#ifdef SHEDDER_HAVE_GLOO
    if (backend == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      const bool local = o.master_addr == "127.0.0.1" || o.master_addr == "localhost";
      opts->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                    : c10d::ProcessGroupGloo::createDefaultDevice());
      auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, static_cast<int>(o.rank),
                                                            static_cast<int>(o.world_size), opts);
      return std::unique_ptr<Communicator>(
          new GroupCommunicator<c10d::ProcessGroupGloo>(o.rank, o.world_size, "gloo", pg, ours, at::Device(at::kCPU)));
    }
#endif
#ifdef SHEDDER_HAVE_NCCL
    if (backend == "nccl") {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg_store, static_cast<int>(o.rank),
                                                            static_cast<int>(o.world_size), opts);
      return std::unique_ptr<Communicator>(
          new GroupCommunicator<c10d::ProcessGroupNCCL>(o.rank, o.world_size, "nccl", pg, ours, device));
    }
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("distributed " + backend + " process group (rank " + std::to_string(o.rank) + " of " +
                std::to_string(o.world_size) + ", " + where + ") failed: " + std::string(e.what()).substr(0, 400));
  }
  throw Error("--dist-backend " + backend + ": not available in this build");
}

}  // namespace shedder

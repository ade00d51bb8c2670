// Coordination of several processes (GPUs of one host, or hosts) that run one search together, on PyTorch's
// c10d: a TCPStore at MASTER_ADDR:MASTER_PORT for rendezvous and small messages, and a process group for the
// collectives (ProcessGroupNCCL between GPUs, ProcessGroupGloo between CPU processes, or the store alone where
// this libtorch ships neither). The search needs two operations: every rank's candidate scores on every rank
// (allgather), and rank 0's journal on every rank (broadcast).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shedder {

struct DistOptions {
  int64_t world_size = 1;
  int64_t rank = 0;
  int64_t local_rank = 0;               // rank on this host (picks the GPU for --device cuda)
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string backend = "auto";         // auto (nccl on CUDA, else gloo, else store) | nccl | gloo | store
  double timeout_s = 1800;              // a rank that waits longer than this for the others fails
};

// Fills what `o` leaves unset (world_size <= 0, rank < 0, master_addr empty, master_port <= 0, local_rank < 0)
// from the environment: WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun, our launcher), or
// Slurm's SLURM_NTASKS, SLURM_PROCID, SLURM_LOCALID; defaults: 1 process, rank 0, 127.0.0.1:29500.
// Throws shedder::Error on inconsistent values (rank outside 0..world_size-1, bad port).
DistOptions resolve_dist_options(DistOptions o);
// "ADDR:PORT" -> addr, port (Error naming `what` when malformed).
void parse_master(const std::string& spec, DistOptions& o, const std::string& what);

// The backends this build can create ("gloo", "nccl", "store").
std::vector<std::string> available_dist_backends();

class Communicator {
 public:
  // Joins the group (blocks until all world_size ranks arrived or the timeout passed). `device`: where this
  // rank computes (NCCL needs its GPU).
  static std::unique_ptr<Communicator> create(const DistOptions& o, const at::Device& device);
  virtual ~Communicator();

  int64_t rank() const { return rank_; }
  int64_t size() const { return size_; }
  const std::string& backend() const { return backend_; }

  // Every rank passes a vector of the same length; returns all of them, indexed by rank.
  virtual std::vector<std::vector<double>> allgather(const std::vector<double>& mine) = 0;
  // Rank 0's `text` on every rank (the argument is ignored elsewhere).
  virtual std::string broadcast(const std::string& text) = 0;

 protected:
  Communicator(int64_t rank, int64_t size, std::string backend) : rank_(rank), size_(size), backend_(std::move(backend)) {}

 private:
  int64_t rank_, size_;
  std::string backend_;
};

}  // namespace shedder

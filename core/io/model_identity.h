// What identifies a model folder for a resumable run (search journals, tuning checkpoints): config.json's hash
// and every weight file's name, size and content hash (XXH64). Two folders with the same config and file sizes
// but other weights — a tuned model beside its source — are different models. Hashing weights reads every
// byte, so hashes are cached in a small JSON file beside the journal, keyed by the file's path, size and mtime.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace shedder {

// {"dir", "config_fnv1a64", "weights": [{"file", "bytes", "xxh64"}...]} of the folder `model_dir`. With
// `cache_path` (may be ""), hashes of unchanged files come from that file and new ones are added to it.
// Throws shedder::Error naming a file that cannot be read.
nlohmann::json model_identity(const std::string& model_dir, const std::string& cache_path = "");

// Throws shedder::Error (naming `record_path`, the file holding `recorded`, and both folders) unless `recorded`
// (a model_identity written earlier) identifies the same model as `current`. `what_to_do` ends the message.
void check_model_identity(const std::string& record_path, const nlohmann::json& recorded,
                          const nlohmann::json& current, const std::string& what_to_do);

}  // namespace shedder

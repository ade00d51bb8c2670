// Helpers for writing Hugging Face model folders: the tokenizer/generation files that travel with the
// weights (export and tuning copy them unchanged).
#pragma once

#include <string>
#include <vector>

namespace shedder {

// The files a Hugging Face folder may carry beside the weights that belong to the tokenizer / generation.
const std::vector<std::string>& tokenizer_file_names();

// Copies those present in `src` into `dst` (overwriting); returns the names copied. Throws shedder::Error
// naming the file on failure.
std::vector<std::string> copy_tokenizer_files(const std::string& src, const std::string& dst);

}  // namespace shedder

// Helpers for writing Hugging Face model folders: the tokenizer/generation files that travel with the
// weights (export and tuning copy them unchanged), and writing a whole folder atomically (the exports).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace shedder {

// The files a Hugging Face folder may carry beside the weights that belong to the tokenizer / generation.
const std::vector<std::string>& tokenizer_file_names();

// Copies those present in `src` into `dst` (overwriting); returns the names copied. Throws shedder::Error
// naming the file on failure.
std::vector<std::string> copy_tokenizer_files(const std::string& src, const std::string& dst);

// Refuses `out_dir` as an export target when it exists and `force` is off, or when it is `source_dir` itself
// (shedder::Error naming out_dir).
void check_export_target(const std::string& out_dir, const std::string& source_dir, bool force);

// Writes a model folder as one step: check_export_target, then `fill` writes the files into a temporary sibling
// folder (its path is the argument), which then replaces out_dir (an existing folder is moved aside and removed
// only once the new one is in place). On any failure the temporary folder is removed and out_dir is untouched;
// the error says so.
void write_model_folder(const std::string& out_dir, const std::string& source_dir, bool force,
                        const std::function<void(const std::string& tmp_dir)>& fill);

}  // namespace shedder

// Helpers for writing Hugging Face model folders: the tokenizer/generation files that travel with the
// weights (export and tuning copy them unchanged), and writing a whole folder atomically (the exports).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace shedder {

// The files a Hugging Face folder may carry beside the weights that belong to the tokenizer / generation.
const std::vector<std::string>& tokenizer_file_names();

// Copies those present in `src` into `dst` (overwriting; each copy fsynced); returns the names copied. Throws
// shedder::Error naming the file on failure.
std::vector<std::string> copy_tokenizer_files(const std::string& src, const std::string& dst);

// The file that marks a folder as one our programs wrote whole, by kind: an export ("shedding_report.json"), a
// tuning run ("tune_report.json", or a checkpoint "checkpoint/trainer_state.json" while it runs), a model made by
// create-model ("create_model_report.json"). --force replaces only such a folder (or an empty one).
const std::vector<std::string>& export_markers();
const std::vector<std::string>& tune_markers();
const std::vector<std::string>& created_model_markers();

// Checks that `out_dir` may receive a new folder, before any work (shedder::Error naming out_dir otherwise):
// it must not be the source model folder `source_dir` or a folder that contains it; an existing out_dir needs
// `force`, and even then it must be empty or hold one of `markers` (a folder of ours: anything else may be
// someone's data and is never deleted). `source_dir` may be empty (nothing to protect). `force_hint` ends the
// message for an existing folder without `force`.
void check_output_folder(const std::string& out_dir, const std::string& source_dir, bool force,
                         const std::vector<std::string>& markers,
                         const std::string& force_hint = "use --force to replace it");
// check_output_folder with the export markers.
void check_export_target(const std::string& out_dir, const std::string& source_dir, bool force);

// Puts the finished folder `tmp_dir` (a sibling of out_dir) at out_dir. An existing out_dir is exchanged with it
// in one atomic rename (renameat2 RENAME_EXCHANGE; where the file system cannot, moved aside first) and removed
// afterwards, so out_dir always holds a whole folder, old or new. Both folders' parent is fsynced.
void install_folder(const std::string& tmp_dir, const std::string& out_dir);

// Writes a model folder as one step: check_output_folder(markers), then `fill` writes the files into a temporary
// sibling folder (its path is the argument) and install_folder() puts it in place. `fill` must write the first
// of `markers`. On any failure the temporary folder is removed and out_dir is untouched; the error says so.
void write_model_folder(const std::string& out_dir, const std::string& source_dir, bool force,
                        const std::function<void(const std::string& tmp_dir)>& fill,
                        const std::vector<std::string>& markers = export_markers());

}  // namespace shedder

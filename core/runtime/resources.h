// Where the shipped resources (demo models, demo corpus splits) live, found at run time; no path is
// compiled in. Search order: $SHEDDER_RESOURCES_DIR (build-tree runs: the scripts and CTest set it to the
// source tree's resources/), then <exe>/../share/mamba-shedder (the installed layout).
#pragma once

#include <string>

namespace shedder {

// The resources folder (holding demo/...), or "" when none of the candidates exists.
std::string resources_dir();

// resources_dir() + "/demo/" + name, e.g. demo_path("mamba1") for the demo Mamba-1 model folder,
// demo_path("corpus/calibration.txt") for the built-in calibration text. "" when not found.
std::string demo_path(const std::string& name);

}  // namespace shedder

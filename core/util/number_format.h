// Numbers as text with a fixed count of decimals (printf's "%.*f": "nan", "inf" as printf writes them), for the
// tables and cards every layer writes (model cards, the harness table, report tables).
#pragma once

#include <string>

namespace shedder {

std::string format_fixed(double v, int decimals);

}  // namespace shedder

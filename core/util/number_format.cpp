// Fixed-decimal number text (see number_format.h).
#include "util/number_format.h"

#include <cstdio>

namespace shedder {

std::string format_fixed(double v, int decimals) {
  char buf[512];  // %.*f of the largest double with a few decimals fits
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace shedder

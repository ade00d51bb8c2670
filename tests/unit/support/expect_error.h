// Test helper: runs `fn` and checks it throws shedder::Error whose message contains every phrase.
#pragma once

#include <QtTest/QtTest>

#include <functional>
#include <string>
#include <vector>

#include "util/error.h"

namespace shedder::test {

inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& phrases) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& ph : phrases)
      QVERIFY2(msg.find(ph) != std::string::npos, ("message lacks '" + ph + "': " + msg).c_str());
    return;
  }
  QFAIL("expected shedder::Error");
}

}  // namespace shedder::test

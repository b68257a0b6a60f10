// system_clock: the Clock policy for real use.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/types.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>

namespace hone::backup {

/// The real time. wait_until sleeps, waking early (returning false) when stop is requested.
class system_clock {
 public:
  time_point now() const { return std::chrono::system_clock::now(); }
  bool wait_until(time_point deadline, std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lk(m);
    return !cv.wait_until(lk, stop, deadline, [] { return false; }) && !stop.stop_requested();
  }
};

static_assert(Clock<system_clock>);

}  // namespace hone::backup

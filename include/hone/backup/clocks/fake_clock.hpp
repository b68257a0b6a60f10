// fake_clock: a Clock set and advanced by hand, for tests (waiters wake when the fake time
// reaches their deadline).
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/types.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>

namespace hone::backup {

/// A clock that only moves when told. Copies share the same time, so a test can keep one copy
/// and give another to a BackupRunner.
class fake_clock {
 public:
  /// Starts at 2024-01-15T14:30:22Z, the instant of the description's example backup.
  fake_clock() : fake_clock(time_point{std::chrono::seconds{1705329022}}) {}
  explicit fake_clock(time_point start) : state_(std::make_shared<state>()) { state_->now = start; }

  time_point now() const {
    std::lock_guard lk(state_->m);
    return state_->now;
  }
  void set(time_point t) {
    {
      std::lock_guard lk(state_->m);
      state_->now = t;
    }
    state_->cv.notify_all();
  }
  void advance(std::chrono::system_clock::duration d) {
    {
      std::lock_guard lk(state_->m);
      state_->now += d;
    }
    state_->cv.notify_all();
  }
  /// Blocks until the fake time reaches `deadline` (true) or stop is requested (false).
  bool wait_until(time_point deadline, std::stop_token stop) {
    std::unique_lock lk(state_->m);
    ++state_->waiters;
    state_->cv.notify_all();
    bool reached = state_->cv.wait(lk, stop, [&] { return state_->now >= deadline; });
    --state_->waiters;
    return reached;
  }
  /// How many threads are inside wait_until right now (lets tests advance without sleeping).
  int waiters() {
    std::lock_guard lk(state_->m);
    return state_->waiters;
  }
  /// Blocks until at least n threads wait on this clock, or the timeout (real time) passes.
  bool await_waiters(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lk(state_->m);
    return state_->cv.wait_for(lk, timeout, [&] { return state_->waiters >= n; });
  }

 private:
  struct state {
    std::mutex m;
    std::condition_variable_any cv;
    time_point now{};
    int waiters = 0;
  };
  std::shared_ptr<state> state_;
};

static_assert(Clock<fake_clock>);

}  // namespace hone::backup

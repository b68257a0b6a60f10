// memory_destination: backups held in memory, for tests and for programs that ship bytes
// elsewhere themselves.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hone::backup {

/// Backups held in memory. Copies share the same store (so a test can inspect what a runner
/// wrote). Thread-safe; lock() gives a process-local exclusive lock.
class memory_destination {
 public:
  memory_destination() : state_(std::make_shared<state>()) {}

  stored_entry store(const std::string& name, const std::function<void(writer&)>& produce) {
    std::vector<std::byte> bytes;
    buffer_writer<std::vector<std::byte>> w(bytes);
    produce(w);
    std::lock_guard lk(state_->m);
    if (state_->files.count(name)) throw already_exists_error("Backup already exists: " + name);
    auto& f = state_->files[name];
    f.bytes = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
    f.modified = modified_time ? modified_time() : std::chrono::system_clock::now();
    return entry(name, f);
  }

  std::vector<stored_entry> list() const {
    std::lock_guard lk(state_->m);
    std::vector<stored_entry> out;
    for (auto& [n, f] : state_->files) out.push_back(entry(n, f));
    return out;
  }

  std::optional<stored_entry> stat(const std::string& name) const {
    std::lock_guard lk(state_->m);
    auto it = state_->files.find(name);
    if (it == state_->files.end()) return std::nullopt;
    return entry(name, it->second);
  }

  std::unique_ptr<reader> open(const std::string& name) const {
    std::lock_guard lk(state_->m);
    auto it = state_->files.find(name);
    if (it == state_->files.end()) throw not_found_error("Backup not found: " + name);
    return std::make_unique<owning_reader>(it->second.bytes);
  }

  void remove(const std::string& name) {
    std::lock_guard lk(state_->m);
    if (state_->files.erase(name) == 0) throw not_found_error("Backup not found: " + name);
  }

  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(state_->op); }

  /// Test hooks: put raw bytes under a name (e.g. a damaged file), read them back.
  void put(const std::string& name, std::vector<std::byte> bytes, time_point modified) {
    std::lock_guard lk(state_->m);
    auto& f = state_->files[name];
    f.bytes = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
    f.modified = modified;
  }
  std::vector<std::byte> bytes(const std::string& name) {
    std::lock_guard lk(state_->m);
    auto it = state_->files.find(name);
    if (it == state_->files.end()) throw not_found_error("Backup not found: " + name);
    return *it->second.bytes;
  }

  /// Where modification times come from (e.g. a fake clock); system time when empty.
  std::function<time_point()> modified_time;

 private:
  struct file {
    std::shared_ptr<const std::vector<std::byte>> bytes;
    time_point modified{};
  };
  struct state {
    std::mutex m;   // guards files
    std::mutex op;  // the lock() of the Destination requirement
    std::map<std::string, file> files;
  };
  class owning_reader final : public reader {
   public:
    explicit owning_reader(std::shared_ptr<const std::vector<std::byte>> b) : bytes_(std::move(b)), r_(*bytes_) {}
    std::size_t read(std::span<std::byte> buf) override { return r_.read(buf); }

   private:
    std::shared_ptr<const std::vector<std::byte>> bytes_;
    span_reader r_;
  };
  static stored_entry entry(const std::string& name, const file& f) {
    return {name, f.bytes->size(), f.modified, "memory:" + name};
  }
  std::shared_ptr<state> state_;
};

static_assert(Destination<memory_destination>);

}  // namespace hone::backup

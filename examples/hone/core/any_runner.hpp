// any_runner: a BackupRunner of any policies behind one type, so that the CLI, the API and the
// scheduler work with whatever runner the configuration asks for (see runner_factory.hpp)
// without naming its policies. Each call forwards to the runner it holds.
#pragma once

#include <hone/backup.hpp>

#include <concepts>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// A retention policy of any kind (hb::Retention) behind one type, for any_runner::prune.
struct any_retention {
  std::function<hb::keep_reasons(std::span<const hb::time_point>)> rule;
  std::string description;
  hb::keep_reasons apply(std::span<const hb::time_point> newest_first) const { return rule(newest_first); }
  std::string describe() const { return description; }
};

class any_runner {
  struct interface;

 public:
  /// The runner's Clock, as backup_scheduler uses it (valid while the any_runner lives).
  class clock_ref {
   public:
    hb::time_point now() const { return self_->now(); }
    bool wait_until(hb::time_point t, std::stop_token stop) const { return self_->wait_until(t, std::move(stop)); }

   private:
    friend class any_runner;
    explicit clock_ref(interface* self) : self_(self) {}
    interface* self_;
  };

  template <class Runner>
  requires(!std::same_as<std::remove_cvref_t<Runner>, any_runner>) explicit any_runner(Runner runner)
      : self_(std::make_unique<model<Runner>>(std::move(runner))) {}

  std::string backup_name(std::string_view requested) const { return self_->backup_name(requested); }
  std::string resolve_name(std::string_view requested) const { return self_->resolve_name(requested); }
  hb::backup_info create(std::optional<std::string> requested = std::nullopt) {
    return self_->create(std::move(requested));
  }
  std::vector<hb::backup_info> list() { return self_->list(); }
  hb::backup_info get(const std::string& requested) { return self_->get(requested); }
  std::string remove(const std::string& requested) { return self_->remove(requested); }
  hb::prune_result prune(const hb::keep_calendar& policy, bool dry_run = false) {
    return self_->prune(policy, dry_run);
  }
  hb::prune_result prune(const any_retention& policy, bool dry_run = false) {
    return self_->prune_any(policy, dry_run);
  }
  hb::verify_result verify(const std::string& requested) { return self_->verify(requested); }
  hb::restore_result restore(const std::string& requested, const std::filesystem::path& database, bool force) {
    return self_->restore(requested, database, force);
  }
  clock_ref clock() { return clock_ref(self_.get()); }

 private:
  struct interface {
    virtual ~interface() = default;
    virtual std::string backup_name(std::string_view) const = 0;
    virtual std::string resolve_name(std::string_view) const = 0;
    virtual hb::backup_info create(std::optional<std::string>) = 0;
    virtual std::vector<hb::backup_info> list() = 0;
    virtual hb::backup_info get(const std::string&) = 0;
    virtual std::string remove(const std::string&) = 0;
    virtual hb::prune_result prune(const hb::keep_calendar&, bool) = 0;
    virtual hb::prune_result prune_any(const any_retention&, bool) = 0;
    virtual hb::verify_result verify(const std::string&) = 0;
    virtual hb::restore_result restore(const std::string&, const std::filesystem::path&, bool) = 0;
    virtual hb::time_point now() = 0;
    virtual bool wait_until(hb::time_point, std::stop_token) = 0;
  };

  template <class Runner>
  struct model final : interface {
    explicit model(Runner r) : runner(std::move(r)) {}
    std::string backup_name(std::string_view n) const override { return runner.backup_name(n); }
    std::string resolve_name(std::string_view n) const override { return runner.resolve_name(n); }
    hb::backup_info create(std::optional<std::string> n) override { return runner.create(std::move(n)); }
    std::vector<hb::backup_info> list() override { return runner.list(); }
    hb::backup_info get(const std::string& n) override { return runner.get(n); }
    std::string remove(const std::string& n) override { return runner.remove(n); }
    hb::prune_result prune(const hb::keep_calendar& p, bool dry_run) override { return runner.prune(p, dry_run); }
    hb::prune_result prune_any(const any_retention& p, bool dry_run) override { return runner.prune(p, dry_run); }
    hb::verify_result verify(const std::string& n) override { return runner.verify(n); }
    hb::restore_result restore(const std::string& n, const std::filesystem::path& db, bool force) override {
      return runner.restore(n, db, force);
    }
    hb::time_point now() override { return runner.clock().now(); }
    bool wait_until(hb::time_point t, std::stop_token stop) override {
      return runner.clock().wait_until(t, std::move(stop));
    }
    Runner runner;
  };

  std::unique_ptr<interface> self_;
};

}  // namespace hone_app

// HONE_BACKUP_ON_FAILURE: a command `hone serve` runs when a scheduled backup, a scheduled prune
// or an upload fails (README "Monitoring"). The value is split into words (no shell): spaces
// separate words, '...' and "..." quote, a backslash escapes the next character. The command
// runs asynchronously, with the server's environment minus its secrets plus
// HONE_BACKUP_FAILED_OPERATION, HONE_BACKUP_FAILED_MESSAGE and HONE_BACKUP_FAILED_AT; it is
// killed after HONE_BACKUP_ON_FAILURE_TIMEOUT seconds (default 60). Its failure is logged and
// never stops the server.
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace hone_app {

/// The words of a command line (see above); throws usage_error naming `variable` when the
/// value is empty, has an unterminated quote or ends in a backslash.
std::vector<std::string> split_command(std::string_view value, const char* variable);

/// True for the variables never passed to the hook: HONE_DB_KEY, HONE_API_TOKEN, any HONE_*
/// variable whose name holds SECRET, TOKEN, PASSWORD, PASSPHRASE or KEY (not KEEP), and
/// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
bool is_secret_variable(std::string_view name);

struct hook_config {
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// NAME=VALUE entries passed to the command (secrets already left out).
  std::vector<std::string> environment;
};

/// Reads HONE_BACKUP_ON_FAILURE and HONE_BACKUP_ON_FAILURE_TIMEOUT (whole seconds, 1 to 3600)
/// and snapshots the environment without its secrets; nullopt when HONE_BACKUP_ON_FAILURE is
/// unset. Throws usage_error on a malformed value. Call it before the secrets are dropped from
/// the environment or after: they are never copied.
std::optional<hook_config> hook_from_environment();

class failure_hook {
 public:
  explicit failure_hook(hook_config c) : cfg_(std::move(c)) {}
  /// Waits for the commands still running (each ends by its timeout at the latest).
  ~failure_hook();
  failure_hook(const failure_hook&) = delete;
  failure_hook& operator=(const failure_hook&) = delete;

  /// Starts the command for a failed `operation` ("create", "prune", "upload") and returns at
  /// once; the outcome is logged.
  void run(const std::string& operation, const std::string& message, const std::string& at);

  const hook_config& config() const { return cfg_; }

 private:
  void execute(const std::string& operation, const std::string& message, const std::string& at) const;
  void reap();

  hook_config cfg_;
  std::mutex m_;
  std::list<std::thread> running_;
  std::vector<std::thread::id> finished_;
};

}  // namespace hone_app

// `hone backup status`: is the last backup good? The newest backup and its age, the count and
// size of the backups, and what `hone serve` recorded in the backup folder (its scheduler's last
// and next run, the last failure) and the last verify. Exit code 0 when fine; 1 when the folder
// cannot be listed, 14 when there is no backup or the newest is older than --max-age, 13 when
// only the offsite bucket is amiss.
#include "cli/commands/commands.hpp"

#include "core/log.hpp"
#include "monitoring/status_report.hpp"

#include <cerrno>
#include <cstdio>
#include <string>

#include <signal.h>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

/// True when process `pid` exists (a server that stopped without recording it, e.g. killed).
bool process_alive(long long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

/// The scheduler object of the server's state file, as the CLI can tell it.
json scheduler_from_state(const json& state) {
  auto it = state.find("scheduler");
  if (it == state.end() || !it->is_object()) return nullptr;
  json s = *it;
  s["source"] = "state_file";
  s["state_updated_at"] = state.value("updated_at", "");
  const bool running =
      s.value("server_running", false) &&
      process_alive(s.contains("server_pid") && s["server_pid"].is_number_integer() ? s["server_pid"].get<long long>()
                                                                                    : 0);
  s["server_running"] = running;
  if (!running) s["next_run"] = nullptr;  // no server, no next run
  return s;
}

}  // namespace

int cmd_status(const backup_args& a) {
  std::optional<std::chrono::seconds> max_age;
  if (a.max_age) {
    max_age = parse_age(*a.max_age);
    if (!max_age)
      throw usage_error("--max-age '" + printable(a.max_age->substr(0, 40)) +
                        "' is not a duration: give whole numbers with a unit s, m, h, d or w, e.g. 26h, 90m or 2d");
  }
  status_inputs in;
  in.backup_dir = resolve_backup_dir(a.dir);
  in.now = std::chrono::system_clock::now();
  in.max_age = max_age;
  list_local(in.backup_dir, in);
  list_offsite(in.backup_dir, in);
  in.scheduler = nullptr;
  in.last_failure = nullptr;
  in.last_verify = nullptr;
  if (auto state = read_json_file(in.backup_dir / server_state_file)) {
    in.scheduler = scheduler_from_state(*state);
    if (auto f = state->find("last_failure"); f != state->end() && f->is_object()) in.last_failure = *f;
  }
  if (auto v = read_json_file(in.backup_dir / last_verify_file)) in.last_verify = *v;
  const json s = status_json(in);
  if (!a.json) std::fputs(status_text(s).c_str(), stdout);
  if (status_ok(s)) {
    if (a.json) print_json(s);
    return exit_ok;
  }
  // Why it is not OK, by class (the text report says the details).
  const bool unlisted = !in.local_error.empty(), none = s["newest"].is_null(), stale = s.value("stale", false);
  const std::string message = unlisted ? "cannot list the backup folder: " + in.local_error
                              : none   ? "there is no backup in " + in.backup_dir.string()
                              : stale  ? "the newest backup is older than --max-age " + *a.max_age
                                       : "the offsite bucket cannot be listed, or holds other bytes under a backup's "
                                         "name";
  const char* code = unlisted ? "failed" : none ? "no_backup" : stale ? "stale_backup" : "offsite_failed";
  if (a.json) return failed_with(a, s, code, message);
  return exit_code_for(code);
}

}  // namespace hone_app

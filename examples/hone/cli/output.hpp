// Terminal output of the CLI: the backup table and a progress line for long operations.
// Nothing decorative is written when the output is not a terminal.
#pragma once

#include <hone/backup.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

bool stdout_is_terminal();
bool stderr_is_terminal();
bool stdin_is_terminal();

/// "yes" for a gzip backup whose data shrank; "yes (stored)" for one stored as-is (encrypted
/// data does not shrink), with the reason when `detail`; "no" otherwise.
std::string compressed_text(const hb::backup_info& b, bool detail);

/// NAME, SIZE, CREATED (UTC), ENCRYPTED, COMPRESSED; one row per backup, newest first. With
/// `where` (one entry per backup, e.g. "local, r2"), a WHERE column too; when one of `pinned`
/// (one entry per backup) is true, a PINNED column last.
void print_backup_table(std::FILE* out, const std::vector<hb::backup_info>& all,
                        const std::vector<std::string>& where = {}, const std::vector<bool>& pinned = {});

/// Shows what a runner is doing on stderr while it takes more than a moment: a single line
/// redrawn in place ("creating backup: compressing [#####-----] 48% 12.0 MiB / 25.0 MiB 3.1 s").
/// Draws only when `enabled` (stderr is a terminal and --verbose is off) and escape codes are
/// allowed (app.hpp escape_codes_allowed: not TERM=dumb, NO_COLOR or --quiet); every event is also
/// passed to `log` (step_logger, which logs them with --verbose). The line is erased when the
/// operation ends.
class progress_display {
 public:
  explicit progress_display(bool enabled, hb::observer_fn log = {});
  ~progress_display();
  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;

  /// The observer to put in runner_options (thread-safe).
  hb::observer_fn observer();

  /// Erases the line (call before printing results).
  void finish();

 private:
  void on_event(const hb::event& e);
  void loop();
  void draw_locked();
  void erase_locked();

  bool enabled_;
  hb::observer_fn log_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool active_ = false;
  bool drawn_ = false;
  std::string op_;
  std::string stage_;
  std::uint64_t done_ = 0;
  std::uint64_t total_ = 0;
  std::chrono::steady_clock::time_point started_{};
  std::thread thread_;
};

}  // namespace hone_app

// Logging to stderr for the `hone` program: one line per event, never request bodies or key
// material. Three formats (HONE_LOG_FORMAT): text, "2024-01-15T14:30:22.123Z INFO  message";
// journal, "<6>INFO  message" (the syslog priority journald reads, no timestamp of its own),
// chosen by itself under systemd (JOURNAL_STREAM names stderr); json, one object per line
// {"time", "level", "message", and the event's fields}. Lines below the level
// (HONE_LOG_LEVEL, --log-level; --verbose is debug) are dropped; the default is info.
#pragma once

#include <hone/backup.hpp>  // hone::backup::log_level

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace hone_app {

using hone::backup::log_level;

enum class log_format { text, journal, json };

/// "debug", "info", "warn" (or "warning"), "error"; nullopt for anything else.
std::optional<log_level> parse_log_level(std::string_view text);
/// The name parse_log_level reads: "debug", "info", "warn", "error".
std::string_view log_level_name(log_level level);

/// Sets the level and the format from the command line and the environment: `cli_level`
/// (--log-level, may be empty) over --verbose over HONE_LOG_LEVEL; HONE_LOG_FORMAT (text, json,
/// journal) over the journal when JOURNAL_STREAM names this process's stderr. Returns what is
/// wrong with a setting ("" when all are valid; the defaults then stay).
std::string configure_logging(const std::string& cli_level, bool verbose);

void set_log_level(log_level lowest);
void set_log_format(log_format f);
/// Turns debug logging on (level debug) or off (level info).
void set_verbose(bool on);
/// Debug lines are written.
bool verbose();

/// Writes one line (thread-safe, one write per line) in the configured format; `fields` (an
/// object, or null) go into a JSON line beside the message and are left out of the others.
void log(log_level level, std::string_view message, const nlohmann::json& fields = nullptr);

inline void log_debug(std::string_view m) {
  if (verbose()) log(log_level::debug, m);
}
inline void log_info(std::string_view m) { log(log_level::info, m); }
inline void log_warn(std::string_view m) { log(log_level::warning, m); }
inline void log_error(std::string_view m) { log(log_level::error, m); }

/// The line of one HTTP request of `hone serve`: an error for a 5xx answer; debug for a
/// `routine` one (metrics scrapes, status polls, health checks); info otherwise.
void log_http_request(std::string_view method, std::string_view target, int status, double milliseconds,
                      std::string_view note, bool routine);

/// Replaces control characters (and anything that is not printable ASCII) with \xNN so that a
/// request path cannot forge log lines.
std::string printable(std::string_view s, std::size_t max = 512);

}  // namespace hone_app

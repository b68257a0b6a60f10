// Logging to stderr for the `hone` program: one line per event, timestamped (UTC), never
// request bodies or key material. Debug lines appear only with --verbose.
#pragma once

#include <hone/backup.hpp>  // hone::backup::log_level

#include <string>
#include <string_view>

namespace hone_app {

using hone::backup::log_level;

/// Turns debug logging on or off (off by default).
void set_verbose(bool on);
bool verbose();

/// Writes "2024-01-15T14:30:22.123Z INFO  message" to stderr (thread-safe, one write per line).
void log(log_level level, std::string_view message);

inline void log_debug(std::string_view m) {
  if (verbose()) log(log_level::debug, m);
}
inline void log_info(std::string_view m) { log(log_level::info, m); }
inline void log_warn(std::string_view m) { log(log_level::warning, m); }
inline void log_error(std::string_view m) { log(log_level::error, m); }

/// Replaces control characters (and anything that is not printable ASCII) with \xNN so that a
/// request path cannot forge log lines.
std::string printable(std::string_view s, std::size_t max = 512);

}  // namespace hone_app

#include "core/log.hpp"

#include "config/environment.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <sys/stat.h>
#include <unistd.h>

namespace hone_app {

namespace {
std::atomic<log_level> g_level{log_level::info};
std::atomic<log_format> g_format{log_format::text};
std::mutex g_mutex;

/// "2024-01-15T14:30:22.123Z"
std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return stamp;
}

/// The syslog priority of a level (sd-daemon(3)): 3 err, 4 warning, 6 info, 7 debug.
int priority(log_level level) {
  switch (level) {
    case log_level::debug: return 7;
    case log_level::info: return 6;
    case log_level::warning: return 4;
    case log_level::error: return 3;
  }
  return 6;
}

/// JOURNAL_STREAM ("DEVICE:INODE") names the stream stderr is: systemd connected it to the
/// journal (and nothing redirected it since).
bool stderr_is_journal() {
  const char* v = env_value("JOURNAL_STREAM");
  if (!v) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(v, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0 && static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

/// One line in the configured format, with its newline.
std::string format_line(log_level level, std::string_view message, const nlohmann::json& fields) {
  const log_format f = g_format;
  if (f == log_format::json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();  // time, level, message first
    j["time"] = timestamp();
    j["level"] = log_level_name(level);
    j["message"] = std::string(message);
    if (fields.is_object())
      for (const auto& [k, v] : fields.items())
        if (!j.contains(k)) j[k] = v;
    // Invalid UTF-8 (a request path) is replaced, never a reason to lose the line.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  }
  std::string level_text(hone::backup::to_string(level));
  level_text.resize(5, ' ');
  std::string line;
  line.reserve(message.size() + 40);
  if (f == log_format::journal)
    line += "<" + std::to_string(priority(level)) + ">";
  else
    line += timestamp() + ' ';
  line += level_text;
  line += ' ';
  line += message;
  line += '\n';
  return line;
}

}  // namespace

std::optional<log_level> parse_log_level(std::string_view t) {
  if (t == "debug") return log_level::debug;
  if (t == "info") return log_level::info;
  if (t == "warn" || t == "warning") return log_level::warning;
  if (t == "error") return log_level::error;
  return std::nullopt;
}

std::string_view log_level_name(log_level level) {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

std::string configure_logging(const std::string& cli_level, bool verbose_flag) {
  const char* env_level = env_value("HONE_LOG_LEVEL");
  std::string_view level_text = !cli_level.empty()        ? std::string_view(cli_level)
                                : verbose_flag            ? std::string_view("debug")
                                : env_level && *env_level ? std::string_view(env_level)
                                                          : std::string_view("info");
  const char* setting = !cli_level.empty() ? "--log-level" : "HONE_LOG_LEVEL";
  auto level = parse_log_level(level_text);
  if (!level)
    return std::string(setting) + ": '" + printable(level_text, 40) + "' is not a level (debug, info, warn or error)";
  log_format format = stderr_is_journal() ? log_format::journal : log_format::text;
  if (const char* f = env_value("HONE_LOG_FORMAT"); f && *f) {
    const std::string_view v = f;
    if (v == "json")
      format = log_format::json;
    else if (v == "journal")
      format = log_format::journal;
    else if (v == "text")
      format = log_format::text;
    else
      return "HONE_LOG_FORMAT: '" + printable(v, 40) + "' is not a format (text, json or journal)";
  }
  set_log_level(*level);
  set_log_format(format);
  return {};
}

void set_log_level(log_level lowest) { g_level = lowest; }
void set_log_format(log_format f) { g_format = f; }
void set_verbose(bool on) { g_level = on ? log_level::debug : log_level::info; }
bool verbose() { return g_level.load() == log_level::debug; }

void log(log_level level, std::string_view message, const nlohmann::json& fields) {
  if (static_cast<int>(level) < static_cast<int>(g_level.load())) return;
  const std::string line = format_line(level, message, fields);
  std::lock_guard lk(g_mutex);
  // One write() per line, so that lines from several threads (and processes) never interleave.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void log_http_request(std::string_view method, std::string_view target, int status, double ms, std::string_view note,
                      bool routine) {
  const std::string path = printable(target.substr(0, target.find('?')), 300);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.1f ms", ms);
  std::string line = "http: " + printable(method, 16) + " " + path + " " + std::to_string(status) + " " + duration;
  if (!note.empty()) line += " - " + std::string(note);
  nlohmann::json fields = {{"method", printable(method, 16)},
                           {"path", path},
                           {"status", status},
                           {"duration_ms", static_cast<double>(static_cast<long long>(ms * 10 + 0.5)) / 10}};
  if (!note.empty()) fields["note"] = std::string(note);
  const log_level level = status >= 500 ? log_level::error : routine ? log_level::debug : log_level::info;
  log(level, line, fields);
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max) + 8);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace hone_app

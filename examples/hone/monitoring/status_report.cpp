#include "monitoring/status_report.hpp"

#include "core/app.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone_app {

namespace fs = std::filesystem;

std::optional<std::chrono::seconds> parse_age(std::string_view text) {
  constexpr long long max_seconds = 100LL * 366 * 24 * 3600;
  if (text.empty()) return std::nullopt;
  long long total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    long long n = 0;
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > max_seconds) return std::nullopt;
      ++i;
    }
    if (i == start || i == text.size()) return std::nullopt;  // a number needs a unit, a unit a number
    long long unit = 0;
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 7 * 86400; break;
      default: return std::nullopt;
    }
    ++i;
    total += n * unit;
    if (total > max_seconds) return std::nullopt;
  }
  if (total <= 0) return std::nullopt;
  return std::chrono::seconds(total);
}

std::optional<hb::time_point> parse_iso8601(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SSZ
  if (t.size() != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != 'Z')
    return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    out = 0;
    for (std::size_t k = pos; k < pos + len; ++k) {
      if (t[k] < '0' || t[k] > '9') return false;
      out = out * 10 + (t[k] - '0');
    }
    return true;
  };
  std::tm tm{};
  int y, mo, d, h, mi, s;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, s))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t tt = ::timegm(&tm);
  return std::chrono::system_clock::from_time_t(tt);
}

bool write_json_file(const fs::path& path, const json& j, std::string& error) {
  const std::string text = to_text(j);
  std::string tmpl = (path.parent_path() / ".hone-state-XXXXXX").string();
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) {
    error = "cannot create a file in " + path.parent_path().string() + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::fchmod(fd, 0600) == 0;
  std::size_t off = 0;
  while (ok && off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (ok && ::rename(tmpl.c_str(), path.c_str()) != 0) ok = false;
  if (!ok) {
    error = "cannot write " + path.string() + ": " + std::strerror(errno ? errno : saved);
    ::unlink(tmpl.c_str());
    return false;
  }
  if (const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

std::optional<json> read_json_file(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (!f) return std::nullopt;
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < (1u << 20)) text.append(buf, n);
  std::fclose(f);
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

void record_verify(const fs::path& backup_dir, const hb::verify_result& v, hb::time_point at) {
  json j = json::object();
  j["name"] = v.name;
  j["verified_at"] = hb::iso8601(at);
  j["valid"] = v.valid;
  j["message"] = v.valid ? json(nullptr) : json(program_message(v.message));
  std::string error;
  if (!write_json_file(backup_dir / last_verify_file, j, error)) log_debug("not recorded as the last verify: " + error);
}

json policy_json(const hb::keep_calendar& p) {
  json j = json::object();
  j["keep_last"] = p.last;
  j["keep_hourly"] = p.hourly;
  j["keep_daily"] = p.daily;
  j["keep_weekly"] = p.weekly;
  j["keep_monthly"] = p.monthly;
  j["keep_yearly"] = p.yearly;
  j["description"] = p.describe();
  return j;
}

namespace {

/// `list()` into `out`, or why it failed into `error`.
template <class List>
void list_into(List list, std::vector<hb::backup_info>& out, std::string& error) {
  try {
    out = list();
  } catch (const hb::error& e) {
    error = program_message(e);
  } catch (const std::exception& e) {
    error = e.what();
  }
}

}  // namespace

void list_local(const fs::path& dir, status_inputs& in) {
  list_into([&] { return make_runner(fs::path(), hb::database_key::none(), dir).list(); }, in.local, in.local_error);
}

void list_offsite(const fs::path& dir, status_inputs& in) {
  if (!offsite_settings()) return;
  in.offsite_configured = true;
  list_into(
      [&] {
        auto set = make_backups(fs::path(), hb::database_key::none(), dir);
        auto listed = set.list_offsite();
        in.offsite_conflicts = set.conflicts(in.local, listed);
        return listed;
      },
      in.offsite, in.offsite_error);
}

namespace {

/// {"count", "bytes"} of the valid backups in `backups` (and "not_backups", "error");
/// `newest` is updated with the newest of them, `where` its location.
json location_json(const std::vector<hb::backup_info>& backups, const std::string& error,
                   const hb::backup_info*& newest, const char*& newest_where, const char* where) {
  std::uint64_t count = 0, bytes = 0;
  json problems = json::array();
  for (const auto& b : backups) {
    if (!b.problem.empty()) {
      problems.push_back(b.name);
      continue;
    }
    ++count;
    bytes += b.size;
    if (!newest || b.created_at > newest->created_at) {
      newest = &b;
      newest_where = where;
    }
  }
  json j = {{"count", count}, {"bytes", bytes}};
  if (!error.empty()) j["error"] = error;
  if (!problems.empty()) j["not_backups"] = problems;
  return j;
}

}  // namespace

json status_json(const status_inputs& in) {
  json j = json::object();
  j["ok"] = false;
  j["checked_at"] = hb::iso8601(in.now);
  j["backup_dir"] = in.backup_dir.string();
  // count and bytes are the local folder's (what a restore reads first); newest is the
  // newest backup anywhere.
  const hb::backup_info* newest = nullptr;
  const char* newest_where = "local";
  json locations = json::object();
  locations["local"] = location_json(in.local, in.local_error, newest, newest_where, "local");
  if (in.offsite_configured) {
    locations["r2"] = location_json(in.offsite, in.offsite_error, newest, newest_where, "r2");
    if (!in.offsite_conflicts.empty()) locations["r2"]["conflicts"] = in.offsite_conflicts;
  }
  if (newest) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(in.now - newest->created_at).count();
    j["newest"] = {{"name", newest->name},
                   {"created_at", hb::iso8601(newest->created_at)},
                   {"size", newest->size},
                   {"age_seconds", age},
                   {"location", newest_where}};
  } else {
    j["newest"] = nullptr;
  }
  j["count"] = locations["local"]["count"];
  j["bytes"] = locations["local"]["bytes"];
  j["locations"] = locations;
  bool ok = newest != nullptr && in.local_error.empty() && in.offsite_error.empty() && in.offsite_conflicts.empty();
  if (in.max_age) {
    j["max_age_seconds"] = in.max_age->count();
    const bool stale = !newest || (in.now - newest->created_at) > *in.max_age;
    j["stale"] = stale;
    ok = ok && !stale;
  }
  j["ok"] = ok;
  j["scheduler"] = in.scheduler;
  j["last_failure"] = in.last_failure;
  j["last_verify"] = in.last_verify;
  return j;
}

bool status_ok(const json& status) { return status.value("ok", false); }

namespace {

std::string age_text(long long s) {
  if (s < 0) return "in the future";
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  if (s < 2 * 86400) return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min ago";
  return std::to_string(s / 86400) + " days " + std::to_string(s % 86400 / 3600) + " h ago";
}

std::string str(const json& j, const char* field, const char* otherwise = "-") {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : otherwise;
}

/// The lines of the text report: a label, padded to 20 columns, and its value.
struct report_lines {
  std::string out;
  void line(const std::string& label, const std::string& value) {
    out += label;
    out.append(label.size() < 20 ? 20 - label.size() : 1, ' ');
    out += value + "\n";
  }
};

/// "N (SIZE) in the offsite bucket", or why it cannot be listed; then the names in conflict.
std::string offsite_text(const json& r2) {
  std::string offsite = std::to_string(r2["count"].get<std::uint64_t>()) + " (" +
                        human_size(r2["bytes"].get<std::uint64_t>()) + ") in the offsite bucket";
  if (r2.contains("error")) offsite = "the offsite bucket cannot be listed: " + str(r2, "error");
  if (auto c = r2.find("conflicts"); c != r2.end() && c->is_array()) {
    std::string names;
    for (const auto& n : *c) names += (names.empty() ? "" : ", ") + (n.is_string() ? n.get<std::string>() : "?");
    offsite += "; in conflict (other bytes under the name of a local backup, not offsite): " + names;
  }
  return offsite;
}

void scheduler_lines(report_lines& r, const json& sched) {
  if (!sched.is_object()) {
    r.line("Scheduler:", "unknown (no state from `hone serve` in the backup folder)");
    return;
  }
  std::string what = sched.value("enabled", false) ? "every " + std::to_string(sched.value("interval_seconds", 0LL)) +
                                                         " s, " + str(sched["policy"], "description")
                                                   : "disabled";
  if (!sched.value("server_running", false)) what += " (server not running)";
  r.line("Scheduler:", what);
  if (sched["last_run"].is_object()) {
    const json& run = sched["last_run"];
    std::string v = str(run, "started_at") + " " + str(run, "outcome");
    if (str(run, "outcome") == "success")
      v += " (" + str(run, "backup") + ")";
    else
      v += " (" + str(run, "failed_operation") + ": " + str(run, "error") + ")";
    r.line("Last scheduled run:", v);
  } else {
    r.line("Last scheduled run:", "none");
  }
  r.line("Next scheduled run:", str(sched, "next_run", "unknown"));
}

/// The last line: OK only when the document says ok; every other reason is named.
std::string verdict_text(const json& s) {
  const json& local = s["locations"]["local"];
  std::string verdict = "OK";
  if (!s["newest"].is_object())
    verdict = local.contains("error") ? "FAILED: the backups cannot be listed" : "FAILED: no backup";
  else if (s.value("stale", false))
    verdict = "STALE: the newest backup is older than " + std::to_string(s["max_age_seconds"].get<long long>()) + " s";
  else if (local.contains("error"))
    verdict = "FAILED: the backups cannot be listed";
  if (!s.value("ok", false) && verdict == "OK") {
    const auto r2 = s["locations"].find("r2");
    if (r2 != s["locations"].end() && r2->contains("error"))
      verdict = "FAILED: the offsite bucket cannot be listed";
    else if (r2 != s["locations"].end() && r2->contains("conflicts"))
      verdict = "FAILED: the offsite bucket holds other bytes under the name of a local backup (conflict)";
    else
      verdict = "FAILED";
  }
  return verdict;
}

}  // namespace

std::string status_text(const json& s) {
  report_lines r;
  const json& local = s["locations"]["local"];
  std::string stored = std::to_string(s["count"].get<std::uint64_t>()) + " (" +
                       human_size(s["bytes"].get<std::uint64_t>()) + ") in " + str(s, "backup_dir");
  if (local.contains("error")) stored += " - cannot be listed: " + str(local, "error");
  r.line("Backups:", stored);
  if (auto r2 = s["locations"].find("r2"); r2 != s["locations"].end()) r.line("Offsite:", offsite_text(*r2));
  if (s["newest"].is_object()) {
    const json& n = s["newest"];
    r.line("Newest:", str(n, "name") + ", " + human_size(n["size"].get<std::uint64_t>()) + ", created " +
                          str(n, "created_at") + " (" + age_text(n["age_seconds"].get<long long>()) + ")" +
                          (str(n, "location") == "r2" ? ", only in the offsite bucket" : ""));
  } else {
    r.line("Newest:", "none");
  }
  scheduler_lines(r, s["scheduler"]);
  if (s["last_failure"].is_object())
    r.line("Last failure:", str(s["last_failure"], "at") + " " + str(s["last_failure"], "operation") + ": " +
                                str(s["last_failure"], "message"));
  if (s["last_verify"].is_object()) {
    const json& v = s["last_verify"];
    r.line("Last verify:", str(v, "name") + " at " + str(v, "verified_at") + ": " +
                               (v.value("valid", false) ? std::string("valid") : "NOT valid: " + str(v, "message")));
  } else {
    r.line("Last verify:", "none recorded");
  }
  r.line("Status:", verdict_text(s));
  return r.out;
}

}  // namespace hone_app

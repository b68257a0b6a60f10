#include "monitoring/metrics.hpp"

#include "monitoring/process_metrics.hpp"

#include <charconv>
#include <cmath>
#include <exception>
#include <memory>

namespace hone_app {

namespace {

std::size_t index_of(hb::event::operation op) {
  for (std::size_t i = 0; i < metrics_registry::operations.size(); ++i)
    if (metrics_registry::operations[i] == op) return i;
  return 0;
}

double unix_seconds(hb::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

std::string op_label(hb::event::operation op) { return "operation=\"" + std::string(hb::to_string(op)) + "\""; }

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += prometheus_number(value);
  out += '\n';
}

/// The samples of one histogram (`name`_bucket, _sum, _count) with `labels` ("" for none).
void histogram(std::string& out, const std::string& name, const std::string& labels,
               const metrics_registry::op_stats& s) {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < metrics_registry::buckets.size(); ++b) {
    cumulative += s.bucket_counts[b];
    sample(out, name + "_bucket", labels + sep + "le=\"" + prometheus_number(metrics_registry::buckets[b]) + "\"",
           static_cast<double>(cumulative));
  }
  sample(out, name + "_bucket", labels + sep + "le=\"+Inf\"", static_cast<double>(s.count));
  sample(out, name + "_sum", labels, s.sum);
  sample(out, name + "_count", labels, static_cast<double>(s.count));
}

/// The offsite uploads' counter, histogram and last success.
void render_uploads(std::string& out, const metrics_registry::op_stats& uploads) {
  family(out, "hone_backup_uploads_total", "counter", "Uploads of local backups to the offsite bucket, by result.");
  for (int ok : {1, 0})
    sample(out, "hone_backup_uploads_total", std::string("result=\"") + (ok ? "success" : "failure") + "\"",
           static_cast<double>(uploads.runs[static_cast<std::size_t>(ok)]));
  family(out, "hone_backup_upload_duration_seconds", "histogram", "How long uploads to the offsite bucket took.");
  histogram(out, "hone_backup_upload_duration_seconds", "", uploads);
  family(out, "hone_backup_last_upload_success_timestamp_seconds", "gauge",
         "When an upload to the offsite bucket last succeeded (Unix time).");
  if (uploads.last_success)
    sample(out, "hone_backup_last_upload_success_timestamp_seconds", "", unix_seconds(*uploads.last_success));
}

/// What each place stores (newest size, count, bytes) and the scheduler's next run.
void render_stored(std::string& out, const std::vector<location_snapshot>& locations,
                   const std::optional<hb::time_point>& next) {
  family(out, "hone_backup_last_size_bytes", "gauge", "Size of the newest stored backup, by location.");
  for (const auto& l : locations)
    if (l.listed && l.newest_size)
      sample(out, "hone_backup_last_size_bytes", "location=\"" + prometheus_label(l.location) + "\"",
             static_cast<double>(*l.newest_size));
  family(out, "hone_backup_stored_backups", "gauge", "Number of stored backups, by location.");
  for (const auto& l : locations)
    if (l.listed)
      sample(out, "hone_backup_stored_backups", "location=\"" + prometheus_label(l.location) + "\"",
             static_cast<double>(l.count));
  family(out, "hone_backup_stored_bytes", "gauge", "Total size of the stored backups, by location.");
  for (const auto& l : locations)
    if (l.listed)
      sample(out, "hone_backup_stored_bytes", "location=\"" + prometheus_label(l.location) + "\"",
             static_cast<double>(l.bytes));
  family(out, "hone_backup_next_run_timestamp_seconds", "gauge",
         "When the built-in scheduler's next backup is due (Unix time); absent without a scheduler.");
  if (next) sample(out, "hone_backup_next_run_timestamp_seconds", "", unix_seconds(*next));
}

}  // namespace

bool is_refusal(hb::errc code) {
  switch (code) {
    case hb::errc::invalid_name:
    case hb::errc::invalid_argument:
    case hb::errc::not_found:
    case hb::errc::already_exists:
    case hb::errc::database_exists: return true;
    default: return false;
  }
}

namespace {

/// The runner tells of a failed operation from the handler of its exception: a refusal when
/// that exception is one (is_refusal).
bool failure_is_refusal() {
  const std::exception_ptr current = std::current_exception();
  if (!current) return false;
  try {
    std::rethrow_exception(current);
  } catch (const hb::error& e) {
    return is_refusal(e.code());
  } catch (...) {
    return false;
  }
}

}  // namespace

std::string prometheus_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string prometheus_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

metrics_registry::place_stats& metrics_registry::place(std::string_view location) {
  for (auto& p : places_)
    if (p.location == location) return p;
  return places_.emplace_back(place_stats{std::string(location), {}});
}

void metrics_registry::record(hb::event::operation op, bool success, double seconds, hb::time_point at,
                              std::string_view location) {
  std::lock_guard lk(m_);
  place(location).ops[index_of(op)].add(success, seconds, at);
}

void metrics_registry::record_refused(hb::event::operation op, std::string_view location) {
  std::lock_guard lk(m_);
  ++place(location).ops[index_of(op)].refused;
}

void metrics_registry::op_stats::add(bool success, double seconds, hb::time_point at) {
  if (!(seconds >= 0)) seconds = 0;
  ++runs[success ? 1 : 0];
  ++count;
  sum += seconds;
  for (std::size_t i = 0; i < buckets.size(); ++i)
    if (seconds <= buckets[i]) {
      ++bucket_counts[i];
      break;
    }
  if (success && (!last_success || at > *last_success)) last_success = at;
}

void metrics_registry::record_upload(bool success, double seconds, hb::time_point at) {
  std::lock_guard lk(m_);
  if (!uploads_) uploads_ = op_stats{};
  uploads_->add(success, seconds, at);
}

void metrics_registry::add_location(std::string_view location) {
  std::lock_guard lk(m_);
  place(location);
}

void metrics_registry::count_uploads() {
  std::lock_guard lk(m_);
  if (!uploads_) uploads_ = op_stats{};
}

std::function<void(bool, double)> metrics_registry::upload_counter() {
  return [this](bool ok, double seconds) { record_upload(ok, seconds, std::chrono::system_clock::now()); };
}

hb::observer_fn metrics_registry::observer(hb::observer_fn next, std::string location) {
  add_location(location);
  // One runner's operations do not overlap, but nothing is assumed: each operation's start is
  // kept per operation kind, under a lock of this observer's own.
  struct timing {
    std::mutex m;
    std::map<hb::event::operation, std::chrono::steady_clock::time_point> started;
  };
  auto t = std::make_shared<timing>();
  return [this, t, next = std::move(next), location = std::move(location)](const hb::event& e) {
    if (e.stage.empty() && e.what != hb::event::kind::progress) {
      const auto now = std::chrono::steady_clock::now();
      if (e.what == hb::event::kind::started) {
        std::lock_guard lk(t->m);
        t->started[e.op] = now;
      } else {
        double seconds = 0;
        {
          std::lock_guard lk(t->m);
          if (auto it = t->started.find(e.op); it != t->started.end()) {
            seconds = std::chrono::duration<double>(now - it->second).count();
            t->started.erase(it);
          }
        }
        if (e.what == hb::event::kind::failed && failure_is_refusal())
          record_refused(e.op, location);
        else
          record(e.op, e.what == hb::event::kind::finished, seconds, std::chrono::system_clock::now(), location);
      }
    }
    if (next) next(e);
  };
}

void metrics_registry::set_next_run(std::optional<hb::time_point> t) {
  std::lock_guard lk(m_);
  next_run_ = t;
}

std::string metrics_registry::render(const std::vector<location_snapshot>& locations) const {
  std::vector<place_stats> places;
  std::optional<op_stats> uploads;
  std::optional<hb::time_point> next;
  {
    std::lock_guard lk(m_);
    places = places_;
    uploads = uploads_;
    next = next_run_;
  }
  std::string out;
  family(out, "hone_backup_build_info", "gauge", "The running hone program; always 1.");
  sample(out, "hone_backup_build_info", "version=\"" + prometheus_label(HONE_VERSION) + "\"", 1);

  auto labels = [](hb::event::operation op, const place_stats& p) {
    return op_label(op) + ",location=\"" + prometheus_label(p.location) + "\"";
  };
  family(out, "hone_backup_runs_total", "counter",
         "Backup operations (create, verify, restore, prune, remove) run by this server, by result (success, "
         "failure, or refused: a name invalid, not found or taken) and by the place they ran in.");
  for (const auto& p : places)
    for (std::size_t i = 0; i < operations.size(); ++i) {
      for (int ok : {1, 0})
        sample(out, "hone_backup_runs_total",
               labels(operations[i], p) + ",result=\"" + (ok ? "success" : "failure") + "\"",
               static_cast<double>(p.ops[i].runs[static_cast<std::size_t>(ok)]));
      sample(out, "hone_backup_runs_total", labels(operations[i], p) + ",result=\"refused\"",
             static_cast<double>(p.ops[i].refused));
    }

  family(out, "hone_backup_duration_seconds", "histogram",
         "How long backup operations took, by operation and by the place they ran in.");
  for (const auto& p : places)
    for (std::size_t i = 0; i < operations.size(); ++i) {
      histogram(out, "hone_backup_duration_seconds", labels(operations[i], p), p.ops[i]);
    }

  // A create's success also shows in the newest backup stored in that place (made by this
  // server, by the CLI or before a restart): the newer of the two is reported.
  family(out, "hone_backup_last_success_timestamp_seconds", "gauge",
         "When an operation last succeeded in a place (Unix time); for create also the time of the newest backup "
         "stored there.");
  for (const auto& p : places)
    for (std::size_t i = 0; i < operations.size(); ++i) {
      std::optional<hb::time_point> t = p.ops[i].last_success;
      if (operations[i] == hb::event::operation::create)
        for (const auto& l : locations)
          if (l.location == p.location && l.newest_time && (!t || *l.newest_time > *t)) t = l.newest_time;
      if (t) sample(out, "hone_backup_last_success_timestamp_seconds", labels(operations[i], p), unix_seconds(*t));
    }

  if (uploads) render_uploads(out, *uploads);
  render_stored(out, locations, next);
  render_process_metrics(out);
  return out;
}

}  // namespace hone_app

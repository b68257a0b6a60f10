#include "monitoring/monitoring.hpp"

#include "core/app.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"
#include "monitoring/status_report.hpp"
#include "offsite/offsite.hpp"

#include <algorithm>

#include <unistd.h>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

hb::time_point now() { return std::chrono::system_clock::now(); }

api_response text_response(int status, std::string body, const char* content_type) {
  api_response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", content_type);
  return r;
}

/// The value of `key` in a query string ("a=1&max_age=26h"); nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view key) {
  std::size_t pos = 0;
  while (pos <= query.size()) {
    const auto amp = query.find('&', pos);
    const std::string_view part = query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    const auto eq = part.find('=');
    if (part.substr(0, eq) == key) {
      std::string out;
      if (eq == std::string_view::npos || !percent_decode(part.substr(eq + 1), out)) return std::string();
      return out;
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return std::nullopt;
}

}  // namespace

monitor::monitor(fs::path backup_dir, std::optional<hook_config> hook)
    : dir_(std::move(backup_dir)), last_run_(nullptr), last_failure_(nullptr) {
  if (hook) {
    log_info("failure hook: '" + printable(hook->argv.front(), 200) +
             "' runs when a scheduled backup, prune or upload fails (HONE_BACKUP_ON_FAILURE)");
    hook_ = std::make_unique<failure_hook>(std::move(*hook));
  }
  // What the previous server recorded is kept until this one has news.
  if (auto prev = read_json_file(dir_ / server_state_file)) {
    if (auto s = prev->find("scheduler"); s != prev->end() && s->is_object())
      if (auto r = s->find("last_run"); r != s->end() && r->is_object()) last_run_ = *r;
    if (auto f = prev->find("last_failure"); f != prev->end() && f->is_object()) last_failure_ = *f;
  }
}

monitor::~monitor() {
  {
    std::lock_guard lk(m_);
    running_ = false;
    next_run_.reset();
    save_locked();
  }
  hook_.reset();  // waits for the failure commands still running
}

hb::observer_fn monitor::observer(hb::observer_fn next, std::string location) {
  return metrics_.observer(std::move(next), std::move(location));
}

std::function<void(bool, double)> monitor::upload_counter() { return metrics_.upload_counter(); }

void monitor::started() {
  std::lock_guard lk(m_);
  started_ = true;
  save_locked();
}

void monitor::scheduler_configured(const hb::schedule_config& cfg) {
  std::lock_guard lk(m_);
  scheduler_enabled_ = cfg.enabled;
  interval_ = cfg.interval;
  policy_ = cfg.policy;
  save_locked();
}

void monitor::next_run(hb::time_point due) {
  metrics_.set_next_run(due);
  std::lock_guard lk(m_);
  next_run_ = due;
  save_locked();
}

void monitor::cycle(const hb::cycle_outcome& o) {
  {
    std::lock_guard lk(m_);
    json r = json::object();
    r["started_at"] = hb::iso8601(o.started);
    r["finished_at"] = hb::iso8601(o.finished);
    r["outcome"] = o.success ? "success" : "failure";
    r["failed_operation"] = o.success ? json(nullptr) : json(o.failed_operation);
    r["error"] = o.success ? json(nullptr) : json(program_message(o.message));
    r["backup"] = o.backup_name.empty() ? json(nullptr) : json(o.backup_name);
    last_run_ = std::move(r);
    next_run_.reset();
    save_locked();
  }
  if (!o.success) failed(o.failed_operation, program_message(o.message));
}

void monitor::failed(const std::string& operation, const std::string& message) {
  const std::string at = hb::iso8601(now());
  {
    std::lock_guard lk(m_);
    last_failure_ = {{"operation", operation}, {"message", message}, {"at", at}};
    save_locked();
  }
  if (hook_) hook_->run(operation, message, at);
}

void monitor::verified(const hb::verify_result& v) { record_verify(dir_, v, now()); }

json monitor::scheduler_json_locked() const {
  json s = json::object();
  s["source"] = "server";
  s["server_running"] = running_;
  s["server_pid"] = static_cast<long long>(::getpid());
  s["enabled"] = scheduler_enabled_;
  s["interval_seconds"] =
      scheduler_enabled_ ? json(std::chrono::duration_cast<std::chrono::seconds>(interval_).count()) : json(nullptr);
  s["policy"] = scheduler_enabled_ ? policy_json(policy_) : json(nullptr);
  s["next_run"] = next_run_ ? json(hb::iso8601(*next_run_)) : json(nullptr);
  s["last_run"] = last_run_;
  return s;
}

json monitor::state_json_locked() const {
  json j = json::object();
  j["format"] = 1;
  j["updated_at"] = hb::iso8601(now());
  j["scheduler"] = scheduler_json_locked();
  j["last_failure"] = last_failure_;
  return j;
}

void monitor::save_locked() {
  // The folder is made by the first backup; until it exists there is nothing to record beside.
  std::error_code ec;
  if (!started_ || !fs::is_directory(dir_, ec)) return;
  std::string error;
  if (write_json_file(dir_ / server_state_file, state_json_locked(), error)) {
    last_save_error_.clear();
  } else if (error != last_save_error_) {
    log_warn("cannot record the server's state for `hone backup status`: " + error);
    last_save_error_ = error;
  }
}

json monitor::status(std::optional<std::chrono::seconds> max_age) const {
  status_inputs in;
  in.backup_dir = dir_;
  in.now = now();
  in.max_age = max_age;
  list_local(dir_, in);
  // The server never waits on the bucket for its status: it reports the newest completed
  // listing (shared with the API's), waiting a moment for a fresh one.
  bucket_listing listing = latest_bucket_listing(status_listing_wait, status_listing_fresh_for);
  if (listing.shared) {
    in.offsite_configured = true;
    if (listing.completed) {
      in.offsite = std::move(listing.backups);
      in.offsite_conflicts = std::move(listing.conflicts);
      in.offsite_error = !listing.error.empty() || listing.conflicts_error.empty()
                             ? listing.error
                             : "cannot compare the bucket's backups with the local ones: " + listing.conflicts_error;
    } else {
      in.offsite_error = "the bucket has not been listed yet (its first listing is still in progress)";
    }
  } else {
    list_offsite(dir_, in);
  }
  {
    std::lock_guard lk(m_);
    in.scheduler = scheduler_json_locked();
    in.last_failure = last_failure_;
  }
  if (auto v = read_json_file(dir_ / last_verify_file)) in.last_verify = *v;
  json j = status_json(in);
  if (listing.shared) {
    // When the listing is from: its age, and whether a newer one is still under way (stale).
    json& r2 = j["locations"][std::string(offsite_place)];
    r2["listed_at"] = listing.completed ? json(hb::iso8601(listing.finished_at)) : json(nullptr);
    r2["listing_age_seconds"] =
        listing.completed
            ? json(std::max<long long>(
                  0, std::chrono::duration_cast<std::chrono::seconds>(in.now - listing.finished_at).count()))
            : json(nullptr);
    r2["listing_stale"] = !listing.completed || listing.in_progress;
  }
  return j;
}

std::string monitor::metrics_text() const {
  status_inputs in;
  list_local(dir_, in);
  location_snapshot local;
  local.location = "local";
  local.listed = in.local_error.empty();
  for (const auto& b : in.local) {
    if (!b.problem.empty()) continue;
    ++local.count;
    local.bytes += b.size;
    if (!local.newest_time || b.created_at > *local.newest_time) {
      local.newest_time = b.created_at;
      local.newest_size = b.size;
    }
  }
  {
    std::lock_guard lk(m_);
    if (in.local_error != last_list_error_ && !in.local_error.empty())
      log_warn("metrics: cannot list the backups in " + dir_.string() + ": " + in.local_error);
    last_list_error_ = in.local_error;
  }
  return metrics_.render({local});
}

std::optional<api_response> monitor::handle(const api_request& req) const {
  std::string_view target = req.target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  if (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
  const bool is_metrics = target == "/metrics";
  const bool is_status = target == "/api/backup/status";
  if (!is_metrics && !is_status) return std::nullopt;
  if (req.method != "GET") {
    api_response r = error_response(405, "Method not allowed; use GET");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (is_metrics) {
    api_response r = text_response(200, metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    r.routine = true;  // a scrape every few seconds: logged at debug
    return r;
  }
  std::optional<std::chrono::seconds> max_age;
  if (auto v = query_value(query, "max_age")) {
    max_age = parse_age(*v);
    if (!max_age)
      return error_response(400,
                            "max_age must be a duration such as 26h, 90m or 2d (whole numbers with a unit s, m, "
                            "h, d or w)");
  }
  api_response r;
  r.status = 200;
  r.body = to_text(status(max_age));
  r.routine = true;
  return r;
}

}  // namespace hone_app

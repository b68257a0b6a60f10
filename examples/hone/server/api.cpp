#include "server/api.hpp"

#include "config/config.hpp"
#include "core/app.hpp"
#include "core/backup_format.hpp"
#include "core/json_output.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"
#include "core/hone_database.hpp"
#include "monitoring/monitoring.hpp"
#include "server/request_guard.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <memory>
#include <optional>

namespace hone_app {

namespace {

api_response json_response(int status, const json& j) {
  api_response r;
  r.status = status;
  r.body = to_text(j);
  return r;
}

/// `r` with `note` for the server's log line of the request.
api_response noted(api_response r, std::string note) {
  r.log_note = std::move(note);
  return r;
}

/// An error response ({"error": MESSAGE, "code": CODE}) whose message is logged too.
api_response logged_error(int status, const std::string& message, std::string_view code = {}) {
  return noted(error_response(status, message, code), message);
}

/// The HTTP status for a library error.
int status_for(const hb::error& e) {
  switch (e.code()) {
    case hb::errc::invalid_name:
    case hb::errc::invalid_argument: return 400;
    case hb::errc::not_found: return 404;
    case hb::errc::already_exists:
    case hb::errc::database_exists: return 409;
    case hb::errc::corrupt_backup:
    case hb::errc::unencrypted_backup:
    case hb::errc::key_required:
    case hb::errc::not_a_backup: return 422;
    case hb::errc::database_busy: return 409;
    case hb::errc::locked: return 503;
    case hb::errc::remote: return 502;  // the offsite bucket failed
    default: return 500;
  }
}

api_response from_error(const hb::error& e) {
  const std::string message = program_message(e);
  api_response r = error_response(status_for(e), message, error_code(e));
  if (r.status >= 500 || r.status == 422 || e.code() == hb::errc::database_busy) r.log_note = message;
  return r;
}

/// The body as a JSON object with no fields but `known`: nullopt with `err` set when it is not
/// one, or names another field (a misspelt field is never taken for an absent one). An empty
/// (or blank) body is an empty object.
std::optional<json> parse_object(const std::string& body, std::initializer_list<std::string_view> known,
                                 api_response& err) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    err = error_response(400, "Malformed JSON in request body");
    return std::nullopt;
  }
  if (!j.is_object()) {
    err = error_response(400, "The request body must be a JSON object");
    return std::nullopt;
  }
  for (const auto& [field, value] : j.items()) {
    if (std::find(known.begin(), known.end(), field) != known.end()) continue;
    std::string names;
    for (std::string_view k : known) names += (names.empty() ? "\"" : ", \"") + std::string(k) + "\"";
    err = error_response(400, "Unknown field \"" + printable(field, 100) + "\" in the request body (" +
                                  (names.empty() ? std::string("this request takes none") : "known: " + names) + ")");
    return std::nullopt;
  }
  return j;
}

/// A string field: absent or null gives nullopt; another type sets a 400 in `err`.
bool optional_string(const json& obj, const char* field, std::optional<std::string>& out, api_response& err) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) {
    err = error_response(400, std::string("\"") + field + "\" must be a string");
    return false;
  }
  out = it->get<std::string>();
  return true;
}

/// "from": absent or null is any place; "local" or "r2" (only with a bucket configured); a 400
/// in `err` otherwise.
bool optional_source(const json& obj, bool offsite, source& out, api_response& err) {
  std::optional<std::string> text;
  if (!optional_string(obj, "from", text, err)) return false;
  if (!text) return true;
  try {
    out = parse_source(*text, offsite);
  } catch (const usage_error& e) {
    err = error_response(400, std::string("\"from\": ") + e.what());
    return false;
  }
  return true;
}

/// A boolean field: absent or null leaves `out` as it is; another type sets a 400 in `err`.
bool optional_bool(const json& obj, const char* field, bool& out, api_response& err) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_boolean()) {
    err = error_response(400, std::string("\"") + field + "\" must be a boolean");
    return false;
  }
  out = it->get<bool>();
  return true;
}

/// The API's URL of the backup `name`: /api/backup/NAME, NAME percent-encoded (RFC 3986
/// unreserved characters kept).
std::string backup_url(std::string_view name) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "/api/backup/";
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Requests of this process waiting on the bucket (bucket_slot).
std::atomic<int> g_bucket_requests{0};

/// A request's place among those that may wait on the offsite bucket (max_bucket_requests),
/// held until the request ends.
class bucket_slot {
 public:
  bucket_slot() = default;
  bucket_slot(const bucket_slot&) = delete;
  bucket_slot& operator=(const bucket_slot&) = delete;
  ~bucket_slot() {
    if (taken_) --g_bucket_requests;
  }
  /// False when max_bucket_requests requests wait on the bucket already.
  bool take() {
    int n = g_bucket_requests.load();
    while (n < max_bucket_requests)
      if (g_bucket_requests.compare_exchange_weak(n, n + 1)) return taken_ = true;
    return false;
  }

 private:
  bool taken_ = false;
};

/// 503 at once, the connection closed: the bucket keeps enough requests waiting already.
api_response bucket_busy_response() {
  api_response r = error_response(503, std::to_string(max_bucket_requests) +
                                           " requests are waiting on the offsite bucket already; try again later");
  r.headers.emplace_back("Retry-After", "5");
  r.close = true;
  r.log_note = "too many requests waiting on the offsite bucket";
  return r;
}

/// With a bucket configured, takes a place for a request that waits on it; false when there is
/// none (answer bucket_busy_response()).
bool wait_on_bucket(bucket_slot& slot) { return !offsite_settings() || slot.take(); }

/// Whether a verify or restore of the backup `name` (resolved) from `from` reads the bucket:
/// from r2, or from anywhere when the local folder lacks it.
bool reads_bucket(const std::filesystem::path& backup_dir, const std::string& name, source from) {
  if (!offsite_settings() || from == source::local) return false;
  std::error_code ec;
  return from == source::offsite || !std::filesystem::exists(backup_dir / name, ec);
}

}  // namespace

namespace {

/// The code of an error response that names none: the CLI's code of the same failure.
std::string_view code_for_status(int status) {
  switch (status) {
    case 400: return "invalid_argument";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413:
    case 431: return "too_large";
    case 415: return "unsupported_media_type";
    case 421: return "misdirected";
    case 422: return "invalid_backup";
    case 502: return "offsite_failed";
    case 503: return "busy";
    default: return "failed";
  }
}

}  // namespace

api_response error_response(int status, const std::string& message, std::string_view code) {
  return json_response(status, error_json(message, code.empty() ? code_for_status(status) : code));
}

bool percent_decode(std::string_view in, std::string& out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

backup_set api::backups(bool allow_foreign) const {
  auto observers = [this](std::string_view place) {
    hb::observer_fn observer = step_logger(cfg_.backup_dir);
    if (cfg_.monitoring) observer = cfg_.monitoring->observer(std::move(observer), std::string(place));
    return observer;
  };
  upload_observer uploads;
  if (cfg_.monitoring) uploads = cfg_.monitoring->upload_counter();
  // The bucket's part of this request has a time limit of its own.
  std::shared_ptr<bucket_deadline> deadline;
  if (cfg_.bucket_limit.count() > 0)
    deadline = std::make_shared<bucket_deadline>(cfg_.bucket_limit, "HONE_R2_API_TIMEOUT");
  return make_backups(cfg_.database, cfg_.key, cfg_.backup_dir, observers, std::move(uploads), hb::check_level::full,
                      allow_foreign, std::move(deadline));
}

bool is_health_check(std::string_view method, std::string_view target) {
  return (method == "GET" || method == "HEAD") && target.substr(0, target.find_first_of("?#")) == "/healthz";
}

api_response api::health() const {
  std::string reason = check_database(cfg_.database, cfg_.key).reason;
  if (reason.empty() && cfg_.monitoring) reason = cfg_.monitoring->health_problem();
  if (reason.empty()) return json_response(200, json{{"status", "ok"}});
  return noted(json_response(503, json{{"status", "unavailable"}, {"reason", reason}}), reason);
}

api_response api::handle(const api_request& req) const {
  // GET /healthz needs no token and tells only ok / not ok with a reason word.
  if (is_health_check(req.method, req.target)) return health();
  // `hone serve` checks the token (and Host, Origin, Content-Type) before reading the body,
  // see request_guard; the check here keeps handle() safe on its own.
  const access granted = access_of(req.authorization, cfg_.token, cfg_.metrics_token);
  if (granted == access::none) return unauthorized_response();
  if (cfg_.monitoring)
    if (auto r = cfg_.monitoring->handle(req)) return *r;
  if (granted == access::read_only) return read_only_token_response();
  std::string_view path = req.target;
  if (auto q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  std::vector<std::string_view> seg;
  if (path.empty() || path.front() != '/') return error_response(404, "No such endpoint");
  for (std::size_t pos = 1;;) {
    auto next = path.find('/', pos);
    seg.push_back(path.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  const std::string& m = req.method;
  auto not_allowed = [](const char* allow) {
    api_response r = error_response(405, std::string("Method not allowed; use ") + allow);
    r.headers.emplace_back("Allow", allow);
    return r;
  };
  auto not_found = [&] { return error_response(404, "No such endpoint: " + std::string(path.substr(0, 200))); };

  if (seg.size() < 2 || seg[0] != "api" || seg[1] != "backup") return not_found();
  try {
    if (seg.size() == 2) {
      if (m == "GET") return list();
      if (m == "POST") return create(req.body);
      return not_allowed("GET, POST");
    }
    if (seg.size() == 3 && seg[2] == "prune") return m == "POST" ? prune(req.body) : not_allowed("POST");
    if (seg.size() == 3 && seg[2] == "verify") return m == "POST" ? verify(req.body) : not_allowed("POST");
    if (seg.size() == 3 && seg[2] == "sync" && offsite_settings()) return m == "POST" ? sync() : not_allowed("POST");
    if (seg.size() == 3 || (seg.size() == 4 && seg[3] == "restore")) {
      std::string name;
      if (!percent_decode(seg[2], name)) return error_response(400, "Malformed percent-encoding in the backup name");
      if (seg.size() == 3) {
        if (m == "GET") return get(name);
        if (m == "DELETE") return remove(name);
        return not_allowed("GET, DELETE");
      }
      return m == "POST" ? restore(name, req.body) : not_allowed("POST");
    }
    return not_found();
  } catch (const hb::error& e) {
    return from_error(e);
  } catch (const std::exception& e) {
    return noted(error_response(500, std::string("Internal error: ") + e.what()), e.what());
  }
}

api_response api::create(const std::string& body) const {
  bucket_slot slot;
  if (!wait_on_bucket(slot)) return bucket_busy_response();
  api_response err;
  auto obj = parse_object(body, {"name", "format"}, err);
  if (!obj) return err;
  std::optional<std::string> name;
  if (!optional_string(*obj, "name", name, err)) return err;
  std::optional<std::string> format_text;
  if (!optional_string(*obj, "format", format_text, err)) return err;
  const auto format = format_text ? parse_backup_format(*format_text) : current_backup_format();
  if (!format) return error_response(400, "\"format\" must be \"gzip\" or \"compact\"");
  require_compact_recipient(*format);
  scoped_backup_format chosen(*format);
  auto r = backups();
  if (name) {
    // 400 for an invalid name, 409 for one the folder holds, before any work (the runner
    // still refuses a name taken meanwhile).
    const std::string full = r.backup_name(*name);
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(cfg_.backup_dir / full, ec))) {
      if (cfg_.monitoring) cfg_.monitoring->refused(hb::event::operation::create);
      return error_response(409, "Backup already exists: " + full, hb::to_string(hb::errc::already_exists));
    }
  }
  require_temp_folder();
  created_backup created;
  try {
    created = r.create(name);
  } catch (const hb::error& e) {
    // The server has no key for an encrypted database: its configuration, not the request.
    if (e.code() != hb::errc::key_required) throw;
    return logged_error(500, program_message(e), error_code(e));
  }
  const hb::backup_info& b = created.info;
  api_response res = json_response(201, create_json(b, created.offsite));
  res.headers.emplace_back("Location", backup_url(b.name));
  res.log_note = "created " + printable(b.name) + " (" + std::to_string(b.size) + " bytes)";
  if (created.offsite) {
    if (created.offsite->uploaded)
      res.log_note += ", uploaded to the bucket";
    else if (created.offsite->conflict)
      log_warn("backup " + printable(b.name) + " is kept in the local folder only: " + created.offsite->error);
    else
      log_warn("backup " + printable(b.name) + " is kept in the local folder only: its upload to the bucket failed: " +
               created.offsite->error + " (POST /api/backup/sync or 'hone backup sync' uploads it)");
  }
  if (!b.encrypted && !cfg_.key.empty())
    log_warn("backup " + printable(b.name) + ": the database " + cfg_.database.string() +
             " is not encrypted, but HONE_DB_KEY is set: this backup is not encrypted either");
  return res;
}

api_response api::list() const {
  bucket_slot slot;
  if (!wait_on_bucket(slot)) return bucket_busy_response();
  auto r = backups();
  const listed_backups listed = r.list();
  if (!listed.offsite_error.empty()) {
    // The local backups still serve (verify, restore) while the bucket is away: they come along.
    json body = error_json("Cannot list the offsite bucket: " + listed.offsite_error, "offsite_failed");
    body["local_backups"] = list_json(listed.backups, true);
    return noted(json_response(502, body), listed.offsite_error);
  }
  return json_response(200, list_json(listed.backups, r.has_offsite()));
}

api_response api::get(const std::string& name) const {
  bucket_slot slot;
  if (!wait_on_bucket(slot)) return bucket_busy_response();
  auto r = backups();
  return json_response(200, backup_json(r.get(name), r.has_offsite()));
}

api_response api::remove(const std::string& name) const {
  bucket_slot slot;
  if (!wait_on_bucket(slot)) return bucket_busy_response();
  auto r = backups();
  const removed_backup removed = r.remove(name);
  return noted(json_response(200, delete_json(removed, r.has_offsite())), "deleted " + printable(removed.name));
}

api_response api::sync() const {
  bucket_slot slot;
  if (!wait_on_bucket(slot)) return bucket_busy_response();
  const sync_result s = backups().sync();
  if (!s.error.empty()) {
    // Only conflicts (the bucket answered, and holds other bytes under some names): 409;
    // a bucket that failed: 502. Either way the body says what was done.
    const bool only_conflicts = !s.bucket_failed && !s.conflicts.empty();
    json body = sync_json(s);
    body["error"] = "Sync to the offsite bucket failed: " + s.error;
    return noted(json_response(only_conflicts ? 409 : 502, body), s.error);
  }
  return noted(json_response(200, sync_json(s)), "synced: uploaded " + std::to_string(s.uploaded.size()));
}

api_response api::prune(const std::string& body) const {
  bucket_slot slot;
  if (!wait_on_bucket(slot)) return bucket_busy_response();
  api_response err;
  auto obj = parse_object(
      body, {"keep", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "dry_run"}, err);
  if (!obj) return err;
  // keep (keep-last), keep_hourly ... keep_yearly: whole numbers of at least 1, all optional;
  // {"keep": 7} is the description's request. keep-last without "keep": keep_last_or_default.
  hb::keep_calendar policy;
  bool keep_given = false;
  const std::pair<const char*, long long*> fields[] = {
      {"keep", &policy.last},          {"keep_hourly", &policy.hourly},   {"keep_daily", &policy.daily},
      {"keep_weekly", &policy.weekly}, {"keep_monthly", &policy.monthly}, {"keep_yearly", &policy.yearly}};
  for (auto [field, out] : fields) {
    auto it = obj->find(field);
    if (it == obj->end() || it->is_null()) continue;
    long long n = 0;
    if (it->is_number_unsigned()) {
      if (it->get<std::uint64_t>() > static_cast<std::uint64_t>(LLONG_MAX))
        return error_response(400, std::string("\"") + field + "\" is too large");
      n = static_cast<long long>(it->get<std::uint64_t>());
    } else if (it->is_number_integer()) {
      n = it->get<long long>();
    } else {
      return error_response(400, std::string("\"") + field + "\" must be a whole number");
    }
    if (n < 1)
      return error_response(400, std::string("\"") + field + "\" must be at least 1 (got " + std::to_string(n) + ")");
    *out = n;
    if (out == &policy.last) keep_given = true;
  }
  policy.last = keep_last_or_default(policy, keep_given ? std::optional(policy.last) : std::nullopt);
  bool dry_run = false;
  if (!optional_bool(*obj, "dry_run", dry_run, err)) return err;
  auto set = backups();
  const pruned_backups pruned = set.prune(policy, dry_run);
  if (!pruned.offsite_error.empty()) {
    std::string names;
    for (const auto& n : pruned.local.deleted_names) names += (names.empty() ? "" : ", ") + n;
    json body = error_json("The local folder was pruned (" + std::string(dry_run ? "would delete " : "deleted ") +
                               std::to_string(pruned.local.deleted_names.size()) + (names.empty() ? "" : ": " + names) +
                               "), but the offsite bucket could not be: " + pruned.offsite_error,
                           "offsite_failed");
    body["local"] = prune_json(pruned.local);
    return noted(json_response(502, body), pruned.offsite_error);
  }
  const hb::prune_result& r = pruned.result;
  return noted(json_response(200, prune_json(pruned, set.has_offsite())),
               "pruned " + std::to_string(r.deleted_count) + ", kept " + std::to_string(r.retained_count));
}

api_response api::verify(const std::string& body) const {
  api_response err;
  auto obj = parse_object(body, {"name", "from", "allow_foreign"}, err);
  if (!obj) return err;
  std::optional<std::string> name;
  if (!optional_string(*obj, "name", name, err)) return err;
  if (!name) return error_response(400, "\"name\" is required");
  bool allow_foreign = false;
  if (!optional_bool(*obj, "allow_foreign", allow_foreign, err)) return err;
  auto r = backups(allow_foreign);
  source from = source::any;
  if (!optional_source(*obj, r.has_offsite(), from, err)) return err;
  bucket_slot slot;
  if (reads_bucket(cfg_.backup_dir, r.resolve_name(*name), from) && !wait_on_bucket(slot))
    return bucket_busy_response();
  r.require(*name, from);  // 400 invalid name, 404 unknown backup
  require_temp_folder();
  hb::verify_result v = r.verify(*name, from);
  if (cfg_.monitoring) cfg_.monitoring->verified(v);
  api_response res = json_response(200, verify_json(v));
  if (!v.valid) res.log_note = "backup " + printable(v.name) + " is not valid: " + program_message(v.message);
  return res;
}

api_response api::restore(const std::string& requested, const std::string& body) const {
  api_response err;
  auto obj = parse_object(body, {"force", "from", "allow_foreign"}, err);
  if (!obj) return err;
  bool force = false, allow_foreign = false;
  if (!optional_bool(*obj, "force", force, err) || !optional_bool(*obj, "allow_foreign", allow_foreign, err))
    return err;
  auto r = backups(allow_foreign);
  source from = source::any;
  if (!optional_source(*obj, r.has_offsite(), from, err)) return err;
  const std::string name = r.resolve_name(requested);  // 400 for an invalid name
  bucket_slot slot;
  if (reads_bucket(cfg_.backup_dir, name, from) && !wait_on_bucket(slot)) return bucket_busy_response();
  r.require(name, from);  // 404 before anything else
  if (!force)
    return error_response(409, "Restoring overwrites the current database; send {\"force\": true} to confirm");
  // A backup this server's key cannot use (another key, none, a plain backup while a key is
  // set), a damaged one: 422; the database in use by another connection: 409. Each leaves the
  // database untouched (from_error).
  hb::restore_result res;
  try {
    res = r.restore(name, cfg_.database, true, from);
  } catch (const hb::error& e) {
    if (e.code() != hb::errc::encryption) throw;
    return logged_error(422, program_message(e), error_code(e));  // made with another key
  }
  return noted(
      json_response(200, restore_json(res)),
      "restored " + printable(res.backup_name) + " over " + cfg_.database.string() +
          (res.pre_restore_copy.empty() ? "" : "; previous database kept as " + res.pre_restore_copy.string()));
}

}  // namespace hone_app

// libFuzzer target: the REST API's request handling (examples/hone/server/api.cpp), on a scratch
// database. The input is a request in a small text encoding:
//
//   METHOD TARGET\n
//   AUTHORIZATION\n     (optional; when present and not empty, the API requires a token)
//   BODY               (the rest, newlines included)
//
// Every response must be JSON (GET /metrics: the Prometheus text format) with a status in
// 200..599, errors must be {"error": MESSAGE},
// no exception may leave handle(), and nothing may be an "Internal error" (a 500 for an
// exception that is not a hone::backup::error). Before an input that follows one that could
// have changed the scratch state (any method but GET), the database and backup folders are put
// back as they were at the start, so that every input runs against the same state (a crash
// reproduces from its input alone) and backups cannot pile up.
//
// The scratch folder is made under $HONE_FUZZ_SCRATCH (else $TMPDIR, else /tmp) and removed at
// exit. It holds a small unencrypted demo database (no key, so no Argon2 cost) and two backups
// of it, one with an automatic name and one called nightly.db.gz.
#include "core/app.hpp"
#include "core/hone_database.hpp"
#include "core/json_output.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"
#include "monitoring/monitoring.hpp"
#include "server/api.hpp"

#include <hone/backup.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace fs = std::filesystem;
namespace hb = hone::backup;
using hone_app::api;
using hone_app::api_request;
using hone_app::api_response;

namespace {

constexpr std::string_view token = "fuzz-token";

[[noreturn]] void fail(const char* what, const api_request& req, const api_response* res = nullptr) {
  std::fprintf(stderr, "fuzz_api: %s\n  request: %s %s (authorization %zu bytes, body %zu bytes)\n", what,
               hone_app::printable(req.method, 64).c_str(), hone_app::printable(req.target, 200).c_str(),
               req.authorization.size(), req.body.size());
  if (res) std::fprintf(stderr, "  response %d: %s\n", res->status, hone_app::printable(res->body, 400).c_str());
  std::abort();
}

struct scratch {
  fs::path root, pristine, live, database, backups;
  std::unique_ptr<hone_app::monitor> monitoring;  // declared first: destroyed after the APIs
  std::unique_ptr<api> open;                      // no token
  std::unique_ptr<api> protected_;                // requires "Bearer fuzz-token"
  bool dirty = false;
  bool verbose = std::getenv("HONE_FUZZ_VERBOSE") != nullptr;  // print every request and response

  scratch() {
    const char* base = std::getenv("HONE_FUZZ_SCRATCH");
    if (!base || !*base) base = std::getenv("TMPDIR");
    std::string tmpl = (fs::path(base && *base ? base : "/tmp") / "hone-fuzz-api-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      std::perror("fuzz_api: mkdtemp");
      std::abort();
    }
    root = tmpl;
    pristine = root / "pristine";
    live = root / "live";
    database = live / "db" / "hone.db";
    backups = live / "backups";
    // Temporary copies of the runner go inside the scratch folder too.
    fs::create_directories(root / "tmp");
    fs::permissions(root / "tmp", fs::perms::owner_all);
    ::setenv("TMPDIR", (root / "tmp").c_str(), 1);

    const fs::path db = pristine / "db" / "hone.db";
    hone_app::create_demo_database(db, {}, hone_app::demo_spec{2, 40, 2});
    fs::create_directories(pristine / "backups");
    fs::permissions(pristine / "backups", fs::perms::owner_all);
    auto runner = hone_app::make_runner(db, {}, pristine / "backups");
    runner.create();
    runner.create(std::string("nightly"));
    reset();

    api::config c;
    c.database = database;
    c.backup_dir = backups;
    monitoring = std::make_unique<hone_app::monitor>(backups, std::nullopt);  // GET /metrics, /api/backup/status
    c.monitoring = monitoring.get();
    open = std::make_unique<api>(c);
    c.token = token;
    protected_ = std::make_unique<api>(c);
  }

  ~scratch() {
    open.reset();
    protected_.reset();
    monitoring.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  void reset() {
    fs::remove_all(live);
    fs::copy(pristine, live, fs::copy_options::recursive);
    dirty = false;
  }
};

scratch* state = nullptr;

void check_response(const api_request& req, const api_response& res, bool with_token) {
  if (res.status < 200 || res.status > 599) fail("status outside 200..599", req, &res);
  if (res.body.empty() || res.body.back() != '\n') fail("the body does not end with a newline", req, &res);
  for (const auto& [k, v] : res.headers)
    if (k == "Content-Type" && v.starts_with("text/plain")) {  // GET /metrics: the Prometheus text format
      if (res.status != 200) fail("a text response that is not a 200", req, &res);
      for (std::size_t pos = 0; pos < res.body.size();) {
        const std::size_t end = res.body.find('\n', pos);
        const std::string_view line(res.body.data() + pos, end - pos);
        if (line.empty() || (line.front() != '#' && line.find(' ') == std::string_view::npos))
          fail("a metrics line that is neither a comment nor a sample", req, &res);
        pos = end + 1;
      }
      return;
    }
  const auto j = hone_app::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("the body is not JSON", req, &res);
  if (res.status >= 400 && hone_app::is_health_check(req.method, req.target)) {
    // GET /healthz not ok: {"status": "unavailable", "reason": WORD} and nothing else.
    auto st = j.find("status"), why = j.find("reason");
    if (!j.is_object() || j.size() != 2 || st == j.end() || *st != "unavailable" || why == j.end() || !why->is_string())
      fail("a health answer is not {\"status\": \"unavailable\", \"reason\": WORD}", req, &res);
  } else if (res.status >= 400) {
    auto it = j.find("error"), code = j.find("code");
    if (!j.is_object() || j.size() != 2 || it == j.end() || !it->is_string() || code == j.end() || !code->is_string() ||
        code->get_ref<const std::string&>().empty())
      fail("an error body is not {\"error\": MESSAGE, \"code\": CODE}", req, &res);
    if (it->get<std::string>().starts_with("Internal error"))
      fail("an exception other than hone::backup::error reached the API", req, &res);
  } else if (!j.is_object() && !j.is_array()) {
    fail("a success body is neither an object nor an array", req, &res);
  }
  const bool unauthorized = res.status == 401;
  if (!with_token && unauthorized) fail("401 without a token configured", req, &res);
  if (with_token && req.authorization == "Bearer " + std::string(token) && unauthorized)
    fail("401 for the right token", req, &res);
  if (with_token && req.authorization.find(token) == std::string::npos && !unauthorized)
    fail("no 401 without the token", req, &res);
  auto has_header = [&](std::string_view name) {
    for (const auto& [k, v] : res.headers)
      if (k == name && !v.empty()) return true;
    return false;
  };
  if (res.status == 405 && !has_header("Allow")) fail("405 without an Allow header", req, &res);
  if (unauthorized && !has_header("WWW-Authenticate")) fail("401 without WWW-Authenticate", req, &res);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  try {
    state = new scratch();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_api: cannot set up the scratch folder: %s\n", e.what());
    std::abort();
  }
  std::atexit([] {
    delete state;
    state = nullptr;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto line = [&in] {
    const auto nl = in.find('\n');
    std::string_view l = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return l;
  };
  api_request req;
  const std::string_view first = line();
  const auto space = first.find(' ');
  req.method = first.substr(0, space);
  if (space != std::string_view::npos) req.target = first.substr(space + 1);
  req.authorization = line();
  req.body = in;
  const bool with_token = !req.authorization.empty();

  if (state->dirty) state->reset();
  state->dirty = req.method != "GET";
  api_response res;
  try {
    res = (with_token ? state->protected_ : state->open)->handle(req);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_api: handle() threw: %s\n", e.what());
    fail("an exception left handle()", req);
  }
  check_response(req, res, with_token);
  if (state->verbose)
    std::fprintf(stderr, "%s %s -> %d %s", hone_app::printable(req.method, 64).c_str(),
                 hone_app::printable(req.target, 200).c_str(), res.status, res.body.c_str());
  return 0;
}

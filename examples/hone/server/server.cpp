#include "server/server.hpp"

#include "config/config.hpp"
#include "config/environment.hpp"
#include "config/hardening.hpp"
#include "core/app.hpp"
#include "core/backup_format.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"
#include "monitoring/monitoring.hpp"
#include "server/api.hpp"
#include "server/request_guard.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>

namespace hone_app {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

/// Open connections at once. When all are open, a new one closes the connection that has waited
/// longest for a request header; only connections serving a request make new ones wait (503).
constexpr std::size_t max_connections = 128;
constexpr std::size_t max_header_bytes = 16 * 1024;
/// From accept, or from the end of the previous response (keep-alive), to a complete request
/// header: connections that send nothing, or a header byte by byte, are closed after this.
constexpr auto header_timeout = std::chrono::seconds(10);
constexpr auto read_timeout = std::chrono::seconds(30);   // a request body that stalls
constexpr auto write_timeout = std::chrono::seconds(60);  // a client that does not read

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch()).count();
}

/// What the watchdog and the shutdown need to know about one open connection.
struct connection_slot {
  enum phase : int { waiting, reading, busy, writing };  ///< waiting: for a request header
  int fd = -1;           ///< guarded by server_state::m; -1 once the socket is about to be closed
  bool evicted = false;  ///< guarded by server_state::m; closed to make room for a new connection
  std::atomic<int> state{waiting};
  std::atomic<std::int64_t> since{0};
  std::list<std::thread>::iterator thread;  ///< guarded by server_state::m: in server_state::running
  void set(phase p) {
    since = now_ms();
    state = p;
  }
};

/// The open connections and the threads that serve them. Every thread is owned here: a thread
/// that has served its connection hands its std::thread to `finished`, where reap() joins it;
/// join_all() (also run by the destructor) waits for every connection to end and joins every
/// thread, so none outlives the server.
struct server_state {
  std::mutex m;
  std::condition_variable cv;
  std::list<std::shared_ptr<connection_slot>> open;
  std::list<std::thread> running;     ///< guarded by m: threads serving a connection
  std::vector<std::thread> finished;  ///< guarded by m: threads that are ending, to be joined
  std::atomic<bool> stopping{false};

  server_state() = default;
  server_state(const server_state&) = delete;
  server_state& operator=(const server_state&) = delete;
  ~server_state() { join_all(); }

  /// Starts the thread serving `slot` (already in `open`); false when no thread can be made,
  /// in which case `serve` is dropped (closing its socket) and the slot removed.
  template <class F>
  bool start(const std::shared_ptr<connection_slot>& slot, F serve) {
    std::lock_guard lk(m);  // the thread cannot finish (it takes `m`) before it is recorded
    try {
      running.emplace_front(std::move(serve));
      slot->thread = running.begin();
      return true;
    } catch (const std::system_error& e) {
      log_error(std::string("cannot start a connection thread: ") + e.what());
      open.remove(slot);
      return false;
    }
  }
  /// The last step of a connection thread: its connection leaves `open` and its std::thread
  /// moves to `finished`.
  void done(const std::shared_ptr<connection_slot>& slot) {
    std::lock_guard lk(m);
    finished.push_back(std::move(*slot->thread));
    running.erase(slot->thread);
    open.remove(slot);
    cv.notify_all();
  }
  /// Joins the threads that have finished serving (they are at their very end).
  void reap() {
    std::vector<std::thread> ending;
    {
      std::lock_guard lk(m);
      ending.swap(finished);
    }
    for (auto& t : ending) t.join();
  }
  /// Waits until every connection has ended and joins every thread.
  void join_all() {
    {
      std::unique_lock lk(m);
      cv.wait(lk, [&] { return open.empty() && running.empty(); });
    }
    reap();
  }

  /// Unblocks every connection waiting for a request (keep-alive idle); busy ones finish
  /// their response and then close because `stopping` is set.
  void wake_idle() {
    std::lock_guard lk(m);
    for (auto& s : open)
      if (s->fd >= 0 && s->state == connection_slot::waiting) ::shutdown(s->fd, SHUT_RD);
  }
  void enforce_timeouts() {
    const auto t = now_ms();
    std::lock_guard lk(m);
    for (auto& s : open) {
      if (s->fd < 0) continue;
      const auto age = std::chrono::milliseconds(t - s->since);
      if ((s->state == connection_slot::waiting && age > header_timeout) ||
          (s->state == connection_slot::reading && age > read_timeout) ||
          (s->state == connection_slot::writing && age > write_timeout))
        ::shutdown(s->fd, SHUT_RDWR);
    }
  }
  /// Called with `m` held before a new connection is added: true when it may be. With
  /// max_connections open, the one that has waited longest for a request header is shut down
  /// (its thread then ends); false when every open connection is serving a request.
  bool make_room_locked() {
    std::size_t live = 0;
    connection_slot* oldest = nullptr;
    for (auto& s : open) {
      if (s->evicted) continue;
      ++live;
      if (s->fd >= 0 && s->state == connection_slot::waiting && (!oldest || s->since < oldest->since)) oldest = s.get();
    }
    if (live < max_connections) return true;
    if (!oldest || open.size() >= 2 * max_connections) return false;  // evicted threads still ending
    oldest->evicted = true;
    ::shutdown(oldest->fd, SHUT_RDWR);
    return true;
  }
  /// A complete request header arrived: the connection leaves `waiting` (and can no longer be
  /// evicted). False when it was evicted meanwhile.
  bool begin_request(connection_slot& slot) {
    std::lock_guard lk(m);
    if (slot.evicted) return false;
    slot.set(connection_slot::reading);
    return true;
  }
};

void log_request(const std::string& method, const std::string& target, int status, steady::time_point t0,
                 const std::string& note, bool routine = false) {
  log_http_request(method, target, status, std::chrono::duration<double, std::milli>(steady::now() - t0).count(), note,
                   routine);
}

/// Reads and drops what the client still sends (for at most ~1 s / 1 MiB) so that closing
/// the socket after an early response does not reset the connection before the client has
/// read that response. The caller closes the socket.
void drain(tcp::socket& sock) {
  beast::error_code ec;
  sock.shutdown(tcp::socket::shutdown_send, ec);
  const int fd = sock.native_handle();
  char buf[16384];
  std::size_t total = 0;
  const auto deadline = steady::now() + std::chrono::seconds(1);
  while (total < (1u << 20) && steady::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
}

template <class Body>
void set_common(http::response<Body>& res, const api_response& r, bool keep_alive) {
  res.set(http::field::server, "hone/" HONE_VERSION);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
}

/// Writes `r` in one gather write; for a HEAD request only its header (with the Content-Length
/// of the body).
void write_simple(tcp::socket& sock, unsigned version, const api_response& r, bool keep_alive, beast::error_code& ec,
                  bool head = false) {
  if (head) {
    http::response<http::empty_body> res{static_cast<http::status>(r.status), version};
    set_common(res, r, keep_alive);
    res.content_length(r.body.size());
    http::write(sock, res, ec);
    return;
  }
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  set_common(res, r, keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  http::write(sock, res, ec);
}

/// The parts of a request header that request_guard checks.
request_head head_of(const http::request_parser<http::string_body>& parser) {
  const auto& h = parser.get();
  request_head r;
  r.method = std::string(h.method_string());
  r.version = h.version();
  auto all = [&](http::field f) {
    std::vector<std::string> v;
    for (auto [it, end] = h.equal_range(f); it != end; ++it) v.emplace_back(it->value());
    return v;
  };
  r.host = all(http::field::host);
  r.origin = all(http::field::origin);
  r.content_type = all(http::field::content_type);
  r.authorization = std::string(h[http::field::authorization]);
  if (auto n = parser.content_length()) r.content_length = *n;
  r.has_body = parser.chunked() || (r.content_length && *r.content_length > 0);
  return r;
}

/// Answers `r` and closes the connection (after draining what the client still sends).
void refuse_and_close(tcp::socket& sock, const http::request_header<>& h, const api_response& r,
                      steady::time_point t0) {
  beast::error_code wec;
  write_simple(sock, 11, r, false, wec);
  log_request(std::string(h.method_string()), std::string(h.target()), r.status, t0, r.log_note);
  drain(sock);
}

/// Serves one connection (HTTP/1.1 keep-alive) on the calling thread.
void serve_connection(tcp::socket& sock, connection_slot& slot, const api& handler, const request_guard& guard,
                      server_state& st) {
  beast::flat_buffer buffer;
  for (;;) {
    slot.set(connection_slot::waiting);
    if (st.stopping) break;  // checked after `waiting` is published, see server_state::wake_idle
    http::request_parser<http::string_body> parser;
    parser.header_limit(max_header_bytes);
    // No limit yet (boost::none would mean 0 to some Beast versions): an announced length is
    // checked with the rest of the header (request_guard), so that a 401 comes before a 413.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::error_code ec;
    http::read_header(sock, buffer, parser, ec);
    auto t0 = steady::now();
    if (!ec) {
      if (!st.begin_request(slot)) return;
      // Host, Origin, token and Content-Type are checked before any of the body is read (or a
      // 100 Continue invites it); a refused request closes the connection.
      if (auto refusal = guard.check(head_of(parser))) {
        slot.set(connection_slot::writing);
        refuse_and_close(sock, parser.get(), *refusal, t0);
        return;
      }
      parser.body_limit(max_body_bytes);  // a chunked body is counted as it arrives
      const auto& h = parser.get();
      if (beast::iequals(h[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, h.version()};
        http::write(sock, cont, ec);
      }
      if (!ec) http::read(sock, buffer, parser, ec);
    }
    if (ec) {
      // Only malformed or oversized requests get an answer; a client that went away (or a
      // socket shut down by the watchdog or the shutdown) is simply closed.
      if (ec.category() != beast::error_code(http::error::end_of_stream).category() ||
          ec == http::error::end_of_stream || ec == http::error::partial_message)
        return;
      slot.set(connection_slot::writing);
      api_response r;
      if (ec == http::error::body_limit)
        r = body_too_large_response();
      else if (ec == http::error::header_limit)
        r = error_response(431, "Request header fields too large");
      else
        r = error_response(400, "Malformed HTTP request");
      refuse_and_close(sock, parser.get(), r, t0);
      return;
    }
    slot.set(connection_slot::busy);
    auto& req = parser.get();
    api_request ar;
    const bool head = req.method() == http::verb::head;
    ar.method = head ? std::string("GET") : std::string(req.method_string());  // HEAD: GET without the body
    ar.target = std::string(req.target());
    ar.authorization = std::string(req[http::field::authorization]);
    ar.body = std::move(req.body());
    api_response r = handler.handle(ar);
    const bool keep_alive = req.keep_alive() && !st.stopping && !r.close;
    slot.set(connection_slot::writing);
    write_simple(sock, req.version(), r, keep_alive, ec, head);
    log_request(std::string(req.method_string()), ar.target, r.status, t0, r.log_note, r.routine);
    if (ec) return;
    if (!keep_alive) {
      sock.shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
  }
}

std::string url_host(const tcp::endpoint& ep) {
  auto a = ep.address();
  return a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
}

/// The request checks of this server: loopback names and addresses, the --host value and the
/// bound address (any IP literal when bound to every address), and `proxy_hosts`.
request_guard make_guard(const std::string& host_opt, const tcp::endpoint& bound, const std::string& token,
                         const std::string& metrics_token, std::vector<std::string> proxy_hosts) {
  request_guard::config g;
  g.token = token;
  g.metrics_token = metrics_token;
  g.any_address = bound.address().is_unspecified();
  g.proxy_hosts = std::move(proxy_hosts);
  for (const std::string& h : {normalize_host(host_opt), normalize_host(url_host(bound))})
    if (!h.empty() && h != "0.0.0.0" && h != "[::]" &&
        std::find(g.allowed_hosts.begin(), g.allowed_hosts.end(), h) == g.allowed_hosts.end())
      g.allowed_hosts.push_back(h);
  return request_guard(std::move(g));
}

/// A new connection: served on its own thread when there is room (see server_state), else
/// answered 503 at once.
void admit(tcp::socket sock, server_state& st, const api& handler, const request_guard& guard) {
  beast::error_code opt_ec;
  sock.set_option(tcp::no_delay(true), opt_ec);  // small responses go out at once
  auto slot = std::make_shared<connection_slot>();
  slot->fd = sock.native_handle();
  slot->set(connection_slot::waiting);
  {
    std::lock_guard lk(st.m);
    if (st.make_room_locked())
      st.open.push_back(slot);
    else
      slot.reset();
  }
  if (!slot) {
    beast::error_code wec;
    sock.non_blocking(true, wec);
    write_simple(sock, 11, error_response(503, "Too many requests in progress; try again"), false, wec);
    log_warn("connection refused: " + std::to_string(max_connections) + " requests are in progress");
    sock.close(wec);
  } else {
    st.start(slot, [&st, &handler, &guard, slot, s = std::move(sock)]() mutable {
      {
        tcp::socket conn = std::move(s);
        try {
          serve_connection(conn, *slot, handler, guard, st);
        } catch (const std::exception& e) {
          log_error(std::string("connection failed: ") + e.what());
        }
        {
          // The descriptor number may be reused as soon as it is closed: the watchdog and
          // the shutdown must not shut down whatever gets it next.
          std::lock_guard lk(st.m);
          slot->fd = -1;
        }
        beast::error_code cec;
        conn.close(cec);
      }
      st.done(slot);
    });
  }
}

/// HONE_API_TOKEN, HONE_METRICS_TOKEN and HONE_ALLOWED_HOSTS, read before anything else.
struct access_settings {
  std::string token;
  std::string metrics_token;
  std::vector<std::string> proxy_hosts;
};

access_settings access_from_environment() {
  access_settings a;
  if (const char* t = env_value("HONE_API_TOKEN")) a.token = t;
  if (const char* t = env_value("HONE_METRICS_TOKEN")) a.metrics_token = t;
  if (!a.metrics_token.empty() && a.token.empty())
    throw usage_error(
        "HONE_METRICS_TOKEN is set but HONE_API_TOKEN is not: without HONE_API_TOKEN every request is "
        "served without a token, so a read-only token would restrict nothing");
  if (!a.metrics_token.empty() && a.metrics_token == a.token)
    throw usage_error("HONE_METRICS_TOKEN must differ from HONE_API_TOKEN");
  if (const char* list = env_value("HONE_ALLOWED_HOSTS")) {
    std::vector<std::string> bad;
    a.proxy_hosts = parse_allowed_hosts(list, bad);
    if (!bad.empty())
      throw usage_error("HONE_ALLOWED_HOSTS: '" + printable(bad.front(), 100) +
                        "' is not a host name or address (expected names like backup.example.com, comma-separated)");
  }
  return a;
}

/// The addresses of --host; refuses anything but loopback without a token.
std::vector<tcp::endpoint> endpoints_to_listen_on(net::io_context& ioc, const server_options& opts,
                                                  const std::string& token) {
  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  auto addr = net::ip::make_address(opts.host, ec);
  if (!ec) {
    endpoints.emplace_back(addr, opts.port);
  } else {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
    if (ec) throw usage_error("cannot resolve --host " + opts.host + ": " + ec.message());
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }
  if (endpoints.empty()) throw usage_error("cannot resolve --host " + opts.host);
  for (const auto& ep : endpoints) {
    if (!ep.address().is_loopback() && token.empty())
      throw usage_error("refusing to listen on " + opts.host +
                        " (not a loopback address) without HONE_API_TOKEN: anyone on the network could "
                        "restore or delete backups. Set HONE_API_TOKEN, or use --host 127.0.0.1");
  }
  return endpoints;
}

/// Opens, binds and listens; false (the error printed) when the address cannot be used.
bool start_listening(tcp::acceptor& acceptor, const tcp::endpoint& ep, const server_options& opts) {
  beast::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot listen on %s:%u: %s\n", opts.host.c_str(), opts.port, ec.message().c_str());
    return false;
  }
  return true;
}

/// What the server is about to do, for the log (never the key or the token).
void log_configuration(const server_options& opts, bool encrypted, const std::string& token, const request_guard& guard,
                       bool loopback) {
  std::error_code fec;
  if (!std::filesystem::exists(opts.database, fec))
    log_warn("database not found at " + opts.database.string() +
             ": backups fail until it exists (set --db or HONE_DB_PATH, or run 'hone demo-db')");
  log_info("hone " HONE_VERSION ": database " + opts.database.string() +
           (encrypted ? " (key from HONE_DB_KEY)" : " (no HONE_DB_KEY: unencrypted)") + ", backups in " +
           opts.backup_dir.string());
  log_info(
      std::string("authentication: ") + (token.empty() ? "none (loopback only)" : "bearer token (HONE_API_TOKEN)") +
      (guard.settings().metrics_token.empty() ? ""
                                              : "; read-only token for /metrics and the status (HONE_METRICS_TOKEN)"));
  std::string served = "loopback names and addresses";
  for (const auto& h : guard.settings().allowed_hosts) served += ", " + h;
  if (guard.settings().any_address) served += ", any IP address of this machine";
  for (const auto& h : guard.settings().proxy_hosts) served += ", " + h + " (HONE_ALLOWED_HOSTS)";
  log_info("requests accepted for host " + served + "; cross-origin requests refused");
  if (!token.empty() && token.size() < 16)
    log_warn("HONE_API_TOKEN is short (" + std::to_string(token.size()) +
             " characters); use a long random one, e.g. from `openssl rand -hex 32`");
  if (!loopback)
    log_warn(
        "listening on a non-loopback address over plain HTTP: the token and the data travel unencrypted; "
        "put a TLS reverse proxy in front");
  if (const auto& offsite = offsite_settings())
    log_info("offsite copy: every backup is also uploaded to the " + offsite->describe() + " (HONE_R2_*)");
}

/// What the scheduler runs: scheduled_backups, the bucket's time limit (HONE_R2_CYCLE_TIMEOUT)
/// restarted at each cycle, so that it bounds the upload, sync and bucket prune of one cycle.
class scheduled_cycle {
 public:
  scheduled_cycle(scheduled_backups& runs, bucket_deadline& deadline, std::atomic<bool>& deadline_reported)
      : runs_(runs), deadline_(deadline), deadline_reported_(deadline_reported) {}
  hb::backup_info create() {
    deadline_.restart();
    deadline_reported_ = false;
    return runs_.create();
  }
  std::vector<hb::backup_info> list() { return runs_.list(); }
  hb::prune_result prune(const hb::keep_calendar& policy) { return runs_.prune(policy); }
  any_runner::clock_ref clock() { return runs_.clock(); }

 private:
  scheduled_backups& runs_;
  bucket_deadline& deadline_;
  std::atomic<bool>& deadline_reported_;
};

/// The built-in scheduler on its own backup set (the backup folder's lock serializes it with API
/// and CLI backups; with a bucket, each cycle also uploads what the bucket lacks), in its own
/// thread from start() to stop().
class scheduler_service {
 public:
  scheduler_service(const hb::schedule_config& cfg, const server_options& opts, const hb::database_key& key,
                    monitor& monitoring, std::chrono::seconds bucket_limit) {
    log_info(cfg.reason);
    if (!cfg.enabled) return;
    const hb::log_fn log_line = [](hb::log_level l, const std::string& m) { log(l, "scheduler: " + m); };
    deadline_ = std::make_shared<bucket_deadline>(bucket_limit, "HONE_R2_CYCLE_TIMEOUT");
    backups_ = std::make_unique<backup_set>(make_backups(
        opts.database, key, opts.backup_dir,
        [&monitoring](std::string_view place) { return monitoring.observer({}, std::string(place)); },
        monitoring.upload_counter(), hb::check_level::full, false, deadline_));
    // The bucket's failures do not fail a cycle (the local backup is what the schedule
    // guarantees), but they are failures the hook and the status report: once per cycle for
    // its time limit (the steps after it fail at once for the same reason), never for a
    // bucket call abandoned because the server is stopping.
    runner_ = std::make_unique<scheduled_backups>(*backups_, log_line,
                                                  [this, &monitoring](const std::string& op, const std::string& m) {
                                                    if (!bucket_stop_reason().empty()) return;
                                                    if (deadline_->expired() && deadline_reported_.exchange(true))
                                                      return;
                                                    monitoring.failed(op, m);
                                                  });
    cycle_ = std::make_unique<scheduled_cycle>(*runner_, *deadline_, deadline_reported_);
    scheduler_ = std::make_unique<hb::backup_scheduler<scheduled_cycle>>(*cycle_, cfg.interval, cfg.policy, log_line);
    scheduler_->on_cycle([&monitoring](const hb::cycle_outcome& o) { monitoring.cycle(o); });
    scheduler_->on_next_run([&monitoring](hb::time_point due) { monitoring.next_run(due); });
  }
  ~scheduler_service() { stop(); }
  scheduler_service(const scheduler_service&) = delete;
  scheduler_service& operator=(const scheduler_service&) = delete;

  bool enabled() const noexcept { return scheduler_ != nullptr; }
  void start() {
    if (scheduler_) thread_ = std::jthread([this](std::stop_token stop) { scheduler_->run(stop); });
  }
  /// Asks the scheduler to stop and waits for a cycle in progress to end.
  void stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
  }

 private:
  std::shared_ptr<bucket_deadline> deadline_;
  std::atomic<bool> deadline_reported_{false};
  std::unique_ptr<backup_set> backups_;
  std::unique_ptr<scheduled_backups> runner_;
  std::unique_ptr<scheduled_cycle> cycle_;
  std::unique_ptr<hb::backup_scheduler<scheduled_cycle>> scheduler_;
  std::jthread thread_;
};

/// What `hone serve` reads from its environment before anything else. A misconfigured
/// scheduler, offsite copy (HONE_R2_* partly set) or bucket time limit stops the start-up
/// (exit 2) rather than leaving the server running without what it was asked to do.
struct server_environment {
  access_settings access;
  hb::schedule_config schedule;
  bool offsite = false;
  bucket_time_limits bucket_limits;
};

server_environment read_server_environment() {
  server_environment e;
  e.access = access_from_environment();
  e.schedule = schedule_from_environment();
  if (e.schedule.misconfigured()) throw usage_error(e.schedule.error);
  e.offsite = offsite_settings().has_value();
  e.bucket_limits = bucket_time_limits_from_environment();
  if (!e.bucket_limits.error.empty()) throw usage_error(e.bucket_limits.error);
  return e;
}

/// The server's event loop: accepts connections (admit), enforces the connection timeouts once
/// a second (the watchdog), and on SIGINT or SIGTERM stops accepting, lets the open connections
/// and the scheduler finish, and returns from run(); a second signal exits at once.
class event_loop {
 public:
  event_loop(net::io_context& ioc, tcp::acceptor& acceptor, const api& handler, const request_guard& guard,
             scheduler_service& scheduler)
      : ioc_(ioc),
        acceptor_(acceptor),
        handler_(handler),
        guard_(guard),
        scheduler_(scheduler),
        signals_(ioc, SIGINT, SIGTERM),
        watchdog_(ioc) {}

  /// Runs until the shutdown has ended every connection; joins every connection thread.
  void run() {
    arm_watchdog();
    accept_next();
    signals_.async_wait([this](beast::error_code ec, int sig) {
      if (!ec) shut_down(sig);
    });
    ioc_.run();
    if (drainer_.joinable()) drainer_.join();
    st_.join_all();  // every connection thread has ended; join them all
  }

 private:
  void arm_watchdog() {
    watchdog_.expires_after(std::chrono::seconds(1));
    watchdog_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      st_.enforce_timeouts();
      st_.reap();
      if (st_.stopping) st_.wake_idle();
      arm_watchdog();
    });
  }

  void accept_next() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket sock) {
      if (ec) {
        if (ec == net::error::operation_aborted || st_.stopping) return;
        log_warn("accept failed: " + ec.message());
        accept_next();
        return;
      }
      if (st_.stopping) return;
      admit(std::move(sock), st_, handler_, guard_);
      st_.reap();
      accept_next();
    });
  }

  /// The first SIGINT or SIGTERM: no new connections; the idle ones are closed, the busy ones
  /// finish their response; the loop stops once they and the scheduler have ended.
  void shut_down(int sig) {
    std::size_t running;
    {
      std::lock_guard lk(st_.m);
      running = st_.open.size();
    }
    log_info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
             ", shutting down: no new connections; waiting for " + std::to_string(running) + " open connection(s)" +
             (scheduler_.enabled() ? " and the scheduler" : "") + " (send it again to exit at once)");
    st_.stopping = true;
    // Requests to the bucket in progress (a scheduled upload, an API request's listing) are
    // abandoned within about a second instead of holding the shutdown up.
    stop_bucket_requests(std::string("the server is stopping (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    beast::error_code cec;
    acceptor_.close(cec);
    st_.wake_idle();
    // A second signal ends the process at once.
    signals_.async_wait([](beast::error_code ec2, int) {
      if (ec2) return;
      log_warn("second signal: exiting now");
      std::_Exit(130);
    });
    drainer_ = std::thread([this] {
      scheduler_.stop();
      std::unique_lock lk(st_.m);
      st_.cv.wait(lk, [&] { return st_.open.empty() && st_.running.empty(); });
      lk.unlock();
      net::post(ioc_, [this] {
        beast::error_code ignore;
        watchdog_.cancel();
        signals_.cancel(ignore);
        ioc_.stop();
      });
    });
  }

  net::io_context& ioc_;
  tcp::acceptor& acceptor_;
  const api& handler_;
  const request_guard& guard_;
  scheduler_service& scheduler_;
  server_state st_;
  net::signal_set signals_;
  net::steady_timer watchdog_;
  std::thread drainer_;
};

}  // namespace

int run_server(const server_options& opts) {
  std::signal(SIGPIPE, SIG_IGN);
  disable_core_dumps();  // before the key is derived: a crash dumps no passphrase or key
  server_environment setup = read_server_environment();
  monitor monitoring(opts.backup_dir, hook_from_environment());  // metrics, status, the hook
  if (setup.offsite) monitoring.offsite_configured(offsite_place);
  monitoring.scheduler_configured(setup.schedule);

  net::io_context ioc;
  const std::vector<tcp::endpoint> endpoints = endpoints_to_listen_on(ioc, opts, setup.access.token);

  api::config cfg;
  cfg.database = opts.database;
  cfg.backup_dir = opts.backup_dir;
  const hone::backup::database_key key = load_key();
  read_backup_format_environment();  // keeps HONE_DB_KEY as the compact format's passphrase
  // The passphrase and the token are copied: nothing needs them in the environment any more,
  // where /proc/PID/environ or a core dump would show them.
  drop_from_environment("HONE_DB_KEY");
  drop_from_environment("HONE_API_TOKEN");
  drop_from_environment("HONE_METRICS_TOKEN");
  cfg.key = key;
  cfg.token = setup.access.token;
  cfg.metrics_token = setup.access.metrics_token;
  cfg.monitoring = &monitoring;
  cfg.bucket_limit = setup.bucket_limits.api;
  const bool encrypted = !cfg.key.empty();
  const api handler(std::move(cfg));

  tcp::acceptor acceptor(ioc);
  if (!start_listening(acceptor, endpoints.front(), opts)) return exit_failure;
  const tcp::endpoint bound = acceptor.local_endpoint();
  const request_guard guard =
      make_guard(opts.host, bound, setup.access.token, setup.access.metrics_token, std::move(setup.access.proxy_hosts));
  log_configuration(opts, encrypted, setup.access.token, guard, endpoints.front().address().is_loopback());

  // The listings of the bucket are shared by the API, the status and the scheduler: one at a
  // time, each limited like an API request.
  if (setup.offsite) {
    share_bucket_listings(opts.database, key, opts.backup_dir, {}, setup.bucket_limits.api);
    log_info("offsite time limits: " + std::to_string(setup.bucket_limits.api.count()) +
             " s for the bucket's part of an API request (HONE_R2_API_TIMEOUT), " +
             std::to_string(setup.bucket_limits.cycle.count()) +
             " s for that of a scheduled cycle (HONE_R2_CYCLE_TIMEOUT); at most " +
             std::to_string(max_bucket_requests) + " requests wait on the bucket at once");
  }
  // However run_server ends, no listing of the bucket outlives it.
  struct end_listings {
    ~end_listings() {
      stop_bucket_requests("the server is stopping");
      end_shared_bucket_listings();
    }
  } listings_ended_last;
  scheduler_service scheduler(setup.schedule, opts, key, monitoring, setup.bucket_limits.cycle);
  scheduler.start();

  event_loop loop(ioc, acceptor, handler, guard, scheduler);
  monitoring.started();
  log_info("listening on http://" + url_host(bound) + ":" + std::to_string(bound.port()));
  loop.run();
  end_shared_bucket_listings();
  log_info("stopped");
  return exit_ok;
}

}  // namespace hone_app

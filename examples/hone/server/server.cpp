#include "server/server.hpp"

#include "config/config.hpp"
#include "config/environment.hpp"
#include "config/hardening.hpp"
#include "core/app.hpp"
#include "core/hone_database.hpp"
#include "core/backup_format.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"
#include "monitoring/monitoring.hpp"
#include "monitoring/scheduled_job.hpp"
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
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

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
/// After an early answer, what the client still sends is read and dropped (see session::drain)
/// for at most this long and this much, and until it pauses this long.
constexpr auto drain_timeout = std::chrono::seconds(1);
constexpr std::size_t drain_bytes = 1u << 20;
constexpr auto drain_pause = std::chrono::milliseconds(200);

void log_request(const std::string& method, const std::string& target, int status, steady::time_point t0,
                 const std::string& note, bool routine = false) {
  // Health checks are polled every few seconds by container runtimes: logged as routine (debug).
  log_http_request(method, target, status, std::chrono::duration<double, std::milli>(steady::now() - t0).count(), note,
                   routine || is_health_check(method, target));
}

template <class Body>
void set_common(http::response<Body>& res, const api_response& r, bool keep_alive) {
  res.set(http::field::server, "hone/" HONE_VERSION);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
}

/// Writes `msg` on `stream`, which stays open (with `msg`) until `then` has run. The deadline is
/// the caller's (tcp_stream::expires_after).
template <class Message, class Then>
void async_send(beast::tcp_stream& stream, std::shared_ptr<Message> msg, Then then) {
  auto& m = *msg;
  http::async_write(
      stream, m,
      [msg = std::move(msg), then = std::move(then)](beast::error_code ec, std::size_t) mutable { then(ec); });
}

/// Writes `r` in one gather write; for a HEAD request only its header (with the Content-Length
/// of the body).
template <class Then>
void async_send_response(beast::tcp_stream& stream, unsigned version, const api_response& r, bool keep_alive, bool head,
                         Then then) {
  if (head) {
    auto res = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), version);
    set_common(*res, r, keep_alive);
    res->content_length(r.body.size());
    async_send(stream, std::move(res), std::move(then));
    return;
  }
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
  set_common(*res, r, keep_alive);
  res->body() = r.body;
  res->prepare_payload();
  async_send(stream, std::move(res), std::move(then));
}

/// The parts of a request header that request_guard checks.
request_head head_of(const http::request_parser<http::string_body>& parser) {
  const auto& h = parser.get();
  request_head r;
  r.method = std::string(h.method_string());
  r.target = std::string(h.target());
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

class session;

/// The open connections. Like every session, touched only on the io_context's thread, so
/// nothing here needs a lock.
struct connection_registry {
  std::list<std::shared_ptr<session>> open;
  bool stopping = false;
  std::function<void()> on_last_closed;  ///< run when the last connection closes while stopping

  /// True when a new connection may be added. With max_connections open, closes the one that
  /// has waited longest for a request header; false when every open one is serving a request.
  bool make_room();
  /// The shutdown: closes every connection waiting for a request (keep-alive idle ones too).
  void close_waiting();
};

/// What every connection uses: the API, the request checks and the workers that run the API.
struct session_context {
  const api& handler;
  const request_guard& guard;
  net::thread_pool& workers;
  connection_registry& registry;
};

/// One connection (HTTP/1.1 keep-alive), served by asynchronous operations on the io_context's
/// thread. Every read and write is bounded by the stream's own timer (tcp_stream::expires_after):
/// a timeout cancels the operation and the connection is closed. The API's handler blocks (a
/// create takes seconds), so it runs on a worker and its response is posted back to this thread.
/// A session stays alive as long as the registry or one of its pending operations holds it.
class session : public std::enable_shared_from_this<session> {
 public:
  enum class phase { waiting, reading, busy, writing, closed };  ///< waiting: for a request header

  session(tcp::socket sock, session_context& ctx) : stream_(std::move(sock)), ctx_(ctx) {}

  /// `pos`: this session's place in the registry, left by close().
  void start(std::list<std::shared_ptr<session>>::iterator pos) {
    pos_ = pos;
    read_header();
  }
  phase state() const noexcept { return phase_; }
  steady::time_point waiting_since() const noexcept { return since_; }
  /// Closes the socket (a pending operation ends with operation_aborted) and leaves the
  /// registry; does nothing the second time.
  void close();

 private:
  /// What the response needs of its request once the parser has handed its body to the API.
  struct request_line {
    std::string method, target;
    unsigned version = 11;
    bool head = false, keep_alive = false;
  };

  void read_header();
  void on_header(beast::error_code ec);
  void read_body();
  void read_failed(beast::error_code ec);
  void call_api();
  void respond(const api_response& r);
  void refuse(const api_response& r);
  void drain(std::size_t total, steady::time_point deadline);

  beast::tcp_stream stream_;
  session_context& ctx_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  phase phase_ = phase::waiting;
  steady::time_point since_ = steady::now();  ///< of the current phase
  steady::time_point t0_;                     ///< the request's, for its log line
  request_line request_;
  std::list<std::shared_ptr<session>>::iterator pos_;
};

void session::close() {
  if (phase_ == phase::closed) return;
  const auto self = shared_from_this();  // leaving the registry may drop the last other reference
  phase_ = phase::closed;
  stream_.close();
  connection_registry& reg = ctx_.registry;
  reg.open.erase(pos_);
  if (reg.stopping && reg.open.empty() && reg.on_last_closed) reg.on_last_closed();
}

void session::read_header() {
  if (ctx_.registry.stopping) return close();
  phase_ = phase::waiting;
  since_ = steady::now();
  parser_.emplace();
  parser_->header_limit(max_header_bytes);
  // No limit yet (boost::none would mean 0 to some Beast versions): an announced length is
  // checked with the rest of the header (request_guard), so that a 401 comes before a 413.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  stream_.expires_after(header_timeout);  // for the whole header, however slowly it comes
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void session::on_header(beast::error_code ec) {
  if (phase_ == phase::closed) return;  // evicted, or closed by the shutdown
  t0_ = steady::now();
  if (ec) return read_failed(ec);
  phase_ = phase::reading;
  since_ = t0_;
  // Host, Origin, token and Content-Type are checked before any of the body is read (or a
  // 100 Continue invites it); a refused request closes the connection.
  if (auto refusal = ctx_.guard.check(head_of(*parser_))) return refuse(*refusal);
  parser_->body_limit(max_body_bytes);  // a chunked body is counted as it arrives
  stream_.expires_after(read_timeout);  // for the 100 Continue and the whole body
  const auto& h = parser_->get();
  if (!beast::iequals(h[http::field::expect], "100-continue")) return read_body();
  async_send(stream_, std::make_shared<http::response<http::empty_body>>(http::status::continue_, h.version()),
             [self = shared_from_this()](beast::error_code wec) {
               if (wec || self->phase_ == phase::closed) return self->close();
               self->read_body();
             });
}

void session::read_body() {
  http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (self->phase_ == phase::closed) return;
    if (ec) return self->read_failed(ec);
    self->call_api();
  });
}

/// Only malformed or oversized requests get an answer; a client that went away, or a
/// connection whose deadline passed (beast::error::timeout), is simply closed.
void session::read_failed(beast::error_code ec) {
  if (ec.category() != beast::error_code(http::error::end_of_stream).category() || ec == http::error::end_of_stream ||
      ec == http::error::partial_message)
    return close();
  if (ec == http::error::body_limit) return refuse(body_too_large_response());
  if (ec == http::error::header_limit) return refuse(error_response(431, "Request header fields too large"));
  refuse(error_response(400, "Malformed HTTP request"));
}

/// Runs the API on a worker; its response comes back to the io_context's thread (respond).
void session::call_api() {
  phase_ = phase::busy;
  stream_.expires_never();  // nothing is read or written while the API works
  auto& req = parser_->get();
  request_.head = req.method() == http::verb::head;
  request_.method = std::string(req.method_string());
  request_.target = std::string(req.target());
  request_.version = req.version();
  request_.keep_alive = req.keep_alive();
  api_request ar;
  ar.method = request_.head ? std::string("GET") : request_.method;  // HEAD: GET without the body
  ar.target = request_.target;
  ar.authorization = std::string(req[http::field::authorization]);
  ar.body = std::move(req.body());
  net::post(ctx_.workers, [self = shared_from_this(), ex = stream_.get_executor(), ar = std::move(ar)]() mutable {
    std::optional<api_response> r;
    try {
      r = self->ctx_.handler.handle(ar);
    } catch (const std::exception& e) {
      log_error(std::string("connection failed: ") + e.what());
    }
    net::post(ex, [self = std::move(self), r = std::move(r)] {
      if (r)
        self->respond(*r);
      else
        self->close();
    });
  });
}

void session::respond(const api_response& r) {
  const bool keep_alive = request_.keep_alive && !ctx_.registry.stopping && !r.close;
  phase_ = phase::writing;
  since_ = steady::now();
  stream_.expires_after(write_timeout);
  async_send_response(stream_, request_.version, r, keep_alive, request_.head,
                      [self = shared_from_this(), keep_alive, status = r.status, note = r.log_note,
                       routine = r.routine](beast::error_code ec) {
                        log_request(self->request_.method, self->request_.target, status, self->t0_, note, routine);
                        if (ec || !keep_alive || self->phase_ == phase::closed) {
                          beast::error_code sec;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, sec);
                          return self->close();
                        }
                        self->read_header();
                      });
}

/// Answers `r` and closes the connection, after draining what the client still sends.
void session::refuse(const api_response& r) {
  phase_ = phase::writing;
  since_ = steady::now();
  stream_.expires_after(write_timeout);
  const auto& h = parser_->get();
  async_send_response(stream_, 11, r, false, false,
                      [self = shared_from_this(), method = std::string(h.method_string()),
                       target = std::string(h.target()), status = r.status, note = r.log_note](beast::error_code ec) {
                        log_request(method, target, status, self->t0_, note);
                        if (ec || self->phase_ == phase::closed) return self->close();
                        beast::error_code sec;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, sec);
                        self->drain(0, steady::now() + drain_timeout);
                      });
}

/// Reads and drops what the client still sends (until `deadline`, drain_bytes in all, or a
/// pause of drain_pause), so that closing the socket after an early response does not reset the
/// connection before the client has read that response; then closes it.
void session::drain(std::size_t total, steady::time_point deadline) {
  const auto left = deadline - steady::now();
  if (total >= drain_bytes || left <= steady::duration::zero()) return close();
  stream_.expires_after(std::min<steady::duration>(drain_pause, left));
  stream_.async_read_some(buffer_.prepare(16384),
                          [self = shared_from_this(), total, deadline](beast::error_code ec, std::size_t n) {
                            if (ec || self->phase_ == phase::closed) return self->close();
                            self->drain(total + n, deadline);
                          });
}

bool connection_registry::make_room() {
  if (open.size() < max_connections) return true;
  session* oldest = nullptr;
  for (auto& s : open)
    if (s->state() == session::phase::waiting && (!oldest || s->waiting_since() < oldest->waiting_since()))
      oldest = s.get();
  if (!oldest) return false;
  oldest->close();
  return true;
}

void connection_registry::close_waiting() {
  std::vector<std::shared_ptr<session>> idle;
  for (auto& s : open)
    if (s->state() == session::phase::waiting) idle.push_back(s);
  for (auto& s : idle) s->close();
}

/// A connection beyond max_connections while every open one is serving a request: answered 503
/// and closed, without a session.
void refuse_connection(tcp::socket sock) {
  auto stream = std::make_shared<beast::tcp_stream>(std::move(sock));
  stream->expires_after(drain_timeout);
  async_send_response(*stream, 11, error_response(503, "Too many requests in progress; try again"), false, false,
                      [stream](beast::error_code) {
                        beast::error_code ec;
                        stream->socket().shutdown(tcp::socket::shutdown_send, ec);
                        stream->close();
                      });
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

/// HONE_API_TOKEN and HONE_ALLOWED_HOSTS, read before anything else.
struct access_settings {
  std::string token;
  std::string metrics_token;
  std::vector<std::string> proxy_hosts;
};

access_settings access_from_environment() {
  access_settings a;
  if (auto t = secret("HONE_API_TOKEN")) a.token = std::move(*t);
  if (auto t = secret("HONE_METRICS_TOKEN")) a.metrics_token = std::move(*t);
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

/// The built-in scheduler (scheduled_job), in its own thread from start() to stop().
class scheduler_service {
 public:
  scheduler_service(const hb::schedule_config& cfg, const server_options& opts, const hb::database_key& key,
                    monitor& monitoring, std::chrono::seconds bucket_limit) {
    log_info(cfg.reason);
    if (cfg.enabled)
      job_ = std::make_unique<scheduled_job>(cfg, opts.database, key, opts.backup_dir, monitoring, bucket_limit);
  }
  ~scheduler_service() { stop(); }
  scheduler_service(const scheduler_service&) = delete;
  scheduler_service& operator=(const scheduler_service&) = delete;

  bool enabled() const noexcept { return job_ != nullptr; }
  void start() {
    if (job_) thread_ = std::jthread([this](std::stop_token stop) { job_->scheduler().run(stop); });
  }
  /// Asks the scheduler to stop and waits for a cycle in progress to end.
  void stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
  }

 private:
  std::unique_ptr<scheduled_job> job_;
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
  backup_dir_shared_from_environment();  // an invalid value stops the start-up
  e.bucket_limits = bucket_time_limits_from_environment();
  if (!e.bucket_limits.error.empty()) throw usage_error(e.bucket_limits.error);
  return e;
}

/// The server's event loop, on the calling thread: accepts connections (admit) and serves them
/// (session); on SIGINT or SIGTERM stops accepting, closes the connections waiting for a
/// request, lets the others and the scheduler finish, and returns from run(); a second signal
/// exits at once.
///
/// Why a worker per possible connection: the API's handler blocks (a create takes seconds, a
/// request may wait on the bucket up to HONE_R2_API_TIMEOUT), and the API's own limits (at most
/// max_bucket_requests waiting on the bucket, the others answered at once) count on every
/// connection's request being served at once, as they were with a thread per connection. With
/// max_connections workers a request never waits for one; idle connections (a keep-alive
/// between requests, a slow header) hold no thread, and the sockets, their deadlines and the
/// shutdown live on one thread without locks.
class event_loop {
 public:
  event_loop(net::io_context& ioc, tcp::acceptor& acceptor, const api& handler, const request_guard& guard,
             scheduler_service& scheduler)
      : ioc_(ioc),
        acceptor_(acceptor),
        scheduler_(scheduler),
        workers_(max_connections),
        context_{handler, guard, workers_, registry_},
        signals_(ioc, SIGINT, SIGTERM) {}

  /// Runs until the shutdown has ended every connection and the scheduler; joins the workers.
  void run() {
    accept_next();
    // Pending until the shutdown has ended: it keeps run() going while requests are on workers.
    signals_.async_wait([this](beast::error_code ec, int sig) {
      if (!ec) shut_down(sig);
    });
    ioc_.run();
    if (drainer_.joinable()) drainer_.join();
    workers_.join();
  }

 private:
  void accept_next() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket sock) {
      if (registry_.stopping) return;
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        log_warn("accept failed: " + ec.message());
      } else {
        admit(std::move(sock));
      }
      accept_next();
    });
  }

  /// A new connection: served when there is room (connection_registry::make_room), else
  /// answered 503 at once.
  void admit(tcp::socket sock) {
    beast::error_code opt_ec;
    sock.set_option(tcp::no_delay(true), opt_ec);  // small responses go out at once
    if (!registry_.make_room()) {
      refuse_connection(std::move(sock));
      log_warn("connection refused: " + std::to_string(max_connections) + " requests are in progress");
      return;
    }
    registry_.open.push_back(std::make_shared<session>(std::move(sock), context_));
    registry_.open.back()->start(std::prev(registry_.open.end()));
  }

  /// The first SIGINT or SIGTERM: no new connections; the idle ones are closed, the busy ones
  /// finish their response; the loop ends once they and the scheduler have ended.
  void shut_down(int sig) {
    const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    log_info(std::string("received ") + name + ", shutting down: no new connections; waiting for " +
             std::to_string(registry_.open.size()) + " open connection(s)" +
             (scheduler_.enabled() ? " and the scheduler" : "") + " (send it again to exit at once)");
    registry_.stopping = true;
    registry_.on_last_closed = [this] { finish_if_done(); };
    // Requests to the bucket in progress (a scheduled upload, an API request's listing) are
    // abandoned within about a second instead of holding the shutdown up.
    stop_bucket_requests(std::string("the server is stopping (") + name + ")");
    beast::error_code cec;
    acceptor_.close(cec);
    registry_.close_waiting();
    // A second signal ends the process at once.
    signals_.async_wait([](beast::error_code ec2, int) {
      if (ec2) return;
      log_warn("second signal: exiting now");
      std::_Exit(130);
    });
    // The scheduler's stop waits for a cycle in progress: on a thread of its own.
    drainer_ = std::thread([this] {
      scheduler_.stop();
      net::post(ioc_, [this] {
        scheduler_stopped_ = true;
        finish_if_done();
      });
    });
  }

  /// Once the connections and the scheduler have ended, nothing is left pending but the wait
  /// for a second signal: cancelling it lets run() return.
  void finish_if_done() {
    if (!scheduler_stopped_ || !registry_.open.empty()) return;
    beast::error_code ignore;
    signals_.cancel(ignore);
  }

  net::io_context& ioc_;
  tcp::acceptor& acceptor_;
  scheduler_service& scheduler_;
  net::thread_pool workers_;
  connection_registry registry_;
  session_context context_;
  net::signal_set signals_;
  bool scheduler_stopped_ = false;
  std::thread drainer_;
};

/// The database opened with the key at start-up: a missing or wrong key stops the server (exit
/// 2); a database that does not exist yet (log_configuration warns) or cannot be opened for
/// another reason is a warning, and GET /healthz answers 503 until it opens.
void check_database_at_start(const std::filesystem::path& database, const hb::database_key& key) {
  const database_check c = check_database(database, key);
  if (c.reason == "key") throw usage_error(c.message);
  if (!c.ok() && c.code != hb::errc::database_not_found)
    log_warn("the database cannot be opened: " + c.message + " (GET /healthz answers 503 until it can)");
}

/// A scheduler whose backup folder cannot be written to (missing and not creatable, read-only,
/// refused as shared) stops the start-up (exit 2) rather than failing every cycle.
void check_scheduler_folder(const hb::schedule_config& schedule, const server_options& opts,
                            const hb::database_key& key) {
  if (!schedule.enabled) return;
  try {
    backup_folder(opts.backup_dir, key).check_writable();
  } catch (const hb::error& e) {
    throw usage_error("the built-in scheduler (HONE_BACKUP_SCHEDULE) cannot write to its backup folder: " +
                      std::string(e.what()));
  }
}

/// Lists the bucket until it answers: the first failure is an ERROR line and makes GET /healthz
/// answer 503 ("offsite"); it is tried again every minute (the network may come up later).
void check_bucket(std::stop_token stop, const server_options& opts, hb::database_key key, std::chrono::seconds limit,
                  monitor& monitoring) {
  constexpr auto retry_after = std::chrono::minutes(1);
  bool failed = false;
  std::mutex m;
  std::condition_variable_any cv;
  while (!stop.stop_requested() && bucket_stop_reason().empty()) {
    try {
      auto deadline = std::make_shared<bucket_deadline>(limit, "HONE_R2_API_TIMEOUT");
      auto set = make_backups(
          opts.database, key, opts.backup_dir, [](std::string_view) { return hb::observer_fn{}; }, {},
          hb::check_level::full, false, deadline);
      const std::size_t n = set.list_offsite().size();
      monitoring.offsite_reachable();
      log_info(std::string("offsite copy: the bucket answers") + (failed ? " now" : "") + " (" + std::to_string(n) +
               " backup(s) in it)");
      return;
    } catch (const std::exception& e) {
      if (!bucket_stop_reason().empty()) return;
      if (!failed) monitoring.offsite_unreachable(program_message(e.what()));
      failed = true;
    }
    std::unique_lock lk(m);
    cv.wait_for(lk, stop, retry_after, [] { return false; });
  }
}

/// With an offsite copy: the listings of the bucket shared by the API, the status and the
/// scheduler (one at a time, each limited like an API request), and the start-up check of the
/// bucket on a thread of its own (check_bucket).
std::jthread start_offsite(const server_environment& setup, const server_options& opts, const hb::database_key& key,
                           monitor& monitoring) {
  if (!setup.offsite) return {};
  share_bucket_listings(opts.database, key, opts.backup_dir, {}, setup.bucket_limits.api);
  log_info("offsite time limits: " + std::to_string(setup.bucket_limits.api.count()) +
           " s for the bucket's part of an API request (HONE_R2_API_TIMEOUT), " +
           std::to_string(setup.bucket_limits.cycle.count()) +
           " s for that of a scheduled cycle (HONE_R2_CYCLE_TIMEOUT); at most " + std::to_string(max_bucket_requests) +
           " requests wait on the bucket at once");
  return std::jthread([&opts, key, limit = setup.bucket_limits.api, &monitoring](std::stop_token stop) {
    check_bucket(stop, opts, key, limit, monitoring);
  });
}

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
  check_database_at_start(opts.database, key);
  check_scheduler_folder(setup.schedule, opts, key);
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

  // Ends (joined) after the listings below: a check in progress is abandoned first.
  std::jthread bucket_check = start_offsite(setup, opts, key, monitoring);
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

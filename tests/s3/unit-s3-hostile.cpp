// s3_destination against answers no S3 server gives (fake_s3.hpp's injected answers): an
// endpoint that answers every request with a web page, a bucket that stores other bytes than were
// sent, endless and looping listings, answers longer than asked for, drips of one byte a second,
// numbers out of range; and the caller's interrupt. Every operation must end by itself, soon,
// with a hone::backup::error that says what came.
#include <boost/test/unit_test.hpp>

#include "fake_s3.hpp"

#include <hone/backup.hpp>

#include <atomic>
#include <future>
#include <random>

using namespace std::chrono_literals;
namespace hb = hone::backup;

namespace {

struct fixture {
  fake_s3::server server;

  hb::s3_options options(const std::string& prefix = "p/") {
    hb::s3_options o;
    o.endpoint = server.endpoint();
    o.bucket = "bucket";
    o.access_key_id = "AKIDTEST";
    o.secret_access_key = "fake-secret-value";
    o.prefix = prefix;
    o.part_size = 5u << 20;
    o.single_put_threshold = 1u << 20;
    o.retry_base_delay = 10ms;
    o.retry_max_delay = 50ms;
    o.max_attempts = 2;
    o.request_timeout = 5s;
    o.abort_stale_uploads = false;
    return o;
  }
  ~fixture() {
    std::lock_guard lk(server.m());
    BOOST_TEST(server.violations.empty(),
               "rules broken: " << (server.violations.empty() ? "" : server.violations.front()));
  }
};

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::mt19937_64 rng(seed);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

std::function<void(hb::writer&)> producer(const std::vector<std::byte>& data) {
  return [&data](hb::writer& w) { w.write(data); };
}

/// What `f` threw (its what()), and how long it took; "" when it returned. Anything but a
/// hone::backup::error fails the test. A call that does not end within `limit` fails it too.
struct outcome {
  std::string error;
  std::chrono::milliseconds took{};
};
template <class F>
outcome run(F f, std::chrono::milliseconds limit = 10s) {
  const auto start = std::chrono::steady_clock::now();
  auto fut = std::async(std::launch::async, [&f]() -> std::string {
    try {
      f();
      return {};
    } catch (const hb::error& e) {
      return std::string("hone::backup::error: ") + e.what();
    } catch (const std::exception& e) {
      return std::string("OTHER EXCEPTION: ") + e.what();
    }
  });
  if (fut.wait_for(limit) != std::future_status::ready) {
    BOOST_ERROR("the operation did not end within " << limit.count() << " ms");
    fut.wait();  // the fake server's teardown ends it
  }
  outcome o;
  o.error = fut.get();
  o.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  BOOST_TEST(o.error.find("OTHER EXCEPTION") == std::string::npos, o.error);
  return o;
}

std::string listing(const std::string& contents, bool truncated = false, const std::string& token = {}) {
  std::string b = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>" + contents;
  b += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
  if (!token.empty()) b += "<NextContinuationToken>" + token + "</NextContinuationToken>";
  return b + "</ListBucketResult>";
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(s3_hostile, fixture)

// ---- the caller's interrupt and the whole deadline -------------------------------------------

BOOST_AUTO_TEST_CASE(interrupt_abandons_a_hanging_request_within_a_second) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2") return fake_s3::hang();
    return std::nullopt;
  };
  auto o = options();
  o.request_timeout = 60s;
  std::atomic<bool> stop{false};
  o.interrupt = [&stop]() -> std::string { return stop ? "the program is stopping" : ""; };
  hb::s3_destination d(o);
  std::thread t([&stop] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  });
  auto r = run([&] { (void)d.list(); });
  t.join();
  BOOST_TEST(r.error.find("the program is stopping") != std::string::npos, r.error);
  BOOST_TEST(r.took < 1800ms);
  BOOST_TEST(server.count("ListObjectsV2") == 1);  // no retry
}

BOOST_AUTO_TEST_CASE(interrupt_ends_the_wait_between_retries) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2") return fake_s3::status(503, "SlowDown");
    return std::nullopt;
  };
  auto o = options();
  o.max_attempts = 6;
  o.retry_base_delay = 20s;
  o.retry_max_delay = 20s;
  std::atomic<bool> stop{false};
  o.interrupt = [&stop]() -> std::string { return stop ? "deadline of the cycle passed" : ""; };
  hb::s3_destination d(o);
  std::thread t([&stop] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  });
  auto r = run([&] { (void)d.list(); });
  t.join();
  BOOST_TEST(r.error.find("deadline of the cycle passed") != std::string::npos, r.error);
  BOOST_TEST(r.took < 1500ms);
}

BOOST_AUTO_TEST_CASE(interrupt_reaches_the_parts_in_flight) {
  std::atomic<bool> stop{false};
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "UploadPart") return fake_s3::hang();
    return std::nullopt;
  };
  auto o = options();
  o.request_timeout = 60s;
  o.interrupt = [&stop]() -> std::string { return stop ? "stopping" : ""; };
  hb::s3_destination d(o);
  const auto data = random_bytes(12u << 20, 1);
  std::thread t([&stop] {
    std::this_thread::sleep_for(500ms);
    stop = true;
  });
  auto r = run([&] { (void)d.store("b.db.gz", producer(data)); });
  t.join();
  BOOST_TEST(r.error.find("stopping") != std::string::npos, r.error);
  BOOST_TEST(r.took < 2500ms);
}

BOOST_AUTO_TEST_CASE(the_whole_deadline_ends_a_drip) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2") return fake_s3::drip(listing(""), 300ms);
    return std::nullopt;
  };
  auto o = options();
  o.request_timeout = 1s;
  o.max_attempts = 1;
  hb::s3_destination d(o);
  auto r = run([&] { (void)d.list(); });
  BOOST_TEST(!r.error.empty());
  BOOST_TEST(r.error.find("1000 ms") != std::string::npos, r.error);
  BOOST_TEST(r.took < 2500ms);
}

BOOST_AUTO_TEST_CASE(the_whole_deadline_is_on_by_default) {
  BOOST_TEST(hb::s3_options{}.request_timeout.count() > 0);
  BOOST_TEST(hb::s3_options{}.request_timeout <= std::chrono::milliseconds(std::chrono::minutes(30)));
}

BOOST_AUTO_TEST_CASE(a_huge_retry_after_is_bounded) {
  int n = 0;
  server.inject = [&n](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2" && n++ < 2)
      return fake_s3::answer(503, "<Error><Code>SlowDown</Code><Message>m</Message></Error>",
                             {{"Retry-After", n == 1 ? "1e999" : "99999999999999999999999999"}});
    return std::nullopt;
  };
  auto o = options();
  o.max_attempts = 3;
  hb::s3_destination d(o);
  auto r = run([&] { BOOST_TEST(d.list().empty()); });
  BOOST_TEST(r.error.empty(), r.error);
  BOOST_TEST(r.took < 2s);
}

BOOST_AUTO_TEST_SUITE_END()

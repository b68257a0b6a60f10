// s3_destination against answers no S3 server gives (fake_s3.hpp's injected answers): an
// endpoint that answers every request with a web page, a bucket that stores other bytes than were
// sent, endless and looping listings, answers longer than asked for, drips of one byte a second,
// numbers out of range; and the caller's interrupt. Every operation must end by itself, soon,
// with a hone::backup::error that says what came.
#include <boost/test/unit_test.hpp>

#include "fake_s3.hpp"
#include "support/testdb.hpp"

#include <atomic>
#include <future>
#include <random>

#include <malloc.h>

using namespace std::chrono_literals;
namespace hb = hone::backup;

namespace {

struct fixture {
  fake_s3::server server;

  hb::s3_options options(const std::string& prefix = "p/") {
    hb::s3_options o = fake_s3::client_options(server, prefix);
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

std::string sha256_hex(const std::string& s) {
  return hb::detail::s3::sha256_hex(std::as_bytes(std::span(s.data(), s.size())));
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

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
  BOOST_TEST_MESSAGE("after " << o.took.count() << " ms: " << (o.error.empty() ? "no error" : o.error));
  return o;
}

std::string listing(const std::string& contents, bool truncated = false, const std::string& token = {}) {
  std::string b = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>" + contents;
  b += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
  if (!token.empty()) b += "<NextContinuationToken>" + token + "</NextContinuationToken>";
  return b + "</ListBucketResult>";
}

std::string contents(const std::string& key, const std::string& size, const std::string& etag = "&quot;abc&quot;") {
  return "<Contents><Key>" + key + "</Key><LastModified>2024-01-15T14:30:22.000Z</LastModified><ETag>" + etag +
         "</ETag><Size>" + size + "</Size></Contents>";
}

bool is_marker(const fake_s3::request& r) { return has(r.key, "/.hone-content/"); }

/// The heap in use (malloc's arenas and its mmap'd blocks), in bytes.
std::size_t heap_in_use() {
  const auto m = ::mallinfo2();
  return m.uordblks + m.hblkhd;
}

/// Runs `f` while sampling the heap every 2 ms; returns how far above its level at the start it
/// went, in MiB.
template <class F>
std::size_t peak_heap_growth_mib(F f) {
  const std::size_t start = heap_in_use();
  std::atomic<bool> done{false};
  std::atomic<std::size_t> peak{start};
  std::thread sampler([&] {
    while (!done) {
      const std::size_t now = heap_in_use();
      if (now > peak) peak = now;
      std::this_thread::sleep_for(2ms);
    }
  });
  f();
  done = true;
  sampler.join();
  return (std::max(peak.load(), heap_in_use()) - start) >> 20;
}

using fake_s3::as_string;
using fake_s3::random_bytes;
using fake_s3::read_all;

/// Sets `flag` after `after` on a thread of its own (joined when the result is dropped).
std::jthread set_after(std::atomic<bool>& flag, std::chrono::milliseconds after) {
  return std::jthread([&flag, after] {
    std::this_thread::sleep_for(after);
    flag = true;
  });
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
  auto t = set_after(stop, 300ms);
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
  auto t = set_after(stop, 300ms);
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
  auto t = set_after(stop, 500ms);
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
                             {{"Retry-After", n == 1 ? "1e999" : std::string(400, '9')}});
    return std::nullopt;
  };
  auto o = options();
  o.max_attempts = 3;
  hb::s3_destination d(o);
  auto r = run([&] { BOOST_TEST(d.list().empty()); });
  BOOST_TEST(r.error.empty(), r.error);
  BOOST_TEST(r.took < 2s);
}

// ---- 1. same bytes, or not stored -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_bucket_that_stores_other_bytes_than_were_sent_gets_the_upload_deleted) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "PutObject" && !is_marker(r)) return fake_s3::store_other();
    return std::nullopt;
  };
  hb::s3_destination d(options());
  const auto data = random_bytes(1000, 3);
  auto r = run([&] { (void)d.store("a.db.gz", producer(data)); });
  BOOST_TEST(has(r.error, "S3 object bucket/p/a.db.gz"), r.error);
  BOOST_TEST(has(r.error, "has the ETag"), r.error);
  BOOST_TEST(has(r.error, "it was deleted"), r.error);
  std::lock_guard lk(server.m());
  BOOST_TEST(server.objects.empty());  // neither the object nor a record of it
}

BOOST_AUTO_TEST_CASE(a_multipart_upload_assembled_short_is_deleted) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "CompleteMultipartUpload") return fake_s3::store_other();
    return std::nullopt;
  };
  hb::s3_destination d(options());
  const auto data = random_bytes(12u << 20, 4);
  auto r = run([&] { (void)d.store("m.db.gz", producer(data)); });
  BOOST_TEST(has(r.error, "bytes right after"), r.error);
  BOOST_TEST(has(r.error, "it was deleted"), r.error);
  BOOST_TEST(!d.stat("m.db.gz"));
}

BOOST_AUTO_TEST_CASE(a_failed_delete_after_a_failed_check_is_said) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "PutObject" && !is_marker(r)) return fake_s3::store_other();
    if (r.operation == "DeleteObject") return fake_s3::status(500, "InternalError");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  const auto data = random_bytes(1000, 3);
  auto r = run([&] { (void)d.store("a.db.gz", producer(data)); });
  BOOST_TEST(has(r.error, "deleting it failed too"), r.error);
  BOOST_TEST(has(r.error, "bucket/p/a.db.gz"), r.error);
}

BOOST_AUTO_TEST_CASE(the_sha256_is_known_only_while_the_object_is_the_one_checked) {
  hb::s3_destination d(options());
  const auto data = random_bytes(3000, 5);
  const std::string sha = sha256_hex(as_string(data));
  auto stored = d.store("a.db.gz", producer(data));
  BOOST_TEST(stored.sha256 == sha);
  auto listed = d.list();
  BOOST_REQUIRE(listed.size() == 1u);
  BOOST_TEST(listed[0].sha256 == sha);
  BOOST_TEST(d.stat("a.db.gz")->sha256 == sha);
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  BOOST_TEST(d.content_sha256("a.db.gz") == sha);
  BOOST_TEST(server.count("GetObject") == 0);

  // Other bytes of the same size under the name (another program, another ETag): unknown.
  std::string other = as_string(data);
  other[10] = static_cast<char>(other[10] ^ 0x55);
  server.replace("p/a.db.gz", other);
  listed = d.list();
  BOOST_REQUIRE(listed.size() == 1u);
  BOOST_TEST(listed[0].sha256.empty());
  BOOST_TEST(d.stat("a.db.gz")->sha256.empty());
  // content_sha256 reads the object once, and records it.
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  BOOST_TEST(d.content_sha256("a.db.gz") == sha256_hex(other));
  BOOST_TEST(server.count("GetObject") == 1);
  BOOST_TEST(d.content_sha256("a.db.gz") == sha256_hex(other));
  BOOST_TEST(server.count("GetObject") == 1);
  listed = d.list();
  BOOST_TEST(listed[0].sha256 == sha256_hex(other));
  // The stale record went: one SHA-256 marker is left.
  std::lock_guard lk(server.m());
  BOOST_TEST(std::count_if(server.objects.begin(), server.objects.end(),
                           [](const auto& kv) { return has(kv.first, "/.hone-content/a.db.gz/sha256-"); }) == 1);
}

BOOST_AUTO_TEST_CASE(a_record_that_could_not_be_written_leaves_the_sha256_unknown) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "PutObject" && is_marker(r)) return fake_s3::status(403, "AccessDenied");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  auto stored = d.store("a.db.gz", producer(random_bytes(100, 1)));
  BOOST_TEST(stored.sha256.empty());
  BOOST_TEST(d.list().at(0).sha256.empty());
}

// ---- 2. a bucket is a bucket -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_endpoint_that_answers_everything_with_a_web_page_is_not_s3) {
  for (int status : {200, 404}) {
    server.inject = [status](const fake_s3::request&) -> std::optional<fake_s3::fault> {
      return fake_s3::html_page(status);
    };
    for (bool abort_stale : {false, true}) {
      auto o = options();
      o.abort_stale_uploads = abort_stale;
      hb::s3_destination d(o);
      auto r = run([&] { (void)d.store("a.db.gz", producer(random_bytes(100, 1))); });
      BOOST_TEST(has(r.error, "does not answer as S3 does"), status << ": " << r.error);
      BOOST_TEST(!has(r.error, "already exists"), r.error);
    }
    hb::s3_destination d(options());
    auto r = run([&] { (void)d.list(); });
    BOOST_TEST(has(r.error, "does not answer as S3 does"), r.error);
    BOOST_TEST(has(r.error, "text/html"), r.error);
    BOOST_TEST(has(r.error, "It works"), r.error);
    if (status == 200) {
      r = run([&] { (void)d.stat("a.db.gz"); });
      BOOST_TEST(has(r.error, "does not answer as S3 does"), r.error);
      r = run([&] { (void)d.open("a.db.gz"); });
      BOOST_TEST(has(r.error, "does not answer as S3 does"), r.error);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_listing_must_be_a_list_bucket_result) {
  for (std::string body : {std::string(""), std::string("<ListAllMyBucketsResult></ListAllMyBucketsResult>"),
                           std::string("{\"Contents\": []}"), std::string("<?xml version=\"1.0\"?>")}) {
    server.inject = [body](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
      if (r.operation == "ListObjectsV2") return fake_s3::answer(200, body);
      return std::nullopt;
    };
    hb::s3_destination d(options());
    auto r = run([&] { (void)d.list(); });
    BOOST_TEST(has(r.error, "does not answer as S3 does"), body << ": " << r.error);
  }
}

BOOST_AUTO_TEST_CASE(an_error_document_is_an_error_whatever_the_status) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2")
      return fake_s3::answer(200, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>");
    if (r.operation == "CompleteMultipartUpload")
      return fake_s3::answer(200,
                             "<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code><Message>x</Message></Error>");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  auto r = run([&] { (void)d.list(); });
  BOOST_TEST(has(r.error, "AccessDenied"), r.error);
  const auto data = random_bytes(6u << 20, 1);
  r = run([&] { (void)d.store("m.db.gz", producer(data)); });
  BOOST_TEST(has(r.error, "InternalError"), r.error);
  BOOST_TEST(!d.stat("m.db.gz"));
}

BOOST_AUTO_TEST_CASE(answers_without_an_etag_or_an_upload_id_are_not_s3) {
  const auto data = random_bytes(100, 1);
  const auto big = random_bytes(6u << 20, 2);
  struct step {
    std::string operation;
    fake_s3::fault answer;
    bool multipart;
  };
  const std::vector<step> steps{
      {"PutObject", fake_s3::answer(200, ""), false},
      {"UploadPart", fake_s3::answer(200, ""), true},
      {"CreateMultipartUpload", fake_s3::answer(200, "<InitiateMultipartUploadResult/>"), true},
      {"CreateMultipartUpload", fake_s3::answer(200, "<ListBucketResult><UploadId>x</UploadId></ListBucketResult>"),
       true},
      {"CompleteMultipartUpload", fake_s3::answer(200, "<html></html>"), true},
      {"HeadObject", fake_s3::answer(200, "", {{"Content-Type", "text/html"}}), false},
  };
  int n = 0;
  for (const auto& s : steps) {
    server.inject = [&s](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
      if (r.operation == s.operation && !is_marker(r)) return s.answer;
      return std::nullopt;
    };
    hb::s3_destination d(options());
    const std::string name = "x" + std::to_string(n++) + ".db.gz";
    auto r = run([&] { (void)d.store(name, producer(s.multipart ? big : data)); });
    BOOST_TEST(has(r.error, "does not answer as S3 does"), s.operation << ": " << r.error);
  }
}

BOOST_AUTO_TEST_CASE(messages_tell_a_wrong_endpoint_a_missing_bucket_and_refused_credentials_apart) {
  auto try_list = [&](hb::s3_options o) { return run([&] { (void)hb::s3_destination(o).list(); }).error; };
  // Nothing listens on the port (the server is gone once a socket was bound and closed).
  auto o = options();
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    o.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    ::close(fd);
  }
  std::string e = try_list(o);
  BOOST_TEST(has(e, "Nothing answers"), e);
  o.endpoint = "http://no-such-host.invalid";
  e = try_list(o);
  BOOST_TEST(has(e, "unknown"), e);
  struct refusal {
    std::string code;
    int status;
    std::string expect;
  };
  for (const refusal& x : {refusal{"NoSuchBucket", 404, "does not exist"},
                           refusal{"InvalidAccessKeyId", 403, "does not know the access key id"},
                           refusal{"SignatureDoesNotMatch", 403, "secret access key does not match"},
                           refusal{"AccessDenied", 403, "not allowed"}}) {
    server.inject = [x](const fake_s3::request&) -> std::optional<fake_s3::fault> {
      return fake_s3::status(x.status, x.code);
    };
    e = try_list(options());
    BOOST_TEST(has(e, x.code), e);
    BOOST_TEST(has(e, x.expect), e);
    BOOST_TEST(!has(e, "does not answer as S3 does"), e);
    BOOST_TEST(!has(e, "fake-secret-value"), e);
  }
}

// ---- 3. bounded in time and memory ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_endless_listing_stops_after_max_list_pages) {
  std::atomic<int> n{0};
  server.inject = [&n](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation != "ListObjectsV2") return std::nullopt;
    const int i = ++n;
    return fake_s3::answer(
        200, listing(contents("p/b" + std::to_string(i) + ".db.gz", "10"), true, "token-" + std::to_string(i)));
  };
  auto o = options();
  o.max_list_pages = 50;
  hb::s3_destination d(o);
  auto r = run([&] { (void)d.list(); });
  BOOST_TEST(has(r.error, "beyond 50 pages"), r.error);
  BOOST_TEST(n.load() == 50);
}

BOOST_AUTO_TEST_CASE(a_repeated_continuation_token_or_marker_stops_the_listing) {
  std::atomic<int> n{0};
  server.inject = [&n](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2")
      return ++n, fake_s3::answer(200, listing(contents("p/b.db.gz", "10"), true, "again"));
    if (r.operation == "ListMultipartUploads")
      return ++n,
             fake_s3::answer(200,
                             "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k</"
                             "NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker></ListMultipartUploadsResult>");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  auto r = run([&] { (void)d.list(); });
  BOOST_TEST(has(r.error, "same continuation token"), r.error);
  BOOST_TEST(n.load() == 2);
  r = run([&] { (void)d.abort_stale_uploads(); });
  BOOST_TEST(has(r.error, "same continuation token (or marker)"), r.error);
  BOOST_TEST(n.load() == 4);
  // A truncated listing that gives no token at all is not S3's either.
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2") return fake_s3::answer(200, listing("", true));
    return std::nullopt;
  };
  r = run([&] { (void)d.list(); });
  BOOST_TEST(has(r.error, "without a NextContinuationToken"), r.error);
}

BOOST_AUTO_TEST_CASE(an_endless_listing_of_full_pages_stays_bounded_in_memory) {
  std::atomic<int> n{0};
  server.inject = [&n](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation != "ListObjectsV2") return std::nullopt;
    const int i = ++n;
    std::string items;
    for (int k = 0; k < 1000; ++k)
      items += contents("p/backup-" + std::to_string(i) + "-" + std::to_string(k) + std::string(150, 'x') + ".db.gz",
                        "1000");
    return fake_s3::answer(200, listing(items, true, "t" + std::to_string(i)));
  };
  auto o = options();
  o.request_timeout = 20s;
  hb::s3_destination d(o);
  outcome r;
  const std::size_t grew = peak_heap_growth_mib([&] { r = run([&] { (void)d.list(); }, 60s); });
  BOOST_TEST(has(r.error, "max_list_bytes"), r.error);
  BOOST_TEST(n.load() < 200);
  BOOST_TEST_MESSAGE("the heap grew by at most " << grew << " MiB");
  BOOST_TEST(grew < 128u);
}

BOOST_AUTO_TEST_CASE(a_listing_longer_than_16_mib_is_cut_off) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2")
      return fake_s3::answer(200, "<ListBucketResult>" + std::string(17u << 20, ' ') + "</ListBucketResult>");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  auto r = run([&] { (void)d.list(); });
  BOOST_TEST(has(r.error, "cut off after 16777216 bytes of body"), r.error);
  BOOST_TEST(server.count("ListObjectsV2") == 1);  // not retried
  // 300 KB of headers (lines of 3,000 bytes): cut off too.
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation != "HeadObject") return std::nullopt;
    std::vector<std::pair<std::string, std::string>> h{{"ETag", "\"x\""}};
    for (int i = 0; i < 100; ++i) h.emplace_back("X-Junk-" + std::to_string(i), std::string(3000, 'j'));
    return fake_s3::answer(200, "", h);
  };
  r = run([&] { (void)d.stat("a.db.gz"); });
  BOOST_TEST(has(r.error, "256 KiB of headers"), r.error);
  // An <Error> document without a <Code>, with 200: an error all the same.
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "ListObjectsV2") return fake_s3::answer(200, "<Error><Message>m</Message></Error>");
    return std::nullopt;
  };
  r = run([&] { (void)d.list(); });
  BOOST_TEST(has(r.error, "HTTP 200 Error (m)"), r.error);
}

BOOST_AUTO_TEST_CASE(a_ranged_get_answered_with_more_or_fewer_bytes_fails) {
  hb::s3_destination d(options());
  const auto data = random_bytes(300000, 7);
  d.store("a.db.gz", producer(data));
  std::string etag;
  {
    std::lock_guard lk(server.m());
    etag = "\"" + fake_s3::s3::to_hex(fake_s3::s3::md5(std::span(data))) + "\"";
  }
  for (std::size_t n : {std::size_t(1) << 20, std::size_t(1000)}) {
    server.inject = [n, etag](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
      if (r.operation == "GetObject") return fake_s3::answer(206, std::string(n, 'z'), {{"ETag", etag}});
      return std::nullopt;
    };
    auto in = d.open("a.db.gz");
    auto r = run([&] { (void)read_all(*in); });
    BOOST_TEST(has(r.error, n > 1000 ? "cut off after 65536 bytes" : "gave 1000 bytes for a range of 65536"), r.error);
  }
  // A Content-Length that promises more than the range, with a body that never ends.
  server.inject = [etag](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation != "GetObject") return std::nullopt;
    auto f = fake_s3::answer(206, std::string(70000, 'z'), {{"ETag", etag}});
    f.answer->content_length = "99999999999999";
    return f;
  };
  auto in = d.open("a.db.gz");
  auto r = run([&] { (void)read_all(*in); });
  BOOST_TEST(has(r.error, "longer than"), r.error);
}

BOOST_AUTO_TEST_CASE(absurd_part_sizes_are_refused) {
  hb::s3_destination d(options());
  const auto data = random_bytes(6u << 20, 8);
  d.store("m.db.gz", producer(data));
  for (std::string part : {"0", "1", "6442450944", "-5", "abc"}) {
    {
      std::lock_guard lk(server.m());
      server.object_meta["p/m.db.gz"]["x-amz-meta-hone-part-size"] = part;
    }
    auto r = run([&] { (void)read_all(*d.open("m.db.gz")); });
    BOOST_TEST(has(r.error, "x-amz-meta-hone-part-size"), part << ": " << r.error);
  }
}

// ---- 4. numbers from outside ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unparsable_or_out_of_range_sizes_in_a_listing_are_bucket_errors) {
  for (std::string size : {"abc", "-1", "99999999999999999999", "", "1e3", "6000000000000"}) {
    server.inject = [size](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
      if (r.operation == "ListObjectsV2") return fake_s3::answer(200, listing(contents("p/a.db.gz", size)));
      return std::nullopt;
    };
    hb::s3_destination d(options());
    auto r = run([&] { (void)d.list(); });
    BOOST_TEST(has(r.error, "hone::backup::error"), size << ": " << r.error);
    BOOST_TEST(has(r.error, "Size of p/a.db.gz"), size << ": " << r.error);
    BOOST_TEST(has(r.error, server.endpoint()), r.error);
  }
}

BOOST_AUTO_TEST_CASE(a_huge_or_bad_content_length_is_a_bucket_error) {
  for (std::string len : {"99999999999999999999", "abc", "-3"}) {
    server.inject = [len](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
      if (r.operation != "HeadObject") return std::nullopt;
      auto f = fake_s3::answer(200, "", {{"ETag", "\"d41d8cd98f00b204e9800998ecf8427e\""}});
      f.answer->content_length = len;
      return f;
    };
    hb::s3_destination d(options());
    auto r = run([&] { (void)d.stat("a.db.gz"); });
    BOOST_TEST(has(r.error, "Content-Length"), len << ": " << r.error);
    r = run([&] { (void)d.open("a.db.gz"); });
    BOOST_TEST(has(r.error, "Content-Length"), len << ": " << r.error);
  }
}

// ---- 6. scale -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_header_peek_costs_one_small_get) {
  hb::s3_destination d(options());
  const auto data = random_bytes(20u << 20, 9);
  d.store("big.db.gz", producer(data));
  std::vector<std::string> ranges;
  std::mutex m;
  server.inject = [&](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "GetObject") {
      std::lock_guard lk(m);
      ranges.push_back(r.header("range"));
    }
    return std::nullopt;
  };
  auto in = d.open("big.db.gz");
  std::vector<std::byte> buf(4096);
  BOOST_TEST(in->read(buf) == 4096u);
  std::this_thread::sleep_for(100ms);
  std::lock_guard lk(m);
  BOOST_REQUIRE(ranges.size() == 1u);
  BOOST_TEST(ranges[0] == "bytes=0-65535");
}

BOOST_AUTO_TEST_CASE(objects_without_a_record_are_read_on_the_first_list_only) {
  hone_test::scratch_dir dir("s3-hostile");
  const auto db = dir / "hone.db";
  hone_test::make_hone_db(db, hone_test::test_key());
  hb::sqlcipher_exporter::options eo;
  eo.key = hone_test::test_key();
  hb::runner_options ro;
  ro.temp_directory = dir.path();
  hb::BackupRunner<hb::sqlcipher_exporter, hb::gzip_compressor, hb::s3_destination, hb::fake_clock> r(
      hb::sqlcipher_exporter(db, eo), hb::gzip_compressor{}, hb::s3_destination(options()), hb::fake_clock{}, ro);
  const auto made = r.create();
  std::string bytes;
  {
    std::lock_guard lk(server.m());
    bytes = server.objects.at("p/" + made.name);
    server.objects.clear();  // no backup of the runner's, no marker: only foreign objects below
  }
  // 25 backups copied in by another tool, and 25 objects named like backups that are not.
  for (int i = 0; i < 25; ++i) {
    server.replace("p/copied-" + std::to_string(i) + ".db.gz", bytes);
    server.replace("p/junk-" + std::to_string(i) + ".db.gz", "not a backup " + std::to_string(i));
  }
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  auto all = r.list();
  BOOST_REQUIRE(all.size() == 50u);
  BOOST_TEST(server.count("GetObject") == 50);
  for (const auto& b : all) BOOST_TEST(b.problem.empty() == (b.name.rfind("copied-", 0) == 0), b.name);
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  auto again = r.list();
  BOOST_TEST(server.count("GetObject") == 0);
  BOOST_TEST(server.count("HeadObject") == 0);
  BOOST_TEST(server.count("ListObjectsV2") == 1);
  BOOST_REQUIRE(again.size() == 50u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    BOOST_TEST(again[i].name == all[i].name);
    BOOST_TEST(again[i].encrypted == all[i].encrypted);
    BOOST_TEST(again[i].deflated == all[i].deflated);
    BOOST_TEST(again[i].problem == all[i].problem);
  }
  // An object replaced by one of another size is read again.
  server.replace("p/junk-3.db.gz", bytes);
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  auto third = r.list();
  BOOST_TEST(server.count("GetObject") == 1);
  for (const auto& b : third)
    if (b.name == "junk-3.db.gz") BOOST_TEST(b.problem.empty(), b.problem);
}

BOOST_AUTO_TEST_SUITE_END()

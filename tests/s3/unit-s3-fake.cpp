// s3_destination against the in-process fake S3 server (fake_s3.hpp): the rules a real server
// may not enforce (R2's equal parts, no chunked uploads, Content-MD5 everywhere, no
// x-amz-checksum-*), retries of 500/503/SlowDown/timeouts/dropped connections, aborts, ETag
// checks, pagination and bounded memory.
#include <boost/test/unit_test.hpp>

#include "fake_s3.hpp"
#include "support/testdb.hpp"

#include <random>

using namespace std::chrono_literals;
namespace hb = hone::backup;

namespace {

struct fixture {
  fake_s3::server server;
  std::vector<std::string> retries;
  std::mutex retries_m;

  hb::s3_options options(const std::string& prefix = "p/") {
    hb::s3_options o = fake_s3::client_options(server, prefix);
    o.log = [this](std::string_view m) {
      std::lock_guard lk(retries_m);
      retries.emplace_back(m);
    };
    return o;
  }
  ~fixture() {
    std::lock_guard lk(server.m());
    BOOST_TEST(server.violations.empty(),
               "rules broken: " << (server.violations.empty() ? "" : server.violations.front()));
  }
};

/// Writes `data` in pieces of odd sizes, as a compressor does.
std::function<void(hb::writer&)> producer(const std::vector<std::byte>& data, std::size_t piece = 77777) {
  return [&data, piece](hb::writer& w) {
    for (std::size_t at = 0; at < data.size(); at += piece)
      w.write(std::span(data).subspan(at, std::min(piece, data.size() - at)));
  };
}

std::string object(fake_s3::server& s, const std::string& key) {
  std::lock_guard lk(s.m());
  return s.objects.count(key) ? s.objects[key] : std::string("<none>");
}

using fake_s3::as_string;
using fake_s3::random_bytes;
using fake_s3::read_all;

}  // namespace

BOOST_FIXTURE_TEST_SUITE(s3_fake, fixture)

BOOST_AUTO_TEST_CASE(multipart_parts_are_equal_and_memory_is_bounded) {
  auto o = options();
  o.parallel_parts = 2;
  hb::s3_destination d(o);
  const auto data = random_bytes((5u << 20) * 4 + 12345, 1);
  auto e = d.store("a.db.gz", producer(data));
  BOOST_TEST(e.size == data.size());
  BOOST_TEST(object(server, "p/a.db.gz") == as_string(data));
  BOOST_TEST(server.count("UploadPart") == 5);
  BOOST_TEST(server.count("CompleteMultipartUpload") == 1);
  BOOST_TEST(server.max_parallel_parts <= 2);
  BOOST_TEST(e.location == server.endpoint() + "/bucket/p/a.db.gz");
  // Read back in ranged GETs of download_chunk_size, the multipart ETag checked at the end.
  o.download_chunk_size = 4u << 20;
  hb::s3_destination reader_side(o);
  auto in = reader_side.open("a.db.gz");
  BOOST_TEST((read_all(*in) == data));
  BOOST_TEST(server.count("GetObject") == 6);
}

BOOST_AUTO_TEST_CASE(a_backup_below_the_threshold_is_one_put_and_an_empty_one_too) {
  hb::s3_destination d(options());
  const auto data = random_bytes(1000, 2);
  d.store("small.db.gz", producer(data));
  d.store("empty.db.gz", [](hb::writer&) {});
  BOOST_TEST(server.count_data("PutObject") == 2);
  BOOST_TEST(server.count("PutObject") == 4);  // and a SHA-256 marker for each
  BOOST_TEST(server.count("CreateMultipartUpload") == 0);
  BOOST_TEST(object(server, "p/empty.db.gz") == "");
  BOOST_TEST(read_all(*d.open("empty.db.gz")).empty());
  BOOST_TEST((read_all(*d.open("small.db.gz")) == data));
}

BOOST_AUTO_TEST_CASE(the_equal_part_rule_is_enforced_by_the_fake) {
  // The fake refuses unequal parts: proves the check the other tests rely on.
  auto c = hb::detail::s3::client([&] {
    hb::detail::s3::client_settings s;
    s.endpoint = server.endpoint();
    s.bucket = "bucket";
    s.access_key_id = "AKIDTEST";
    s.secret_access_key = "fake-secret-value";
    return s;
  }());
  hb::detail::s3::call init{"CreateMultipartUpload", "POST", "k", {{"uploads", ""}}, {}, {}};
  const std::string id = hb::detail::s3::xml_text(c.send(init).body, "UploadId");
  std::string xml = "<CompleteMultipartUpload>";
  for (int n = 1; n <= 3; ++n) {
    const auto body = random_bytes((5u << 20) + (n == 2 ? 1 : 0), n);
    const auto md5 = hb::detail::s3::md5(body);
    hb::detail::s3::call part{"UploadPart", "PUT", "k", {{"partNumber", std::to_string(n)}, {"uploadId", id}},
                              {},           body};
    part.headers = {{"content-md5", hb::detail::s3::to_base64(md5)}};
    BOOST_TEST(c.send(part).ok());
    xml += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>\"" + hb::detail::s3::to_hex(md5) +
           "\"</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  hb::detail::s3::call done{"CompleteMultipartUpload", "POST", "k",
                            {{"uploadId", id}},        {},     std::as_bytes(std::span(xml.data(), xml.size()))};
  auto r = c.send(done);
  BOOST_TEST(r.status == 400);
  BOOST_TEST(r.message == "All non-trailing parts must have the same length.");
  std::lock_guard lk(server.m());
  BOOST_TEST(server.violations == std::vector<std::string>{"unequal parts"});
  server.violations.clear();
}

BOOST_AUTO_TEST_CASE(chunked_uploads_are_refused_by_the_fake) {
  // curl sends a body of unknown length chunked; the fake refuses it (and the client never does).
  CURL* c = curl_easy_init();
  curl_slist* h = curl_slist_append(nullptr, "Transfer-Encoding: chunked");
  const std::string url = server.endpoint() + "/bucket/chunked";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(
      c, CURLOPT_READFUNCTION, +[](char*, std::size_t, std::size_t, void*) -> std::size_t { return 0; });
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t s, std::size_t n, void*) { return s * n; });
  BOOST_TEST(curl_easy_perform(c) == CURLE_OK);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  BOOST_TEST(status == 411);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  std::lock_guard lk(server.m());
  BOOST_TEST(server.violations.size() == 1u);
  server.violations.clear();
}

BOOST_AUTO_TEST_CASE(slowdown_503_and_500_are_retried) {
  std::atomic<int> parts{0}, puts{0};
  server.inject = [&](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "UploadPart" && parts++ < 2) return fake_s3::status(503, "SlowDown");
    if (r.operation == "PutObject" && puts++ < 1) return fake_s3::status(500, "InternalError");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  const auto big = random_bytes((5u << 20) * 2 + 1, 3);
  d.store("big.db.gz", producer(big));
  d.store("small.db.gz", producer(random_bytes(10, 4)));
  BOOST_TEST(object(server, "p/big.db.gz") == as_string(big));
  BOOST_TEST(retries.size() == 3u);
  BOOST_TEST(retries.at(0).find("HTTP 503 SlowDown; retrying in") != std::string::npos, retries.at(0));
}

BOOST_AUTO_TEST_CASE(timeouts_and_dropped_connections_are_retried) {
  std::atomic<int> n{0};
  server.inject = [&](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "PutObject" && n == 0) return ++n, fake_s3::delay(1500ms);
    // Twice: libcurl itself retries once a reused connection that closes without an answer.
    if (r.operation == "GetObject" && (n == 1 || n == 2)) return ++n, fake_s3::drop();
    return std::nullopt;
  };
  auto o = options();
  o.request_timeout = 700ms;
  hb::s3_destination d(o);
  const auto data = random_bytes(500, 5);
  d.store("t.db.gz", producer(data));
  BOOST_TEST((read_all(*d.open("t.db.gz")) == data));
  BOOST_TEST(n == 3);
  for (const auto& m : retries) BOOST_TEST_MESSAGE(m);
  BOOST_REQUIRE(retries.size() >= 2u);
  BOOST_TEST(retries[0].find("no response") != std::string::npos, retries[0]);
}

BOOST_AUTO_TEST_CASE(a_part_that_keeps_failing_aborts_the_upload_and_says_why) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "UploadPart" && r.query.at("partNumber") == "2") return fake_s3::status(500, "InternalError");
    return std::nullopt;
  };
  auto o = options();
  o.max_attempts = 3;
  hb::s3_destination d(o);
  try {
    d.store("f.db.gz", producer(random_bytes((5u << 20) * 3, 6)));
    BOOST_FAIL("store succeeded");
  } catch (const hb::remote_error& e) {
    const std::string m = e.what();
    BOOST_TEST(
        m.find("S3 UploadPart of bucket/p/f.db.gz at " + server.endpoint() + " failed: HTTP 500 InternalError") == 0,
        m);
    BOOST_TEST(m.find("part 2") != std::string::npos, m);
    BOOST_TEST(m.find("fake-secret-value") == std::string::npos);
  }
  BOOST_TEST(server.count("AbortMultipartUpload") == 1);
  std::lock_guard lk(server.m());
  BOOST_TEST(server.uploads.empty());
  BOOST_TEST(server.objects.empty());
}

BOOST_AUTO_TEST_CASE(an_exception_from_the_producer_aborts_the_upload) {
  hb::s3_destination d(options());
  const auto data = random_bytes(11u << 20, 7);
  BOOST_CHECK_THROW(d.store("x.db.gz",
                            [&](hb::writer& w) {
                              producer(data)(w);
                              throw hb::export_error("sqlcipher_export failed: disk I/O error");
                            }),
                    hb::export_error);
  BOOST_TEST(server.count("AbortMultipartUpload") == 1);
  BOOST_TEST(server.count("CompleteMultipartUpload") == 0);
  BOOST_TEST(d.list().empty());
}

BOOST_AUTO_TEST_CASE(a_wrong_part_etag_is_data_altered_in_transit) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "UploadPart") return fake_s3::wrong_etag("0123456789abcdef0123456789abcdef");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  try {
    d.store("e.db.gz", producer(random_bytes(6u << 20, 8)));
    BOOST_FAIL("store succeeded");
  } catch (const hb::remote_error& e) {
    BOOST_TEST(std::string(e.what()).find("altered in transit") != std::string::npos, e.what());
  }
  BOOST_TEST(server.count("AbortMultipartUpload") == 1);
}

BOOST_AUTO_TEST_CASE(a_wrong_final_etag_deletes_the_object) {
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "CompleteMultipartUpload") return fake_s3::wrong_etag("ffffffffffffffffffffffffffffffff-2");
    return std::nullopt;
  };
  hb::s3_destination d(options());
  BOOST_CHECK_THROW(d.store("e.db.gz", producer(random_bytes(6u << 20, 9))), hb::remote_error);
  BOOST_TEST(d.list().empty());
}

BOOST_AUTO_TEST_CASE(never_overwrites_with_or_without_conditional_writes) {
  for (bool conditional : {true, false}) {
    server.conditional_writes = conditional;
    const std::string prefix = conditional ? "c/" : "n/";
    hb::s3_destination d(options(prefix));
    const int puts = server.count_data("PutObject");
    d.store("a.db.gz", producer(random_bytes(100, 1)));
    // Without conditional writes: one 501 NotImplemented (never retried), then the plain PUT.
    BOOST_TEST(server.count_data("PutObject") - puts == (conditional ? 1 : 2));
    BOOST_CHECK_THROW(d.store("a.db.gz", producer(random_bytes(100, 2))), hb::already_exists_error);
    BOOST_TEST(object(server, prefix + "a.db.gz") == as_string(random_bytes(100, 1)));
  }
  // A name that appears between the HEAD and the PUT: the server's 412 is already_exists.
  server.conditional_writes = true;
  std::atomic<bool> planted{false};
  server.inject = [&](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "PutObject" && !planted.exchange(true)) {
      std::lock_guard lk(server.m());
      server.objects["c/race.db.gz"] = "someone else's";
    }
    return std::nullopt;
  };
  hb::s3_destination d(options("c/"));
  BOOST_CHECK_THROW(d.store("race.db.gz", producer(random_bytes(100, 3))), hb::already_exists_error);
  BOOST_TEST(object(server, "c/race.db.gz") == "someone else's");
}

BOOST_AUTO_TEST_CASE(list_pages_and_keeps_to_the_prefix) {
  server.max_keys = 2;
  hb::s3_destination d(options());
  for (int i = 0; i < 5; ++i) d.store("b" + std::to_string(i) + ".db.gz", producer(random_bytes(10, i)));
  {
    std::lock_guard lk(server.m());
    server.objects["p/sub/x.db.gz"] = "x";
    server.objects["p/.hidden"] = "x";
    server.objects["q/b9.db.gz"] = "x";
    server.log.clear();
  }
  auto all = d.list();
  BOOST_TEST(all.size() == 5u);
  // 12 keys under p/ (5 backups, their 5 SHA-256 markers and 2 others), 2 per page
  BOOST_TEST(server.count("ListObjectsV2") == 6);
  for (const auto& e : all) {
    BOOST_TEST(e.size == 10u);
    BOOST_TEST(e.sha256.size() == 64u);
  }
}

BOOST_AUTO_TEST_CASE(remove_confirms_the_object_is_gone) {
  hb::s3_destination d(options());
  d.store("r.db.gz", producer(random_bytes(10, 1)));
  d.remove("r.db.gz");
  BOOST_TEST(!d.stat("r.db.gz"));
  BOOST_CHECK_THROW(d.remove("r.db.gz"), hb::not_found_error);
  BOOST_CHECK_THROW(d.open("r.db.gz"), hb::not_found_error);
  // A server that says it deleted but did not.
  d.store("s.db.gz", producer(random_bytes(10, 2)));
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "DeleteObject") return fake_s3::status(204);
    return std::nullopt;
  };
  BOOST_CHECK_THROW(d.remove("s.db.gz"), hb::remote_error);
}

BOOST_AUTO_TEST_CASE(clock_skew_is_explained) {
  server.inject = [](const fake_s3::request&) -> std::optional<fake_s3::fault> {
    return fake_s3::status(403, "RequestTimeTooSkewed");
  };
  hb::s3_destination d(options());
  try {
    (void)d.list();
    BOOST_FAIL("list succeeded");
  } catch (const hb::remote_error& e) {
    BOOST_TEST(std::string(e.what()).find("clock") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("NTP") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(an_object_replaced_while_read_fails_the_reader) {
  auto o = options();
  o.download_chunk_size = 1u << 20;
  hb::s3_destination d(o);
  d.store("m.db.gz", producer(random_bytes(3u << 20, 1)));
  auto in = d.open("m.db.gz");
  std::vector<std::byte> buf(1u << 20);
  BOOST_TEST(in->read(buf) > 0u);
  d.remove("m.db.gz");
  d.store("m.db.gz", producer(random_bytes(3u << 20, 2)));
  // The reader fails rather than mix two objects: "replaced" (412 to If-Match) for a range asked
  // for after the new store, or "deleted" (404) when the range read ahead was asked for between
  // the remove and the store.
  try {
    read_all(*in);
    BOOST_FAIL("a reader of a replaced object read to the end");
  } catch (const hb::error& e) {
    BOOST_TEST((e.code() == hb::errc::remote || e.code() == hb::errc::not_found), e.what());
  }
}

BOOST_AUTO_TEST_CASE(the_next_range_downloads_while_the_current_one_is_read) {
  auto o = options();
  o.download_chunk_size = 1u << 20;
  hb::s3_destination d(o);
  const auto data = random_bytes((5u << 20) / 2, 5);  // 3 ranges, the last one half
  d.store("r.db.gz", producer(data));
  auto in = d.open("r.db.gz");
  std::vector<std::byte> buf(1000);
  BOOST_TEST(in->read(buf) == 1000u);
  // A peek: one small range (64 KiB), nothing read ahead.
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(server.count("GetObject") == 1);
  std::vector<std::byte> head(buf);
  std::vector<std::byte> more(70000);
  for (std::size_t got = 0; got < more.size();) got += in->read(std::span(more).subspan(got));
  head.insert(head.end(), more.begin(), more.end());
  // Reading on: the second range (1 MiB) came, and the third is on its way; the fourth waits.
  for (int i = 0; i < 500 && server.count("GetObject") < 3; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(server.count("GetObject") == 3);
  auto rest = read_all(*in);
  rest.insert(rest.begin(), head.begin(), head.end());
  BOOST_TEST(as_string(rest) == as_string(data));
  BOOST_TEST(server.count("GetObject") == 4, "no range is asked for twice, none beyond the end");

  // A reader dropped while a range is on its way waits for it: nothing outlives the reader.
  server.inject = [](const fake_s3::request& r) -> std::optional<fake_s3::fault> {
    if (r.operation == "GetObject") return fake_s3::delay(300ms);
    return std::nullopt;
  };
  auto early = d.open("r.db.gz");
  BOOST_TEST(early->read(buf) == 1000u);
  early.reset();
  BOOST_TEST(server.count("GetObject") == 5);
  server.inject = nullptr;
}

BOOST_AUTO_TEST_CASE(bytes_that_differ_from_the_etag_are_a_corrupt_backup) {
  auto o = options();
  o.download_chunk_size = 1u << 20;
  hb::s3_destination d(o);
  for (std::size_t size : {std::size_t(100000), std::size_t(6u << 20)}) {  // one PUT, then 2 parts
    const std::string name = "c" + std::to_string(size) + ".db.gz";
    d.store(name, producer(random_bytes(size, 1)));
    {
      std::lock_guard lk(server.m());
      server.objects["p/" + name][size / 2] ^= 1;  // a bit flips at rest; the ETag stays
    }
    auto in = d.open(name);
    BOOST_CHECK_THROW(read_all(*in), hb::corrupt_backup_error);
  }
}

BOOST_AUTO_TEST_CASE(stale_uploads_under_the_prefix_are_aborted_by_the_next_store) {
  {
    std::lock_guard lk(server.m());
    server.uploads["old-1"].key = "p/killed.db.gz";
    server.uploads["old-2"].key = "other/killed.db.gz";
  }
  hb::s3_destination d(options());
  d.store("n.db.gz", producer(random_bytes(10, 1)));
  std::lock_guard lk(server.m());
  BOOST_TEST(server.uploads.size() == 1u);
  BOOST_TEST(server.uploads.begin()->first == "old-2");
}

BOOST_AUTO_TEST_CASE(works_as_the_runners_destination) {
  hone_test::scratch_dir dir("s3-fake");
  const auto db = dir / "hone.db";
  hone_test::make_hone_db(db, hone_test::test_key());
  hb::sqlcipher_exporter::options eo;
  eo.key = hone_test::test_key();
  hb::runner_options ro;
  ro.temp_directory = dir.path();
  hb::BackupRunner<hb::sqlcipher_exporter, hb::gzip_compressor, hb::s3_destination, hb::fake_clock> r(
      hb::sqlcipher_exporter(db, eo), hb::gzip_compressor{}, hb::s3_destination(options()), hb::fake_clock{}, ro);
  auto b = r.create();
  auto again = r.create();
  BOOST_TEST(again.name == "backup-2024-01-15-143022-1.db.gz");
  // list() takes what it reports from the listing (the markers annotate() left), no GETs.
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  auto all = r.list();
  BOOST_TEST(all.size() == 2u);
  BOOST_TEST(server.count("ListObjectsV2") == 1);
  BOOST_TEST(server.count("GetObject") == 0);
  BOOST_TEST(server.count("HeadObject") == 0);
  for (const auto& x : all) {
    BOOST_TEST(x.encrypted);
    BOOST_TEST(x.compressed);
    BOOST_TEST(!x.deflated);
    BOOST_TEST(x.problem.empty());
  }
  // A backup without a marker (put there by another tool) is read as before.
  {
    std::lock_guard lk(server.m());
    server.objects["p/planted.db.gz"] = "not gzip";
    server.log.clear();
  }
  all = r.list();
  BOOST_REQUIRE(all.size() == 3u);
  BOOST_TEST(server.count("GetObject") == 1);
  for (const auto& x : all)
    if (x.name == "planted.db.gz") BOOST_TEST(!x.problem.empty());
  // What the first bytes showed was recorded: the next list reads nothing.
  {
    std::lock_guard lk(server.m());
    server.log.clear();
  }
  all = r.list();
  BOOST_REQUIRE(all.size() == 3u);
  BOOST_TEST(server.count("GetObject") == 0);
  for (const auto& x : all)
    if (x.name == "planted.db.gz") BOOST_TEST(x.problem.find("not a backup") != std::string::npos, x.problem);
  BOOST_TEST(r.verify(b.name).valid);
  BOOST_TEST(r.prune(1).deleted_count == 1u);
  // The deleted backup's marker went with it.
  std::lock_guard lk(server.m());
  for (const auto& [k, v] : server.objects) BOOST_TEST(k.find(b.name) == std::string::npos, k);
}

BOOST_AUTO_TEST_SUITE_END()

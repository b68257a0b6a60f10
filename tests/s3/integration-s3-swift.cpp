// s3_destination against a real S3 server: OpenStack Swift with its s3api middleware, started
// by scripts/test.sh (scripts/s3-server.sh). Skipped, with the reason printed, when
// HONE_TEST_S3_ENDPOINT is not set or the server does not answer.
#include <boost/test/unit_test.hpp>

#include "s3_support.hpp"
#include "support/testdb.hpp"

#include <csignal>
#include <cstdio>
#include <future>
#include <set>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace hone_test;
using namespace hone_s3_test;
using namespace std::chrono_literals;

namespace {

using s3_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, s3_destination, fake_clock>;

struct fixture {
  scratch_dir dir{"s3"};
  fs::path db = dir / "hone.db";
  fake_clock clock;
  std::string bucket = the_server().new_bucket();

  s3_options options(const std::string& prefix = "backups/") const { return the_server().options(bucket, prefix); }
  s3_runner runner(s3_options o) {
    sqlcipher_exporter::options eo;
    eo.key = test_key();
    eo.counts = hone_count_queries();
    runner_options ro;
    ro.temp_directory = dir.path();
    return s3_runner(sqlcipher_exporter(db, eo), gzip_compressor{}, s3_destination(std::move(o)), clock, ro);
  }
  /// Adds incompressible rows until the database holds about `bytes`.
  void grow(std::size_t bytes) {
    auto h = open_rw(db, test_key());
    detail::exec(h.get(), "CREATE TABLE IF NOT EXISTS filler(b BLOB)");
    detail::exec(h.get(), "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < " +
                              std::to_string(bytes / 4000) + ") INSERT INTO filler SELECT randomblob(4000) FROM c");
  }
  /// The keys of the incomplete multipart uploads in the bucket.
  std::vector<std::string> incomplete_uploads() const {
    auto c = the_server().client(bucket);
    detail::s3::call l{"ListMultipartUploads", "GET", "", {{"uploads", ""}}, {}, {}};
    auto r = c.send(l);
    BOOST_REQUIRE_MESSAGE(r.ok(), c.failure(l, r).what());
    std::vector<std::string> keys;
    for (auto u : detail::s3::xml_elements(r.body, "Upload")) keys.push_back(detail::s3::xml_text(u, "Key"));
    return keys;
  }
};

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n; i += 8) {
    const auto x = rng();
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, n - i));
  }
  return v;
}

std::vector<std::byte> read_all(reader& r) {
  std::vector<std::byte> out;
  std::vector<std::byte> buf(1 << 16);
  for (std::size_t n; (n = r.read(buf)) > 0;) out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(s3_swift, *boost::unit_test::precondition(server_running))

BOOST_FIXTURE_TEST_CASE(small_backup_round_trip_through_the_runner, fixture) {
  make_hone_db(db, test_key());
  auto r = runner(options());
  auto b = r.create();
  BOOST_TEST(b.name == "backup-2024-01-15-143022.db.gz");
  BOOST_TEST(b.path == the_server().endpoint + "/" + bucket + "/backups/" + b.name);
  auto all = r.list();
  BOOST_REQUIRE_EQUAL(all.size(), 1u);
  BOOST_TEST(all[0].name == b.name);
  BOOST_TEST(all[0].size == b.size);
  BOOST_TEST(all[0].encrypted);
  BOOST_TEST(all[0].problem.empty());
  auto v = r.verify(b.name);
  BOOST_TEST(v.valid, v.message);
  BOOST_TEST(v.counts["transactions"].value_or(-1) == 200);
  // Download and restore over a new path.
  const fs::path target = dir / "restored.db";
  auto res = r.restore(b.name, target, false);
  BOOST_TEST(res.restored);
  BOOST_TEST(dump(target, test_key()) == dump(db, test_key()));
  // The same second again: numbered, not overwritten.
  auto b2 = r.create();
  BOOST_TEST(b2.name == "backup-2024-01-15-143022-1.db.gz");
  BOOST_TEST(r.list().size() == 2u);
}

BOOST_FIXTURE_TEST_CASE(multipart_backup_round_trip_with_at_least_four_parts, fixture) {
  make_hone_db(db, test_key());
  grow(22u << 20);
  auto o = options();
  o.part_size = 5u << 20;
  o.single_put_threshold = 5u << 20;
  auto r = runner(o);
  auto b = r.create("big");
  BOOST_TEST(b.size >= 3 * (5u << 20) + 1, "backup of " << b.size << " bytes");
  // The multipart ETag says how many parts were sent.
  auto c = the_server().client(bucket);
  detail::s3::call h{"HeadObject", "HEAD", "backups/big.db.gz", {}, {}, {}};
  auto head = c.send(h);
  const std::string etag = detail::s3::unquote(head.header("etag"));
  BOOST_TEST_MESSAGE("multipart ETag " << etag);
  BOOST_REQUIRE(etag.find('-') != std::string::npos);
  BOOST_TEST(std::stoi(etag.substr(etag.find('-') + 1)) >= 4);
  BOOST_TEST(incomplete_uploads().empty());
  auto v = r.verify("big");
  BOOST_TEST(v.valid, v.message);
  const fs::path target = dir / "restored.db";
  BOOST_TEST(r.restore("big", target, false).restored);
  BOOST_TEST(dump(target, test_key()) == dump(db, test_key()));
}

BOOST_FIXTURE_TEST_CASE(bytes_read_back_equal_bytes_stored_at_part_boundaries, fixture) {
  auto o = options("");
  o.part_size = 5u << 20;
  o.single_put_threshold = 1u << 20;
  o.download_chunk_size = 3u << 20;
  s3_destination d(o);
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(1u << 20), std::size_t((1u << 20) + 1),
                        std::size_t(5u << 20), std::size_t((10u << 20) + 7)}) {
    const auto data = random_bytes(n, static_cast<unsigned>(n));
    const std::string name = "obj-" + std::to_string(n);
    auto e = d.store(name, [&](writer& w) {
      // Odd write sizes, as a compressor makes them.
      for (std::size_t at = 0; at < data.size(); at += 300001)
        w.write(std::span(data).subspan(at, std::min<std::size_t>(300001, data.size() - at)));
    });
    BOOST_TEST(e.size == n);
    auto in = d.open(name);
    BOOST_TEST((read_all(*in) == data), "object of " << n << " bytes reads back the same");
    // The checked SHA-256 record holds with Swift's ETags (a one-PUT's MD5, a multipart's
    // MD5-of-MD5s-N), in the HEAD and in the listing alike.
    const std::string sha = detail::s3::sha256_hex(data);
    BOOST_TEST(e.sha256 == sha, "object of " << n << " bytes");
    BOOST_TEST(d.stat(name)->sha256 == sha, "object of " << n << " bytes");
    BOOST_TEST(d.content_sha256(name) == sha);
  }
  const auto listed = d.list();
  BOOST_TEST(listed.size() == 6u);
  for (const auto& e : listed) BOOST_TEST(e.sha256.size() == 64u, e.name << " has a SHA-256 in the listing");
  BOOST_TEST(incomplete_uploads().empty());
}

BOOST_FIXTURE_TEST_CASE(an_existing_name_is_never_overwritten, fixture) {
  s3_destination d(options());
  const auto one = random_bytes(1000, 1);
  d.store("x.db.gz", [&](writer& w) { w.write(one); });
  try {
    d.store("x.db.gz", [&](writer& w) { w.write(random_bytes(2000, 2)); });
    BOOST_FAIL("a second store of the same name succeeded");
  } catch (const already_exists_error& e) {
    BOOST_TEST(std::string(e.what()) == "Backup already exists: x.db.gz");
  }
  BOOST_TEST((read_all(*d.open("x.db.gz")) == one));
}

BOOST_FIXTURE_TEST_CASE(an_exception_from_the_producer_leaves_nothing, fixture) {
  auto o = options();
  o.part_size = 5u << 20;
  s3_destination d(o);
  const auto data = random_bytes(12u << 20, 3);
  BOOST_CHECK_THROW(d.store("fails.db.gz",
                            [&](writer& w) {
                              w.write(data);
                              throw io_error("the producer failed");
                            }),
                    io_error);
  BOOST_TEST(d.list().empty());
  BOOST_TEST(!d.stat("fails.db.gz"));
  BOOST_TEST(incomplete_uploads().empty());
}

BOOST_FIXTURE_TEST_CASE(list_pages_through_1200_objects_and_only_under_the_prefix, fixture) {
  auto c = the_server().client(bucket);
  constexpr int count = 1200;
  // Small objects put by 8 threads; a few outside the prefix, one in a "folder" below it.
  auto put = [&](const std::string& k) {
    detail::s3::call p{"PutObject", "PUT", k, {}, {}, {}};
    auto r = c.send(p);
    if (!r.ok()) throw c.failure(p, r);
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<void>> workers;
  std::atomic<int> next{0};
  for (int t = 0; t < 8; ++t)
    workers.push_back(std::async(std::launch::async, [&] {
      for (int i; (i = next++) < count;) {
        char name[64];
        std::snprintf(name, sizeof name, "backups/obj-%05d.db.gz", i);
        put(name);
      }
    }));
  for (auto& w : workers) w.get();
  put("other/obj.db.gz");
  put("backups-not/obj.db.gz");
  put("backups/folder/obj.db.gz");
  put("backups/.hidden");
  BOOST_TEST_MESSAGE(count << " objects put in "
                           << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  s3_destination d(options());
  const auto t1 = std::chrono::steady_clock::now();
  auto all = d.list();
  BOOST_TEST_MESSAGE("listed in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count()
                                  << " s");
  BOOST_REQUIRE_EQUAL(all.size(), std::size_t(count));
  std::set<std::string> names;
  for (const auto& e : all) names.insert(e.name);
  BOOST_TEST(names.size() == std::size_t(count));
  BOOST_TEST(*names.begin() == "obj-00000.db.gz");
  BOOST_TEST(*names.rbegin() == "obj-01199.db.gz");
}

BOOST_FIXTURE_TEST_CASE(prune_and_delete, fixture) {
  make_hone_db(db, test_key());
  auto r = runner(options());
  std::vector<std::string> made;
  for (int i = 0; i < 4; ++i) {
    made.push_back(r.create().name);
    clock.advance(std::chrono::hours(1));
  }
  auto p = r.prune(2);
  BOOST_TEST(p.deleted_count == 2u);
  auto left = r.list();
  BOOST_REQUIRE_EQUAL(left.size(), 2u);
  BOOST_TEST(left[0].name == made[3]);
  BOOST_TEST(left[1].name == made[2]);
  BOOST_TEST(r.remove(made[3]) == made[3]);
  BOOST_TEST(r.list().size() == 1u);
  try {
    r.remove(made[3]);
    BOOST_FAIL("removing a removed backup succeeded");
  } catch (const not_found_error& e) {
    BOOST_TEST(std::string(e.what()) == "Backup not found: " + made[3]);
  }
  BOOST_CHECK_THROW(r.verify(made[0]), not_found_error);
}

BOOST_FIXTURE_TEST_CASE(a_wrong_secret_gives_a_clear_error_without_the_secret, fixture) {
  auto o = options();
  o.secret_access_key = "not-the-secret-4711";
  s3_destination d(o);
  try {
    (void)d.list();
    BOOST_FAIL("list with a wrong secret succeeded");
  } catch (const hone::backup::error& e) {
    const std::string m = e.what();
    BOOST_TEST_MESSAGE(m);
    BOOST_TEST(e.code() == errc::remote);
    BOOST_TEST(m.find("ListObjectsV2") != std::string::npos);
    BOOST_TEST(m.find(bucket) != std::string::npos);
    BOOST_TEST(m.find("HTTP 403") != std::string::npos);
    BOOST_TEST(m.find("SignatureDoesNotMatch") != std::string::npos);
    BOOST_TEST(m.find("secret access key") != std::string::npos);
    BOOST_TEST(m.find("not-the-secret-4711") == std::string::npos);
  }
  // An unknown access key id.
  o.access_key_id = "nobody:none";
  s3_destination d2(o);
  try {
    (void)d2.stat("x.db.gz");
    BOOST_FAIL("stat with an unknown access key succeeded");
  } catch (const hone::backup::error& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(std::string(e.what()).find("HTTP 403") != std::string::npos);
    BOOST_TEST(std::string(e.what()).find("not-the-secret-4711") == std::string::npos);
  }
}

BOOST_FIXTURE_TEST_CASE(a_process_killed_during_an_upload_leaves_nothing_listed_and_the_next_run_cleans_up, fixture) {
  const char* helper = std::getenv("HONE_TEST_S3_UPLOAD_HELPER");
  BOOST_REQUIRE_MESSAGE(helper, "HONE_TEST_S3_UPLOAD_HELPER is not set");
  int out[2];
  BOOST_REQUIRE(::pipe(out) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    const auto& s = the_server();
    ::execl(helper, helper, s.endpoint.c_str(), bucket.c_str(), "backups/", "killed.db.gz", nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  // The helper says "uploading" once its first parts went out, then keeps producing.
  std::string line;
  char ch;
  while (::read(out[0], &ch, 1) == 1 && ch != '\n') line += ch;
  BOOST_REQUIRE_EQUAL(line, "uploading");
  BOOST_REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out[0]);
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST(incomplete_uploads() == std::vector<std::string>{"backups/killed.db.gz"});
  s3_destination d(options());
  BOOST_TEST(d.list().empty());
  BOOST_TEST(!d.stat("killed.db.gz"));
  // The next backup aborts what the killed process left.
  make_hone_db(db, test_key());
  auto r = runner(options());
  r.create();
  BOOST_TEST(incomplete_uploads().empty());
  BOOST_TEST(r.list().size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// The program's monitoring pieces that need no server: HONE_BACKUP_ON_FAILURE's word splitting
// and secret filter (examples/hone/monitoring/failure_hook.cpp), and the metrics registry fed by a real
// runner's observer events (examples/hone/monitoring/metrics.cpp).
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include "core/app.hpp"
#include "monitoring/failure_hook.hpp"
#include "monitoring/metrics.hpp"

#include <cstdlib>
#include <sstream>

using namespace hone_test;
using namespace std::chrono_literals;
using hone_app::is_secret_variable;
using hone_app::metrics_registry;
using hone_app::split_command;

namespace {

using mem_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, memory_destination, fake_clock>;

std::vector<std::string> words(std::string_view v) { return split_command(v, "HONE_BACKUP_ON_FAILURE"); }

/// The value of the sample line that starts with `series` followed by a space; -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  return -1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(monitoring)

BOOST_AUTO_TEST_CASE(split_command_splits_on_spaces_and_honours_quotes) {
  using v = std::vector<std::string>;
  BOOST_TEST(words("notify") == v{"notify"});
  BOOST_TEST(words("  /usr/bin/notify   -x\t--y  ") == (v{"/usr/bin/notify", "-x", "--y"}));
  BOOST_TEST(words("notify 'two words' \"three more words\"") == (v{"notify", "two words", "three more words"}));
  BOOST_TEST(words("notify 'it''s' a\\ b") == (v{"notify", "its", "a b"}));
  BOOST_TEST(words(R"(notify "say \"hi\" \\ \n")") == (v{"notify", R"(say "hi" \ \n)"}));
  BOOST_TEST(words("notify '' x") == (v{"notify", "", "x"}));
  BOOST_TEST(words("notify $HOME;rm *") == (v{"notify", "$HOME;rm", "*"}), "no shell: nothing is expanded");
}

BOOST_AUTO_TEST_CASE(split_command_refuses_malformed_values) {
  const std::pair<const char*, const char*> bad[] = {{"", "no command is given"},
                                                     {"   ", "no command is given"},
                                                     {"notify 'open", "unterminated ' quote"},
                                                     {"notify \"open", "unterminated \" quote"},
                                                     {"notify \"a\\\"", "unterminated \" quote"},
                                                     {"notify \\", "ends in a backslash"},
                                                     {"'' notify", "no command is given"}};
  for (auto [value, why] : bad) {
    BOOST_TEST_CONTEXT(value) {
      try {
        words(value);
        BOOST_ERROR("accepted");
      } catch (const hone_app::usage_error& e) {
        const std::string m = e.what();
        BOOST_TEST(m.find("HONE_BACKUP_ON_FAILURE is not valid: ") == 0u, m);
        BOOST_TEST(m.find(why) != std::string::npos, m);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(secrets_are_recognised_by_name) {
  for (const char* n :
       {"HONE_DB_KEY", "HONE_API_TOKEN", "HONE_R2_SECRET_ACCESS_KEY", "HONE_R2_ACCESS_KEY_ID", "HONE_SMTP_PASSWORD",
        "HONE_KEY", "HONE_DB_PASSPHRASE", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
    BOOST_TEST(is_secret_variable(n), n);
  for (const char* n : {"PATH", "HOME", "HONE_BACKUP_DIR", "HONE_BACKUP_KEEP_DAILY", "HONE_BACKUP_SCHEDULE",
                        "HONE_DB_PATH", "HONE_KEYBOARD", "HONE_MONKEY", "LANG", "HONE_R2_BUCKET"})
    BOOST_TEST(!is_secret_variable(n), n);
}

BOOST_AUTO_TEST_CASE(the_registry_counts_and_times_a_runners_operations) {
  scratch_dir dir{"monitoring"};
  const fs::path db = dir / "hone.db";
  make_hone_db(db, test_key(), {.accounts = 1, .transactions = 10, .subscriptions = 1});
  metrics_registry reg;
  int passed_on = 0;
  sqlcipher_exporter::options o;
  o.key = test_key();
  runner_options ro;
  ro.temp_directory = dir.path();
  ro.observer = reg.observer([&](const event&) { ++passed_on; });
  fake_clock clock;
  memory_destination dest;
  mem_runner r(sqlcipher_exporter(db, o), gzip_compressor{}, dest, clock, ro);

  const auto before = std::chrono::system_clock::now();
  auto b = r.create();
  BOOST_TEST(passed_on > 0, "every event reaches the next observer");
  BOOST_CHECK_THROW(r.create(b.name), error);  // exists: a refused create, not a failed one
  BOOST_TEST(r.verify(b.name).valid);
  r.prune(keep_calendar{.last = 1});

  const std::string text = reg.render({{.location = "local",
                                        .listed = true,
                                        .count = 1,
                                        .bytes = b.size,
                                        .newest_size = b.size,
                                        .newest_time = std::nullopt}});
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="create",location="local",result="success"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="create",location="local",result="failure"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="create",location="local",result="refused"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="verify",location="local",result="success"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="prune",location="local",result="success"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="restore",location="local",result="success"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_count{operation="create",location="local"})") == 1,
             "a refusal is not timed");
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_bucket{operation="create",location="local",le="+Inf"})") ==
             1);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_sum{operation="create",location="local"})") > 0);
  // Cumulative buckets: never decreasing, ending at the count.
  double prev = 0;
  for (double le : metrics_registry::buckets) {
    const double c = sample(text, "hone_backup_duration_seconds_bucket{operation=\"create\",location=\"local\",le=\"" +
                                      hone_app::prometheus_number(le) + "\"}");
    BOOST_TEST(c >= prev);
    prev = c;
  }
  BOOST_TEST(prev <= 1);
  const double last =
      sample(text, R"(hone_backup_last_success_timestamp_seconds{operation="create",location="local"})");
  BOOST_TEST(last >= std::chrono::duration<double>(before.time_since_epoch()).count() - 1);
  BOOST_TEST(sample(text, R"(hone_backup_last_success_timestamp_seconds{operation="restore",location="local"})") == -1,
             "no success, no sample");
  BOOST_TEST(sample(text, R"(hone_backup_stored_bytes{location="local"})") == static_cast<double>(b.size));
  BOOST_TEST(sample(text, "hone_backup_next_run_timestamp_seconds") == -1);
  reg.set_next_run(std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)));
  BOOST_TEST(sample(reg.render({}), "hone_backup_next_run_timestamp_seconds") == 1700000000);
}

BOOST_AUTO_TEST_CASE(a_recorded_duration_lands_in_its_bucket) {
  metrics_registry reg;
  const auto t = std::chrono::system_clock::now();
  reg.record(event::operation::prune, true, 0.3, t);
  reg.record(event::operation::prune, false, 7200, t);
  const std::string text = reg.render({});
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_bucket{operation="prune",location="local",le="0.25"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_bucket{operation="prune",location="local",le="0.5"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_bucket{operation="prune",location="local",le="3600"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_bucket{operation="prune",location="local",le="+Inf"})") == 2);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_sum{operation="prune",location="local"})") == 7200.3);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="prune",location="local",result="failure"})") == 1);
  BOOST_TEST(hone_app::prometheus_label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

BOOST_AUTO_TEST_CASE(each_place_counts_its_own_operations) {
  // With an offsite copy a prune runs in the folder and in the bucket: one run in each place,
  // never two runs of one place.
  metrics_registry reg;
  auto local = reg.observer({}, "local");
  auto bucket = reg.observer({}, "r2");
  auto run = [](const observer_fn& o, event::operation op, bool ok) {
    event e;
    e.op = op;
    e.what = event::kind::started;
    o(e);
    e.what = ok ? event::kind::finished : event::kind::failed;
    o(e);
  };
  run(local, event::operation::prune, true);
  run(bucket, event::operation::prune, false);
  run(bucket, event::operation::verify, true);
  const std::string text = reg.render({});
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="prune",location="local",result="success"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="prune",location="local",result="failure"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="prune",location="r2",result="success"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="prune",location="r2",result="failure"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="verify",location="r2",result="success"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_runs_total{operation="verify",location="local",result="success"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_duration_seconds_count{operation="prune",location="r2"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_last_success_timestamp_seconds{operation="verify",location="r2"})") > 0);
  BOOST_TEST(sample(text, R"(hone_backup_last_success_timestamp_seconds{operation="prune",location="r2"})") == -1);
  // Without an offsite copy there is no r2 series at all.
  BOOST_TEST(metrics_registry().render({}).find("r2") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(uploads_are_counted_once_an_offsite_copy_is_configured) {
  metrics_registry reg;
  BOOST_TEST(reg.render({}).find("upload") == std::string::npos, "no offsite copy, no upload families");
  reg.count_uploads();
  std::string text = reg.render({});
  BOOST_TEST(sample(text, R"(hone_backup_uploads_total{result="success"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_uploads_total{result="failure"})") == 0);
  BOOST_TEST(sample(text, R"(hone_backup_upload_duration_seconds_bucket{le="+Inf"})") == 0);
  BOOST_TEST(sample(text, "hone_backup_last_upload_success_timestamp_seconds") == -1);
  auto uploaded = reg.upload_counter();
  uploaded(true, 0.2);
  uploaded(false, 40);
  uploaded(true, 3);
  text = reg.render({});
  BOOST_TEST(sample(text, R"(hone_backup_uploads_total{result="success"})") == 2);
  BOOST_TEST(sample(text, R"(hone_backup_uploads_total{result="failure"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_upload_duration_seconds_bucket{le="0.25"})") == 1);
  BOOST_TEST(sample(text, R"(hone_backup_upload_duration_seconds_bucket{le="5"})") == 2);
  BOOST_TEST(sample(text, R"(hone_backup_upload_duration_seconds_bucket{le="+Inf"})") == 3);
  BOOST_TEST(sample(text, "hone_backup_upload_duration_seconds_sum") == 43.2);
  BOOST_TEST(sample(text, "hone_backup_upload_duration_seconds_count") == 3);
  BOOST_TEST(sample(text, "hone_backup_last_upload_success_timestamp_seconds") > 0);
}

BOOST_AUTO_TEST_SUITE_END()

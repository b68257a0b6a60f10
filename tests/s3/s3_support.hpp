// Helpers of the S3 tests: the server the integration tests use (HONE_TEST_S3_* variables, set
// by scripts/test.sh from scripts/s3-server.sh), buckets of their own, and a skip with the
// reason printed when no server is there.
#pragma once

#include <hone/backup/destinations/s3_destination.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include <unistd.h>

namespace hone_s3_test {

namespace hb = hone::backup;

inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

struct server {
  std::string endpoint = env_or("HONE_TEST_S3_ENDPOINT", "");
  std::string access_key_id = env_or("HONE_TEST_S3_ACCESS_KEY_ID", "test:tester");
  std::string secret = env_or("HONE_TEST_S3_SECRET", "testing");
  std::string region = env_or("HONE_TEST_S3_REGION", "auto");

  hb::s3_options options(const std::string& bucket, const std::string& prefix = "") const {
    hb::s3_options o;
    o.endpoint = endpoint;
    o.bucket = bucket;
    o.region = region;
    o.access_key_id = access_key_id;
    o.secret_access_key = secret;
    o.prefix = prefix;
    o.max_attempts = 3;
    o.retry_base_delay = std::chrono::milliseconds(100);
    return o;
  }
  hb::detail::s3::client client(const std::string& bucket) const {
    hb::detail::s3::client_settings s;
    s.endpoint = endpoint;
    s.bucket = bucket;
    s.region = region;
    s.access_key_id = access_key_id;
    s.secret_access_key = secret;
    s.max_attempts = 3;
    return hb::detail::s3::client(s);
  }
  /// A new bucket for one test: hone-test-PID-N-RANDOM.
  std::string new_bucket() const {
    static std::atomic<int> n{0};
    std::string name = "hone-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
                       std::to_string(std::random_device{}() % 100000);
    auto c = client(name);
    hb::detail::s3::call put{"CreateBucket", "PUT", "", {}, {}, {}};
    auto r = c.send(put);
    if (!r.ok()) throw c.failure(put, r);
    return name;
  }
};

inline const server& the_server() {
  static const server s;
  return s;
}

/// Why the integration tests cannot run, or "" when the server answers.
inline std::string unavailable_reason() {
  static const std::string reason = [] {
    const auto& s = the_server();
    if (s.endpoint.empty())
      return std::string("HONE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts scripts/s3-server.sh and sets it)");
    try {
      (void)s.new_bucket();
      return std::string();
    } catch (const std::exception& e) {
      return std::string("the S3 server at ") + s.endpoint + " does not work: " + e.what();
    }
  }();
  return reason;
}

/// Boost.Test precondition: skips the test, printing why, when there is no server.
inline boost::test_tools::assertion_result server_running(boost::unit_test::test_unit_id) {
  const std::string why = unavailable_reason();
  if (why.empty()) return true;
  std::cout << "skipped: " << why << std::endl;
  boost::test_tools::assertion_result r(false);
  r.message() << why;
  return r;
}

}  // namespace hone_s3_test

#include "config/offsite_settings.hpp"

#include "config/config.hpp"
#include "config/environment.hpp"
#include "config/hardening.hpp"
#include "core/app.hpp"

#include <hone/backup/destinations/s3_destination.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <string_view>
#include <vector>

namespace hone_app {

namespace {

std::optional<bucket_settings> read_offsite_settings() {
  static constexpr const char* required[] = {"HONE_R2_BUCKET", "HONE_R2_ACCESS_KEY_ID", "HONE_R2_SECRET_ACCESS_KEY",
                                             "HONE_R2_ENDPOINT"};
  std::vector<std::string> missing;
  std::optional<std::string> secret_key = secret("HONE_R2_SECRET_ACCESS_KEY");  // or HONE_R2_SECRET_ACCESS_KEY_FILE
  for (const char* name : required)
    if (name == std::string_view("HONE_R2_SECRET_ACCESS_KEY") ? !secret_key : env(name).empty())
      missing.emplace_back(name);
  if (missing.size() == std::size(required)) return std::nullopt;
  bucket_settings s;
  s.bucket = env("HONE_R2_BUCKET");
  s.access_key_id = env("HONE_R2_ACCESS_KEY_ID");
  s.secret_access_key = secret_key.value_or("");
  s.endpoint = env("HONE_R2_ENDPOINT");
  s.prefix = env("HONE_R2_PREFIX");
  if (auto r = env("HONE_R2_REGION"); !r.empty()) s.region = r;
  // Nothing else needs the secret in the environment, where /proc/PID/environ, a core dump or
  // a child process would see it.
  drop_from_environment("HONE_R2_SECRET_ACCESS_KEY");
  if (!missing.empty()) {
    std::string names;
    for (std::size_t i = 0; i < missing.size(); ++i)
      names += (i == 0 ? "" : i + 1 == missing.size() ? " and " : ", ") + missing[i];
    throw usage_error("the offsite copy is partly configured: " + names + (missing.size() == 1 ? " is" : " are") +
                      " not set (set all four of HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID, HONE_R2_SECRET_ACCESS_KEY "
                      "and HONE_R2_ENDPOINT to upload every backup to the bucket, or none of them)");
  }
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  const bool http = s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://");
  if (!http || s.endpoint.find_first_of(" @?#", 0) != std::string::npos ||
      s.endpoint.size() <= std::string_view(s.endpoint.starts_with("https://") ? "https://" : "http://").size())
    throw usage_error("HONE_R2_ENDPOINT=" + quoted_env_value(s.endpoint) +
                      " is not valid: give the S3 endpoint as an http(s) URL without a path, e.g. "
                      "https://ACCOUNT_ID.r2.cloudflarestorage.com or https://s3.eu-west-1.amazonaws.com");
  if (s.bucket.find('/') != std::string::npos)
    throw usage_error("HONE_R2_BUCKET=" + quoted_env_value(s.bucket) +
                      " is not valid: give the bucket's name only (the key prefix goes in HONE_R2_PREFIX)");
  while (!s.prefix.empty() && s.prefix.front() == '/') s.prefix.erase(0, 1);
  if (const std::string t = env("HONE_R2_TIMEOUT"); !t.empty()) {
    long long seconds = 0;
    const bool digits = std::all_of(t.begin(), t.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!digits || std::from_chars(t.data(), t.data() + t.size(), seconds).ec != std::errc{} || seconds < 1 ||
        seconds > 86400)
      throw usage_error("HONE_R2_TIMEOUT=" + quoted_env_value(t) +
                        " is not valid: give the longest time one request to the bucket may take, in whole seconds "
                        "from 1 to 86400 (default 120)");
    s.request_timeout = std::chrono::seconds(seconds);
  }
  return s;
}

}  // namespace

std::string bucket_settings::describe() const {
  return "bucket " + bucket + " at " + endpoint + (prefix.empty() ? "" : " (prefix " + prefix + ")");
}

const std::optional<bucket_settings>& offsite_settings() {
  static std::once_flag once;
  static std::optional<bucket_settings> settings;
  static std::string error;
  std::call_once(once, [] {
    try {
      settings = read_offsite_settings();
    } catch (const usage_error& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw usage_error(error);
  return settings;
}

hone::backup::s3_options bucket_settings::s3_options() const {
  hone::backup::s3_options o;
  o.endpoint = endpoint;
  o.bucket = bucket;
  o.region = region;
  o.access_key_id = access_key_id;
  o.secret_access_key = secret_access_key;
  o.prefix = prefix;
  o.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(request_timeout);  // HONE_R2_TIMEOUT
  o.max_attempts = 4;  // about 2 s of retries when the endpoint does not answer at all
  // A million keys: far more than max_list_bytes lets a listing hold, so it only ends an endless
  // listing sooner (every look-up of a backup's records is a listing of its own).
  o.max_list_pages = 1000;
  return o;
}

}  // namespace hone_app

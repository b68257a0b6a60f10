// The offsite bucket's settings, read from HONE_R2_* (README "Offsite copy"): their one home,
// from the environment to the library's s3_options.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace hone::backup {
struct s3_options;  // <hone/backup/destinations/s3_destination.hpp>
}  // namespace hone::backup

namespace hone_app {

/// The bucket of the offsite copy, from HONE_R2_*.
struct bucket_settings {
  std::string endpoint;           ///< HONE_R2_ENDPOINT: https://<account_id>.r2.cloudflarestorage.com, ...
  std::string bucket;             ///< HONE_R2_BUCKET
  std::string region = "auto";    ///< HONE_R2_REGION (R2: auto; AWS: the bucket's region)
  std::string access_key_id;      ///< HONE_R2_ACCESS_KEY_ID
  std::string secret_access_key;  ///< HONE_R2_SECRET_ACCESS_KEY: signs requests, never printed
  std::string prefix;             ///< HONE_R2_PREFIX: keys are PREFIX/NAME (empty: NAME)
  /// HONE_R2_TIMEOUT: the whole deadline of one request to the bucket (default 120 s).
  std::chrono::seconds request_timeout{120};

  /// "bucket B at ENDPOINT (prefix P/)" for messages; never the keys.
  std::string describe() const;
  /// The library's S3 options of these settings: the fields above, and how the program talks
  /// to a bucket (retries, the longest listing). The lock file, the log and the interruption of
  /// one operation are added by core/runner_factory.cpp.
  hone::backup::s3_options s3_options() const;
};

/// Reads HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID, HONE_R2_SECRET_ACCESS_KEY, HONE_R2_ENDPOINT
/// (and HONE_R2_PREFIX, HONE_R2_REGION) the first time it is called, and then removes the
/// secret from the environment; later calls return the same result. Nullopt when none of the
/// four is set. Throws usage_error naming the missing variables when only some are set, when
/// the endpoint is not an http(s) URL, or when HONE_R2_TIMEOUT is not a whole number of seconds
/// from 1 to 86400.
const std::optional<bucket_settings>& offsite_settings();

}  // namespace hone_app

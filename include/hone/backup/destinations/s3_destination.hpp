// s3_destination: backups as objects of an S3-compatible bucket (Cloudflare R2, AWS S3, MinIO,
// OpenStack Swift's s3api, ...). Not part of <hone/backup.hpp>: it needs libcurl, OpenSSL and
// expat, which the CMake target hone::backup_s3 brings. See docs/Destination.md.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/detail/posix.hpp>
#include <hone/backup/detail/s3/client.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace hone::backup {

/// Where and how s3_destination stores backups.
struct s3_options {
  /// scheme://host[:port], e.g. https://ACCOUNT_ID.r2.cloudflarestorage.com,
  /// https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:8080. Requests are path-style
  /// (ENDPOINT/BUCKET/KEY).
  std::string endpoint;
  std::string bucket;
  std::string region = "auto";  ///< R2: "auto"; AWS: the bucket's region
  std::string access_key_id;
  std::string secret_access_key;  ///< used to sign requests only; never printed
  /// Keys are PREFIX + backup name; a '/' is added when missing ("hone" -> "hone/"). Objects
  /// outside the prefix, or in "folders" below it, are never listed or touched.
  std::string prefix;

  /// Backups up to this size are one PutObject; larger ones a multipart upload. At most
  /// part_size (a larger value counts as part_size).
  std::size_t single_put_threshold = 8u << 20;
  /// Every part but the last has exactly this size (R2 requires equal parts; S3 requires at
  /// least 5 MiB). A backup may have 10,000 parts: 8 MiB parts allow 80 GiB.
  std::size_t part_size = 8u << 20;
  /// Parts uploaded at the same time; memory is about (parallel_parts + 1) * part_size.
  unsigned parallel_parts = 2;
  /// open() reads the object in ranged GETs of this size, the next range downloading while
  /// the current one is read (a reader holds about two).
  std::size_t download_chunk_size = 8u << 20;

  std::chrono::milliseconds connect_timeout{10000};
  /// A request is abandoned (and retried) when less than 1 byte/s moved for this long.
  std::chrono::seconds idle_timeout{60};
  /// The whole of one request (connection, upload, answer) may last this long, then it is
  /// abandoned (and retried): a server that drips its answer cannot hold an operation forever.
  /// 0: no limit (not advised). Allow for a part (part_size) at the slowest expected rate.
  std::chrono::milliseconds request_timeout{600000};
  int max_attempts = 6;  ///< tries of one request, the first included
  std::chrono::milliseconds retry_base_delay{250};
  std::chrono::milliseconds retry_max_delay{20000};

  /// Send If-None-Match: * so that the server itself refuses to overwrite (AWS S3, R2). A
  /// server that answers NotImplemented (Swift) is remembered and then relies on the HEAD
  /// that store() always makes first, under the lock.
  bool conditional_writes = true;
  /// Aborts, at each store(), the multipart uploads under the prefix that a killed process
  /// left (they cost storage until aborted). Only safe when one writer uses the prefix at a time.
  bool abort_stale_uploads = true;
  std::string ca_file;     ///< extra CA bundle for https (empty: the system's)
  bool verify_tls = true;  ///< false only for test servers with self-signed certificates
  /// lock() also takes an exclusive flock on this file (empty: a lock within the process
  /// only), so that processes on this machine sharing the bucket are serialized too.
  std::filesystem::path lock_file;
  /// A listing (ListObjectsV2, ListMultipartUploads) of more pages than this is refused: a
  /// server whose listing never ends cannot hold an operation forever. 10,000 pages hold 10
  /// million keys.
  std::size_t max_list_pages = 10000;
  /// A listing whose backups and markers under the prefix add up to more than this (their keys'
  /// bytes, plus 256 for each) is refused, so that a listing's memory stays bounded (about 3
  /// times this at most). The default allows some 50,000 backups.
  std::uint64_t max_list_bytes = 16u << 20;
  /// Told of retries and of aborted stale uploads (may be empty).
  std::function<void(std::string_view)> log;
  /// Polled during every request and every wait between retries (at least once a second): a
  /// non-empty answer abandons the request, and the operation fails with that reason (e.g. the
  /// program is stopping, or a deadline of the caller's passed). May be called from the
  /// destination's own threads (parts in flight, the read-ahead); may be empty.
  std::function<std::string()> interrupt;
};

/// Hex SHA-256 of everything `in` gives until its end (how the program compares a local backup
/// with the bucket's stored_entry::sha256).
inline std::string sha256_of(reader& in) {
  detail::s3::sha256_stream h;
  std::vector<std::byte> buf(256 * 1024);
  while (const std::size_t n = in.read(buf)) h.update(std::span<const std::byte>(buf.data(), n));
  return detail::s3::to_hex(h.finish());
}

namespace detail::s3 {
inline constexpr std::size_t min_part_size = 5u << 20;
inline constexpr std::uint64_t max_part_size = 5ull << 30;    ///< S3's largest part
inline constexpr std::uint64_t max_object_size = 5ull << 40;  ///< S3's largest object (5 TiB)
inline constexpr std::size_t max_parts = 10000;
inline constexpr std::size_t max_keys_per_page = 1000;  ///< S3's page of ListObjectsV2 and the uploads
inline constexpr std::size_t max_key_bytes = 1024;      ///< S3's longest key
/// The longest listing page taken (a page of 1,000 keys of 1,024 bytes is about 1.5 MiB).
inline constexpr std::size_t max_listing_bytes = 16u << 20;
/// The first range a reader asks for: a header peek costs one small GET.
inline constexpr std::size_t first_range_bytes = 64u << 10;

inline std::string unquote(std::string_view etag) {
  while (!etag.empty() && (etag.front() == '"' || etag.front() == ' ')) etag.remove_prefix(1);
  while (!etag.empty() && (etag.back() == '"' || etag.back() == ' ')) etag.remove_suffix(1);
  return lower(etag);
}

/// A number a server sent (a Size, a Content-Length, a part size): decimal digits only, at most
/// `max`. Anything else is a remote_error that names the field, the value and the request.
inline std::uint64_t parse_number(std::string_view text, std::string_view field, std::uint64_t max, const client& cl,
                                  const call& c) {
  std::string_view t = text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size() || v > max)
    throw remote_error(cl.where(c) + " failed: the endpoint does not answer as S3 does: its " + std::string(field) +
                       " \"" + client::sanitized(text, 40) + "\" is not a number from 0 to " + std::to_string(max));
  return v;
}

/// One object of a listing page.
struct listed_object {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  ///< unquoted, lower case
  std::chrono::system_clock::time_point modified{};
};
/// A ListObjectsV2 page, checked: a ListBucketResult document, at most 1,000 keys of at most
/// 1,024 bytes, sizes that are numbers up to 5 TiB, a continuation token when truncated.
struct listing_page {
  std::vector<listed_object> objects;
  bool truncated = false;
  std::string next_token;
};
inline listing_page parse_listing(const client& cl, const call& c, const reply& r) {
  cl.expect_document(c, r, "ListBucketResult");
  listing_page page;
  const auto items = xml_elements(r.body, "Contents");
  if (items.size() > max_keys_per_page)
    throw cl.not_s3(c, r, std::to_string(items.size()) + " keys in one page where at most 1000 were asked for");
  page.objects.reserve(items.size());
  for (auto item : items) {
    listed_object o;
    o.key = xml_text(item, "Key");
    if (o.key.empty() || o.key.size() > max_key_bytes) throw cl.not_s3(c, r, "a listed key that is empty or too long");
    o.size = parse_number(xml_text(item, "Size"), "Size of " + client::sanitized(o.key, 80), max_object_size, cl, c);
    o.etag = unquote(xml_text(item, "ETag"));
    o.modified = parse_time(xml_text(item, "LastModified"));
    page.objects.push_back(std::move(o));
  }
  const std::string truncated = xml_text(r.body, "IsTruncated");
  if (truncated == "true") {
    page.truncated = true;
    page.next_token = xml_text(r.body, "NextContinuationToken");
    if (page.next_token.empty()) throw cl.not_s3(c, r, "a truncated listing without a NextContinuationToken");
    if (page.next_token.size() > 16384) throw cl.not_s3(c, r, "a continuation token of more than 16 KiB");
  } else if (truncated != "false" && !truncated.empty()) {
    throw cl.not_s3(c, r, "IsTruncated is neither true nor false");
  }
  return page;
}

/// One page of ListMultipartUploads, checked like a listing.
struct uploads_page {
  std::vector<std::pair<std::string, std::string>> uploads;  ///< key, upload id
  bool truncated = false;
  std::string next_key_marker, next_upload_id_marker;
};
inline uploads_page parse_uploads(const client& cl, const call& c, const reply& r) {
  cl.expect_document(c, r, "ListMultipartUploadsResult");
  uploads_page page;
  const auto items = xml_elements(r.body, "Upload");
  if (items.size() > max_keys_per_page)
    throw cl.not_s3(c, r, std::to_string(items.size()) + " uploads in one page where at most 1000 were asked for");
  for (auto u : items) {
    std::string k = xml_text(u, "Key"), id = xml_text(u, "UploadId");
    if (k.empty() || k.size() > max_key_bytes || id.empty() || id.size() > 4096)
      throw cl.not_s3(c, r, "an upload without a key or an upload id");
    page.uploads.emplace_back(std::move(k), std::move(id));
  }
  page.truncated = xml_text(r.body, "IsTruncated") == "true";
  page.next_key_marker = xml_text(r.body, "NextKeyMarker");
  page.next_upload_id_marker = xml_text(r.body, "NextUploadIdMarker");
  if (page.truncated && page.next_key_marker.empty() && page.next_upload_id_marker.empty())
    throw cl.not_s3(c, r, "a truncated list of uploads without a next marker");
  if (page.next_key_marker.size() + page.next_upload_id_marker.size() > 16384)
    throw cl.not_s3(c, r, "markers of more than 16 KiB");
  return page;
}

/// What a HEAD (or GET) answer says of an object, checked: an ETag, a Content-Length up to
/// 5 TiB, and for a multipart ETag the part size (x-amz-meta-hone-part-size) from 5 MiB to 5 GiB.
struct object_head {
  std::uint64_t size = 0;
  std::string etag;             ///< as sent (for If-Match)
  std::string checksum;         ///< the ETag unquoted when it is an MD5 (32 hex) or a multipart one
  std::uint64_t part_size = 0;  ///< set with a multipart checksum
  std::chrono::system_clock::time_point modified{};
};
inline object_head parse_head(const client& cl, const call& c, const reply& r) {
  object_head h;
  h.etag = r.header("etag");
  if (h.etag.empty() || h.etag.size() > 1024) throw cl.not_s3(c, r, "an object's answer without an ETag");
  const std::string len = r.header("content-length");
  if (len.empty()) throw cl.not_s3(c, r, "an object's answer without a Content-Length");
  h.size = parse_number(len, "Content-Length", max_object_size, cl, c);
  h.modified = parse_time(r.header("last-modified"));
  const std::string e = unquote(h.etag);
  const auto hex = [](std::string_view v) {
    return v.size() == 32 && v.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  };
  const std::string part = r.header("x-amz-meta-hone-part-size");
  if (hex(e)) {
    h.checksum = e;
  } else if (const auto dash = e.find('-'); dash == 32 && hex(e.substr(0, 32)) && !part.empty()) {
    h.part_size = parse_number(part, "x-amz-meta-hone-part-size", max_part_size, cl, c);
    if (h.part_size < min_part_size)
      throw remote_error(cl.where(c) + " failed: the object's x-amz-meta-hone-part-size " +
                         std::to_string(h.part_size) + " is below S3's smallest part (5 MiB)");
    h.checksum = e;
  }
  return h;
}

/// The lock of one bucket and prefix inside this process, shared by every s3_destination
/// that names them.
inline std::shared_ptr<std::mutex> process_lock(const std::string& id) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<std::mutex>> registry;
  std::lock_guard lk(registry_mutex);
  auto& w = registry[id];
  auto m = w.lock();
  if (!m) {
    m = std::make_shared<std::mutex>();
    w = m;
  }
  return m;
}
}  // namespace detail::s3

/// Backups as objects of an S3-compatible bucket, under an optional key prefix.
///
/// store() sends one PutObject (with Content-MD5 and the payload's SHA-256 signed) below
/// single_put_threshold, else a multipart upload of equal parts with bounded memory; the ETag
/// of every part and of the whole is checked against what was sent, and any failure (an
/// exception from the producer included) aborts the upload, so that a listed object is
/// complete. An existing name is never overwritten (If-None-Match: *, and a HEAD first).
/// list() is ListObjectsV2 (1,000 keys per request); stat() a HEAD; open() ranged GETs of
/// download_chunk_size, one ahead of the reader, the object's MD5 checked at its end when its
/// ETag is one; remove() a DELETE confirmed by a HEAD. Thread-safe; copies share their
/// connections.
class s3_destination {
 public:
  using options = s3_options;

  explicit s3_destination(options o) : state_(std::make_shared<state>(std::move(o))) {}

  const options& settings() const noexcept { return state_->opt; }
  /// The key of a backup: prefix + name.
  std::string key(const std::string& name) const { return state_->opt.prefix + name; }

  stored_entry store(const std::string& name, const std::function<void(writer&)>& produce) {
    auto& st = *state_;
    const std::string k = key(name);
    if (st.opt.abort_stale_uploads) abort_stale_uploads();
    if (head(k)) throw already_exists_error("Backup already exists: " + name);
    upload u(st, k, name);
    try {
      produce(u);
      u.finish();
    } catch (...) {
      u.abort();
      throw;
    }
    // The bucket must hold what was sent: its size, and the ETag of the bytes sent (the MD5, or
    // the MD5 of the parts' MD5s), as a HEAD now reports them, not only as the upload answered.
    const std::string expected = u.expected_etag();
    std::optional<detail::s3::object_head> h;
    std::string wrong;
    try {
      h = head(k);
      if (!h)
        wrong = "is missing right after it was uploaded";
      else if (h->size != u.bytes())
        wrong =
            "holds " + std::to_string(h->size) + " bytes right after " + std::to_string(u.bytes()) + " were uploaded";
      else if (detail::s3::unquote(h->etag) != expected)
        wrong = "has the ETag " + detail::s3::client::sanitized(detail::s3::unquote(h->etag), 80) +
                " right after an upload whose bytes give " + expected;
    } catch (const remote_error& e) {
      wrong = std::string("could not be checked after the upload: ") + e.what();
    }
    if (!wrong.empty()) throw remote_error(discard(k, "S3 object " + st.client.describe(k) + " " + wrong));
    stored_entry e = entry(name, *h);
    const std::string sha = u.sha256();
    if (record_sha256(name, h->size, detail::s3::unquote(h->etag), sha, {})) e.sha256 = sha;
    return e;
  }

  std::vector<stored_entry> list() const {
    auto& st = *state_;
    std::vector<stored_entry> out;
    std::vector<std::string> etags;  // of out's entries
    std::map<std::string, std::vector<marker>> markers;
    std::set<std::string> tokens;
    std::uint64_t kept = 0;
    std::string token;
    for (std::size_t pages = 1;; ++pages) {
      detail::s3::call c = list_call(st.opt.prefix, token);
      auto r = st.client.send(c);
      if (!r.ok()) throw st.client.failure(c, r);
      auto page = detail::s3::parse_listing(st.client, c, r);
      for (auto& o : page.objects) {
        if (o.key.compare(0, st.opt.prefix.size(), st.opt.prefix) != 0) continue;
        std::string name = o.key.substr(st.opt.prefix.size());
        if (auto m = parse_marker(name)) {
          kept += name.size() + 256;
          markers[m->name].push_back(std::move(*m));
          continue;
        }
        if (!listed_name(name)) continue;
        kept += o.key.size() + 256;
        stored_entry e;
        e.size = o.size;
        e.modified = o.modified;
        e.location = st.client.url(o.key);
        e.name = std::move(name);
        out.push_back(std::move(e));
        etags.push_back(std::move(o.etag));
      }
      if (kept > st.opt.max_list_bytes)
        throw remote_error(st.client.where(c) + " failed: the listing under the prefix \"" + st.opt.prefix +
                           "\" holds more than " + std::to_string(st.opt.max_list_bytes) +
                           " bytes of keys (s3_options::max_list_bytes)");
      if (!page.truncated) break;
      token = std::move(page.next_token);
      next_page(c, pages, tokens, token);
    }
    for (std::size_t i = 0; i < out.size(); ++i)
      if (auto it = markers.find(out[i].name); it != markers.end()) apply_markers(out[i], etags[i], it->second);
    return out;
  }

  /// Keeps what the runner learned of a backup's content as an empty object whose key says it
  /// (PREFIX.hone-content/NAME/SIZE-eE-dD, or SIZE-p-HEX for content that is not a backup, HEX
  /// the reason), so that list() returns it from the listing itself instead of one GET per
  /// backup. A marker whose size is not the backup's is ignored. Const: it only keeps a record.
  void annotate(const std::string& name, const content_info& info) const {
    auto& st = *state_;
    if (!listed_name(name)) throw not_found_error("Backup not found: " + name);
    auto h = head(key(name));
    if (!h) throw not_found_error("Backup not found: " + name);
    std::string k = st.opt.prefix + std::string(content_folder) + name + "/" + std::to_string(h->size);
    if (info.problem.empty()) {
      k += std::string("-e") + (info.encrypted ? "1" : "0") + "-d" + (info.deflated ? "1" : "0");
    } else {
      k += "-p-" + detail::s3::to_hex(std::span(reinterpret_cast<const unsigned char*>(info.problem.data()),
                                                std::min<std::size_t>(info.problem.size(), 200)));
    }
    for (const auto& m : list_markers(name))
      if (m.kind == marker::content) delete_key(st.opt.prefix + std::string(content_folder) + name + "/" + m.tail);
    put_empty(k);
  }

  /// Hex SHA-256 of the object's bytes: the checked record of it when there is one for the
  /// object as it is now (see stored_entry::sha256), else read from the object itself (the whole
  /// object is downloaded once, its ETag checked) and then recorded (best effort), so that the
  /// next call and list() have it without reading. Throws not_found_error when there is no such
  /// object.
  std::string content_sha256(const std::string& name) const {
    if (!listed_name(name)) throw not_found_error("Backup not found: " + name);
    auto h = head(key(name));
    if (!h) throw not_found_error("Backup not found: " + name);
    const auto ms = list_markers(name);
    const std::string etag = detail::s3::unquote(h->etag);
    for (const auto& m : ms)
      if (m.kind == marker::checksum && m.size == h->size && m.etag == etag) return m.sha256;
    object_reader in(state_, key(name), *h);
    const std::string sha = sha256_of(in);
    (void)record_sha256(name, h->size, etag, sha, ms);
    return sha;
  }

  std::optional<stored_entry> stat(const std::string& name) const {
    if (!listed_name(name)) return std::nullopt;
    auto h = head(key(name));
    if (!h) return std::nullopt;
    stored_entry e = entry(name, *h);
    apply_markers(e, detail::s3::unquote(h->etag), list_markers(name));
    return e;
  }

  std::unique_ptr<reader> open(const std::string& name) const {
    const std::string k = key(name);
    auto h = listed_name(name) ? head(k) : std::nullopt;
    if (!h) throw not_found_error("Backup not found: " + name);
    return std::make_unique<object_reader>(state_, k, *h);
  }

  void remove(const std::string& name) {
    auto& st = *state_;
    const std::string k = key(name);
    if (!listed_name(name) || !head(k)) throw not_found_error("Backup not found: " + name);
    detail::s3::call c{"DeleteObject", "DELETE", k, {}, {}, {}};
    auto r = st.client.send(c);
    if (!r.ok() && r.status != 404) throw st.client.failure(c, r);
    if (head(k))
      throw remote_error("S3 DeleteObject of " + st.client.describe(k) + " at " + st.opt.endpoint +
                         " succeeded, but the object is still there");
    try {
      for (const auto& m : list_markers(name))
        delete_key(st.opt.prefix + std::string(content_folder) + name + "/" + m.tail);
    } catch (const remote_error&) {
      // best effort: a stale marker is ignored (its size and ETag are not the next object's)
    }
  }

  /// Held while the runner works: a mutex shared by every s3_destination of this process that
  /// names the same endpoint, bucket and prefix, plus an flock on options::lock_file when set.
  class lock_guard {
   public:
    lock_guard() = default;
    lock_guard(lock_guard&&) noexcept = default;
    lock_guard& operator=(lock_guard&&) noexcept = default;
    ~lock_guard() {
      if (fd_) ::flock(fd_.get(), LOCK_UN);
    }

   private:
    friend class s3_destination;
    std::shared_ptr<std::mutex> mutex_;
    std::unique_lock<std::mutex> held_;
    detail::unique_fd fd_;
  };

  lock_guard lock() {
    lock_guard g;
    g.mutex_ = detail::s3::process_lock(state_->opt.endpoint + "\n" + state_->opt.bucket + "\n" + state_->opt.prefix);
    g.held_ = std::unique_lock<std::mutex>(*g.mutex_);
    if (!state_->opt.lock_file.empty()) {
      const auto& p = state_->opt.lock_file;
      g.fd_ = detail::unique_fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!g.fd_) throw lock_error("Cannot open the lock file " + p.string() + ": " + detail::errno_text(errno));
      while (::flock(g.fd_.get(), LOCK_EX) != 0)
        if (errno != EINTR) throw lock_error("Cannot lock " + p.string() + ": " + detail::errno_text(errno));
    }
    return g;
  }

  /// Aborts the multipart uploads under the prefix (ListMultipartUploads) whose key is one of
  /// a backup: what a process killed during an upload left. Returns how many were aborted.
  std::size_t abort_stale_uploads() {
    auto& st = *state_;
    std::size_t aborted = 0;
    std::string key_marker, id_marker;
    std::set<std::string> markers_seen;
    for (std::size_t pages = 1;; ++pages) {
      detail::s3::call c{"ListMultipartUploads", "GET", "", {{"uploads", ""}}, {}, {}, detail::s3::max_listing_bytes};
      if (!st.opt.prefix.empty()) c.query.emplace_back("prefix", st.opt.prefix);
      if (!key_marker.empty()) c.query.emplace_back("key-marker", key_marker);
      if (!id_marker.empty()) c.query.emplace_back("upload-id-marker", id_marker);
      auto r = st.client.send(c);
      if (!r.ok()) throw st.client.failure(c, r);
      auto page = detail::s3::parse_uploads(st.client, c, r);
      for (const auto& [k, id] : page.uploads) {
        if (k.compare(0, st.opt.prefix.size(), st.opt.prefix) != 0 || !listed_name(k.substr(st.opt.prefix.size())))
          continue;
        detail::s3::call a{"AbortMultipartUpload", "DELETE", k, {{"uploadId", id}}, {}, {}};
        auto ar = st.client.send(a);
        if (!ar.ok() && ar.status != 404) throw st.client.failure(a, ar);
        ++aborted;
        if (st.opt.log)
          st.opt.log("S3: aborted the incomplete upload of " + st.client.describe(k) + " left by an earlier run");
      }
      if (!page.truncated) break;
      key_marker = std::move(page.next_key_marker);
      id_marker = std::move(page.next_upload_id_marker);
      std::string both = key_marker + '\n' + id_marker;
      next_page(c, pages, markers_seen, both);
    }
    return aborted;
  }

 private:
  struct state {
    explicit state(options o) : opt(normalized(std::move(o))), client(client_settings(opt)) {}
    options opt;
    detail::s3::client client;
    /// -1: unknown, 0: the server refuses If-None-Match (NotImplemented), 1: it honours it.
    std::atomic<int> conditional{-1};
  };

  static options normalized(options o) {
    if (!o.prefix.empty() && o.prefix.back() != '/') o.prefix += '/';
    if (o.part_size < detail::s3::min_part_size || o.part_size > detail::s3::max_part_size)
      throw invalid_argument_error("S3 part_size must be from 5 MiB to 5 GiB (got " + std::to_string(o.part_size) +
                                   " bytes)");
    o.single_put_threshold = std::min(o.single_put_threshold, o.part_size);
    if (o.parallel_parts == 0) o.parallel_parts = 1;
    if (o.download_chunk_size < (64u << 10)) o.download_chunk_size = 64u << 10;
    if (o.max_list_pages == 0) o.max_list_pages = 1;
    return o;
  }
  static detail::s3::client_settings client_settings(const options& o) {
    detail::s3::client_settings c;
    c.endpoint = o.endpoint;
    c.bucket = o.bucket;
    c.region = o.region.empty() ? "auto" : o.region;
    c.access_key_id = o.access_key_id;
    c.secret_access_key = o.secret_access_key;
    c.max_attempts = o.max_attempts;
    c.retry_base_delay = o.retry_base_delay;
    c.retry_max_delay = o.retry_max_delay;
    c.http.connect_timeout = o.connect_timeout;
    c.http.idle_timeout = o.idle_timeout;
    c.http.request_timeout = o.request_timeout;
    c.http.ca_file = o.ca_file;
    c.http.verify_tls = o.verify_tls;
    c.log = o.log;
    c.interrupt = o.interrupt;
    return c;
  }

 public:
  // The record-keeping scheme and the names considered; public for the tests and fuzz_s3.

  /// The "folder" below the prefix that holds the markers (hidden: never listed).
  static constexpr std::string_view content_folder = ".hone-content/";

  /// A marker: an empty object PREFIX.hone-content/NAME/TAIL whose key holds a record of the
  /// object NAME, valid while the object has the size (and ETag) it names:
  ///   SIZE-eE-dD                 what annotate() was told (encrypted, deflated)
  ///   SIZE-p-HEX                 annotate() was told the content is not a backup (HEX: why)
  ///   sha256-SIZE-ETAG-SHA256    the SHA-256 of the bytes, checked (store, content_sha256)
  struct marker {
    enum kind_t { content, checksum } kind = content;
    std::string name, tail;
    std::uint64_t size = 0;
    content_info info;
    std::string etag, sha256;
  };
  /// Reads a marker key (below the prefix): .hone-content/NAME/TAIL.
  static std::optional<marker> parse_marker(std::string_view k) {
    if (k.substr(0, content_folder.size()) != content_folder) return std::nullopt;
    k.remove_prefix(content_folder.size());
    const auto slash = k.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    marker m;
    m.name = std::string(k.substr(0, slash));
    if (!listed_name(m.name)) return std::nullopt;
    std::string_view rest = k.substr(slash + 1);
    m.tail = std::string(rest);
    const bool sha = rest.substr(0, 7) == "sha256-";
    if (sha) rest.remove_prefix(7);
    const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), m.size);
    if (ec != std::errc() || p == rest.data() || p == rest.data() + rest.size() || *p != '-') return std::nullopt;
    rest.remove_prefix(static_cast<std::size_t>(p - rest.data()) + 1);
    const auto hex = [](std::string_view v) {
      return v.find_first_not_of("0123456789abcdef") == std::string_view::npos;
    };
    if (sha) {
      // ETAG-SHA256: the SHA-256 is the last 64 hex digits; the ETag holds hex digits and '-'.
      if (rest.size() < 66 || rest[rest.size() - 65] != '-') return std::nullopt;
      m.kind = marker::checksum;
      m.sha256 = std::string(rest.substr(rest.size() - 64));
      m.etag = std::string(rest.substr(0, rest.size() - 65));
      if (!hex(m.sha256) || m.etag.find_first_not_of("0123456789abcdef-") != std::string::npos) return std::nullopt;
      return m;
    }
    if (rest.size() == 5 && rest[0] == 'e' && rest[2] == '-' && rest[3] == 'd' && (rest[1] == '0' || rest[1] == '1') &&
        (rest[4] == '0' || rest[4] == '1')) {
      m.info.encrypted = rest[1] == '1';
      m.info.deflated = rest[4] == '1';
      return m;
    }
    if (rest.substr(0, 2) == "p-" && rest.size() > 2 && rest.size() % 2 == 0 && hex(rest.substr(2))) {
      for (std::size_t i = 2; i + 1 < rest.size(); i += 2) {
        const auto nibble = [](char ch) { return ch <= '9' ? ch - '0' : ch - 'a' + 10; };
        m.info.problem += static_cast<char>(nibble(rest[i]) * 16 + nibble(rest[i + 1]));
      }
      return m;
    }
    return std::nullopt;
  }

  /// A name list/stat/open/remove consider: one level below the prefix, not hidden.
  static bool listed_name(std::string_view n) {
    return !n.empty() && n.front() != '.' && n.find('/') == std::string_view::npos;
  }

 private:
  /// Fills e.content and e.sha256 from the markers that match the object as it is now (its size;
  /// for the SHA-256 its ETag too), so that a replaced object is unknown, never "the same".
  static void apply_markers(stored_entry& e, const std::string& etag, const std::vector<marker>& ms) {
    for (const auto& m : ms) {
      if (m.size != e.size) continue;
      if (m.kind == marker::content)
        e.content = m.info;
      else if (!etag.empty() && m.etag == etag)
        e.sha256 = m.sha256;
    }
  }

  /// The markers of one name (one ListObjectsV2 of its marker folder).
  std::vector<marker> list_markers(const std::string& name) const {
    auto& st = *state_;
    std::vector<marker> out;
    std::set<std::string> tokens;
    std::string token;
    for (std::size_t pages = 1;; ++pages) {
      detail::s3::call c = list_call(st.opt.prefix + std::string(content_folder) + name + "/", token);
      auto r = st.client.send(c);
      if (!r.ok()) throw st.client.failure(c, r);
      auto page = detail::s3::parse_listing(st.client, c, r);
      for (const auto& o : page.objects)
        if (o.key.compare(0, st.opt.prefix.size(), st.opt.prefix) == 0)
          if (auto m = parse_marker(std::string_view(o.key).substr(st.opt.prefix.size())); m && m->name == name)
            out.push_back(std::move(*m));
      if (!page.truncated) break;
      token = std::move(page.next_token);
      next_page(c, pages, tokens, token);
    }
    return out;
  }

  /// Writes the SHA-256 marker of an object (size and ETag as checked) and deletes the other
  /// SHA-256 markers among `existing`. Best effort: false when the marker could not be written.
  bool record_sha256(const std::string& name, std::uint64_t size, const std::string& etag, const std::string& sha,
                     const std::vector<marker>& existing) const {
    auto& st = *state_;
    if (etag.empty() || etag.size() > 80 || etag.find_first_not_of("0123456789abcdef-") != std::string::npos)
      return false;  // an ETag a key cannot hold: no record (the content is read when asked)
    const std::string folder = st.opt.prefix + std::string(content_folder) + name + "/";
    const std::string tail = "sha256-" + std::to_string(size) + "-" + etag + "-" + sha;
    try {
      put_empty(folder + tail);
      for (const auto& m : existing)
        if (m.kind == marker::checksum && m.tail != tail) delete_key(folder + m.tail);
      return true;
    } catch (const remote_error& e) {
      if (st.opt.log) st.opt.log(std::string("S3: the SHA-256 record of ") + name + " was not written: " + e.what());
      return false;
    }
  }

  void put_empty(const std::string& k) const {
    auto& st = *state_;
    detail::s3::call c{"PutObject", "PUT", k, {}, {}, {}};
    c.headers = {{"content-md5", detail::s3::to_base64(detail::s3::md5({}))}};
    auto r = st.client.send(c);
    if (!r.ok()) throw st.client.failure(c, r);
  }
  void delete_key(const std::string& k) const {
    detail::s3::call d{"DeleteObject", "DELETE", k, {}, {}, {}};
    auto r = state_->client.send(d);
    if (!r.ok() && r.status != 404) throw state_->client.failure(d, r);
  }

  /// Deletes an object that failed its check after the upload; returns `what` followed by
  /// whether the delete worked.
  std::string discard(const std::string& k, const std::string& what) const {
    try {
      delete_key(k);
      return what + "; it was deleted, so that nothing counts it as the backup";
    } catch (const std::exception& e) {
      return what + "; deleting it failed too (" + e.what() + "): delete " + state_->client.describe(k) +
             " before the bucket is trusted";
    }
  }

  /// A ListObjectsV2 request for keys under `prefix`, after `token` when set.
  static detail::s3::call list_call(const std::string& prefix, const std::string& token) {
    detail::s3::call c{"ListObjectsV2", "GET", "", {{"list-type", "2"}}, {}, {}, detail::s3::max_listing_bytes};
    if (!prefix.empty()) c.query.emplace_back("prefix", prefix);
    if (!token.empty()) c.query.emplace_back("continuation-token", token);
    return c;
  }
  /// Stops a paging that repeats itself (a token or marker seen before) or goes on for more than
  /// max_list_pages pages.
  void next_page(const detail::s3::call& c, std::size_t pages, std::set<std::string>& seen,
                 const std::string& token) const {
    auto& st = *state_;
    if (pages >= st.opt.max_list_pages)
      throw remote_error(st.client.where(c) + " failed: the listing goes on beyond " +
                         std::to_string(st.opt.max_list_pages) + " pages (s3_options::max_list_pages)");
    if (!seen.insert(detail::s3::sha256_hex(std::as_bytes(std::span(token.data(), token.size())))).second)
      throw remote_error(st.client.where(c) +
                         " failed: the endpoint does not answer as S3 does: it gave the same "
                         "continuation token (or marker) twice, so the listing would never end");
  }

  /// HEAD of a key: nothing for a 404, else the checked object_head.
  std::optional<detail::s3::object_head> head(const std::string& k) const {
    detail::s3::call c{"HeadObject", "HEAD", k, {}, {}, {}};
    auto r = state_->client.send(c);
    if (r.status == 404) return std::nullopt;
    if (!r.ok()) throw state_->client.failure(c, r);
    return detail::s3::parse_head(state_->client, c, r);
  }

  stored_entry entry(const std::string& name, const detail::s3::object_head& h) const {
    stored_entry e;
    e.name = name;
    e.size = h.size;
    e.modified = h.modified;
    e.location = state_->client.url(key(name));
    return e;
  }

  /// The writer store() gives the producer: buffers one part, uploads full parts in the
  /// background (at most parallel_parts at a time), and completes or aborts the upload.
  class upload final : public writer {
   public:
    upload(state& st, std::string k, std::string name) : st_(st), key_(std::move(k)), name_(std::move(name)) {
      buf_.reserve(std::min<std::size_t>(st_.opt.part_size, 1u << 20));
    }
    upload(const upload&) = delete;
    ~upload() override { drain(); }

    void write(std::span<const std::byte> data) override {
      while (!data.empty()) {
        const std::size_t room = st_.opt.part_size - buf_.size();
        const std::size_t n = std::min(room, data.size());
        buf_.insert(buf_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
        sha_.update(data.first(n));
        data = data.subspan(n);
        total_ += n;
        if (buf_.size() == st_.opt.part_size && !data.empty()) send_part();
        // A full part is held back until more data comes: at the end it may be the only one.
      }
      if (buf_.size() == st_.opt.part_size && started()) send_part();
    }

    std::uint64_t bytes() const noexcept { return total_; }
    /// The ETag the bucket must give the object after finish(): the MD5 of the bytes sent (one
    /// PutObject), or the MD5 of the parts' MD5s, "-", the number of parts.
    const std::string& expected_etag() const noexcept { return expected_; }
    /// Hex SHA-256 of the bytes sent (after finish()).
    std::string sha256() { return detail::s3::to_hex(sha_.finish()); }

    void finish() {
      if (!started() && total_ <= st_.opt.single_put_threshold) {
        put_object();
        return;
      }
      if (!buf_.empty() || (parts_.empty() && inflight_.empty())) send_part();
      while (!inflight_.empty()) collect();
      complete();
    }

    /// Best effort after a failure: waits for the parts in flight, then aborts the upload.
    void abort() noexcept {
      drain();
      if (upload_id_.empty() || completed_) return;
      try {
        detail::s3::call c{"AbortMultipartUpload", "DELETE", key_, {{"uploadId", upload_id_}}, {}, {}};
        auto r = st_.client.send(c);
        if (!r.ok() && r.status != 404 && st_.opt.log) st_.opt.log(st_.client.failure(c, r).what());
      } catch (const std::exception& e) {
        if (st_.opt.log) st_.opt.log(e.what());
      }
    }

   private:
    struct part_result {
      int number = 0;
      detail::s3::digest128 md5{};
    };

    bool started() const noexcept { return !upload_id_.empty(); }

    void put_object() {
      const auto body = std::span<const std::byte>(buf_);
      const auto md5 = detail::s3::md5(body);
      detail::s3::call c{"PutObject", "PUT", key_, {}, {}, body};
      c.headers = {{"content-type", "application/octet-stream"}, {"content-md5", detail::s3::to_base64(md5)}};
      auto r = conditional_send(c);
      if (!r.ok()) throw st_.client.failure(c, r);
      check_etag(c, r, detail::s3::to_hex(md5));
      completed_ = true;
      expected_ = detail::s3::to_hex(md5);
    }

    /// Sends with If-None-Match: * unless the server is known not to support it; a server that
    /// answers NotImplemented is remembered and asked again without it. 412: the name exists.
    detail::s3::reply conditional_send(detail::s3::call& c) {
      const bool try_conditional = st_.opt.conditional_writes && st_.conditional.load() != 0;
      if (try_conditional) c.headers.emplace_back("if-none-match", "*");
      auto r = st_.client.send(c);
      if (try_conditional && (r.status == 501 || r.code == "NotImplemented")) {
        st_.conditional = 0;
        c.headers.pop_back();
        r = st_.client.send(c);
      } else if (try_conditional && r.ok()) {
        st_.conditional = 1;
      }
      if (r.status == 412 || r.code == "PreconditionFailed")
        throw already_exists_error("Backup already exists: " + name_);
      return r;
    }

    void initiate() {
      detail::s3::call c{"CreateMultipartUpload", "POST", key_, {{"uploads", ""}}, {}, {}};
      c.headers = {{"content-type", "application/octet-stream"},
                   {"x-amz-meta-hone-part-size", std::to_string(st_.opt.part_size)}};
      auto r = st_.client.send(c);
      if (!r.ok()) throw st_.client.failure(c, r);
      st_.client.expect_document(c, r, "InitiateMultipartUploadResult");
      upload_id_ = detail::s3::xml_text(r.body, "UploadId");
      if (upload_id_.empty() || upload_id_.size() > 4096) throw st_.client.not_s3(c, r, "no UploadId");
    }

    void send_part() {
      if (!started()) initiate();
      if (parts_.size() + inflight_.size() >= detail::s3::max_parts)
        throw invalid_argument_error("Backup " + name_ + " is larger than " + std::to_string(detail::s3::max_parts) +
                                     " parts of " + std::to_string(st_.opt.part_size) +
                                     " bytes, the most a multipart upload may have; raise part_size");
      while (inflight_.size() >= st_.opt.parallel_parts) collect();
      const int number = static_cast<int>(parts_.size() + inflight_.size()) + 1;
      auto body = std::make_shared<std::vector<std::byte>>(std::move(buf_));
      buf_ = {};
      buf_.reserve(st_.opt.part_size);
      inflight_.push_back(std::async(std::launch::async, [this, number, body] { return upload_part(number, *body); }));
    }

    part_result upload_part(int number, const std::vector<std::byte>& body) {
      part_result p{number, detail::s3::md5(body)};
      detail::s3::call c{"UploadPart", "PUT", key_, {{"partNumber", std::to_string(number)}, {"uploadId", upload_id_}},
                         {},           body};
      c.headers = {{"content-md5", detail::s3::to_base64(p.md5)}};
      auto r = st_.client.send(c);
      if (!r.ok()) throw st_.client.failure(c, r, "part " + std::to_string(number));
      check_etag(c, r, detail::s3::to_hex(p.md5));
      return p;
    }

    void collect() {
      auto f = std::move(inflight_.front());
      inflight_.pop_front();
      parts_.push_back(f.get());
    }

    void drain() noexcept {
      for (auto& f : inflight_)
        if (f.valid()) f.wait();
      inflight_.clear();
    }

    void complete() {
      std::sort(parts_.begin(), parts_.end(),
                [](const part_result& a, const part_result& b) { return a.number < b.number; });
      std::string xml = "<CompleteMultipartUpload>";
      std::vector<std::byte> md5s;
      for (const auto& p : parts_) {
        xml += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" + detail::s3::to_hex(p.md5) +
               "\"</ETag></Part>";
        const auto* b = reinterpret_cast<const std::byte*>(p.md5.data());
        md5s.insert(md5s.end(), b, b + p.md5.size());
      }
      xml += "</CompleteMultipartUpload>";
      const std::string expected = detail::s3::to_hex(detail::s3::md5(md5s)) + "-" + std::to_string(parts_.size());
      expected_ = expected;
      detail::s3::call c{"CompleteMultipartUpload",  "POST", key_,
                         {{"uploadId", upload_id_}}, {},     std::as_bytes(std::span(xml.data(), xml.size()))};
      c.headers = {{"content-type", "application/xml"}};
      auto r = conditional_send(c);
      // A retried request whose first try went through finds the upload gone: the object's
      // ETag tells whether it is ours.
      if (r.status == 404 && r.code == "NoSuchUpload") {
        detail::s3::call h{"HeadObject", "HEAD", key_, {}, {}, {}};
        auto hr = st_.client.send(h);
        if (hr.ok() && detail::s3::unquote(hr.header("etag")) == expected) {
          completed_ = true;
          return;
        }
      }
      // S3 may answer 200 and still report an error in the body.
      if (!r.ok()) throw st_.client.failure(c, r);
      completed_ = true;
      st_.client.expect_document(c, r, "CompleteMultipartUploadResult");
      const std::string got = detail::s3::unquote(detail::s3::xml_text(r.body, "ETag"));
      if (!got.empty() && got != expected) {
        // The server assembled something else than what was sent: do not leave it listed.
        detail::s3::call d{"DeleteObject", "DELETE", key_, {}, {}, {}};
        (void)st_.client.send(d);
        throw remote_error("S3 CompleteMultipartUpload of " + st_.client.describe(key_) + " gave the ETag " + got +
                           " where the parts sent give " + expected + "; the object was deleted");
      }
    }

    void check_etag(const detail::s3::call& c, const detail::s3::reply& r, const std::string& expected) const {
      if (r.header("etag").empty()) throw st_.client.not_s3(c, r, "no ETag in the answer");
      const std::string got = detail::s3::client::sanitized(detail::s3::unquote(r.header("etag")), 80);
      if (got != expected)
        throw remote_error("S3 " + std::string(c.operation) + " of " + st_.client.describe(key_) +
                           " returned the ETag \"" + got + "\" where the MD5 of the bytes sent is " + expected +
                           ": the data was altered in transit");
    }

    state& st_;
    std::string key_, name_;
    std::vector<std::byte> buf_;
    std::uint64_t total_ = 0;
    std::string upload_id_;
    std::vector<part_result> parts_;
    std::deque<std::future<part_result>> inflight_;
    bool completed_ = false;
    std::string expected_;
    detail::s3::sha256_stream sha_;
  };

  /// Reads an object in ranged GETs (If-Match: its ETag, so that a replaced object fails
  /// instead of mixing two), checking the MD5 of the whole when the ETag is one.
  class object_reader final : public reader {
   public:
    object_reader(std::shared_ptr<state> st, std::string k, const detail::s3::object_head& head)
        : st_(std::move(st)), key_(std::move(k)) {
      size_ = head.size;
      etag_ = head.etag;
      expected_ = head.checksum;
      part_size_ = head.part_size;
    }

    std::size_t read(std::span<std::byte> buf) override {
      if (at_ == chunk_.size()) {
        if (pos_ >= size_) {
          finish();
          return 0;
        }
        fetch();
      }
      const std::size_t n = std::min(buf.size(), chunk_.size() - at_);
      std::memcpy(buf.data(), chunk_.data() + at_, n);
      at_ += n;
      return n;
    }

    object_reader(const object_reader&) = delete;
    object_reader& operator=(const object_reader&) = delete;
    ~object_reader() override {
      if (ahead_.valid()) ahead_.wait();  // the range being read ahead uses this reader's state
    }

   private:
    /// The GET of the range that starts at `from` (If-Match: the ETag read at open).
    detail::s3::reply get_range(std::uint64_t from) const {
      const std::uint64_t end = range_end(from);
      detail::s3::call c{"GetObject", "GET", key_, {}, {}, {}};
      c.headers = {{"range", "bytes=" + std::to_string(from) + "-" + std::to_string(end)}};
      // At most the range (room for an error document when the range is tiny).
      c.max_body = std::max<std::size_t>(static_cast<std::size_t>(end + 1 - from), 16u << 10);
      if (!etag_.empty()) c.headers.emplace_back("if-match", etag_);
      auto r = st_->client.send(c);
      if (r.status == 404)
        throw not_found_error("S3 object " + st_->client.describe(key_) + " was deleted while it was being read");
      if (r.status == 412)
        throw remote_error("S3 object " + st_->client.describe(key_) + " was replaced while it was being read");
      if (r.status != 206 && !(r.status == 200 && from == 0 && end + 1 == size_)) throw st_->client.failure(c, r);
      if (r.body.size() != end + 1 - from)
        throw remote_error("S3 GetObject of " + st_->client.describe(key_) + " gave " + std::to_string(r.body.size()) +
                           " bytes for a range of " + std::to_string(end + 1 - from));
      return r;
    }
    /// The first range is small (a header peek is one small GET), the others download_chunk_size.
    std::uint64_t range_end(std::uint64_t from) const {
      const std::uint64_t n = from == 0 ? std::min(detail::s3::first_range_bytes, st_->opt.download_chunk_size)
                                        : st_->opt.download_chunk_size;
      return std::min<std::uint64_t>(size_, from + n) - 1;
    }

    /// Takes the range at pos_ (read ahead, or fetched now) and, from the second range on,
    /// starts reading the next one (no read-ahead while the reader has only peeked).
    void fetch() {
      detail::s3::reply r = ahead_.valid() ? ahead_.get() : get_range(pos_);
      chunk_ = std::move(r.body);
      at_ = 0;
      const bool first = pos_ == 0;
      pos_ = range_end(pos_) + 1;
      if (pos_ < size_ && !first)
        ahead_ = std::async(std::launch::async, [this, from = pos_] { return get_range(from); });
      hash(std::as_bytes(std::span(chunk_.data(), chunk_.size())));
    }

    void hash(std::span<const std::byte> data) {
      if (expected_.empty()) return;
      if (part_size_ == 0) {
        whole_.update(data);
        return;
      }
      while (!data.empty()) {
        const std::size_t n = std::min<std::uint64_t>(data.size(), part_size_ - in_part_);
        whole_.update(data.first(n));
        in_part_ += n;
        data = data.subspan(n);
        if (in_part_ == part_size_) end_part();
      }
    }
    void end_part() {
      const auto d = whole_.finish();
      part_md5s_.insert(part_md5s_.end(), reinterpret_cast<const std::byte*>(d.data()),
                        reinterpret_cast<const std::byte*>(d.data()) + d.size());
      ++parts_;
      in_part_ = 0;
    }
    void finish() {
      if (expected_.empty() || finished_) return;
      finished_ = true;
      std::string got;
      if (part_size_ == 0) {
        got = detail::s3::to_hex(whole_.finish());
      } else {
        if (in_part_ > 0 || parts_ == 0) end_part();
        got = detail::s3::to_hex(detail::s3::md5(part_md5s_)) + "-" + std::to_string(parts_);
      }
      if (got != expected_)
        throw corrupt_backup_error("S3 object " + st_->client.describe(key_) + " read back with the checksum " + got +
                                   " where its ETag says " + expected_);
    }

    std::shared_ptr<state> st_;
    std::string key_;
    std::uint64_t size_ = 0, pos_ = 0;
    std::string etag_, expected_;
    std::string chunk_;
    std::size_t at_ = 0;
    detail::s3::md5_stream whole_;
    std::uint64_t part_size_ = 0, in_part_ = 0, parts_ = 0;
    std::vector<std::byte> part_md5s_;
    bool finished_ = false;
    std::future<detail::s3::reply> ahead_;  ///< the next range, while the current one is read
  };

  std::shared_ptr<state> state_;
};

static_assert(Destination<s3_destination>);
static_assert(concepts::destination::has_annotate<s3_destination>);

}  // namespace hone::backup

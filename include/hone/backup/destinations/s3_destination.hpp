// s3_destination: backups as objects of an S3-compatible bucket (Cloudflare R2, AWS S3, MinIO,
// OpenStack Swift's s3api, ...). Not part of <hone/backup.hpp>: it needs libcurl and OpenSSL,
// which the CMake target hone::backup_s3 brings. See docs/Destination.md.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/detail/posix.hpp>
#include <hone/backup/detail/s3/client.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <atomic>
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
#include <span>
#include <string>
#include <string_view>
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
  int max_attempts = 6;                          ///< tries of one request, the first included
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
inline constexpr std::size_t max_parts = 10000;
/// The longest listing page taken (a page of 1,000 keys of 1,024 bytes is about 1.5 MiB).
inline constexpr std::size_t max_listing_bytes = 16u << 20;

inline std::string unquote(std::string_view etag) {
  while (!etag.empty() && (etag.front() == '"' || etag.front() == ' ')) etag.remove_prefix(1);
  while (!etag.empty() && (etag.back() == '"' || etag.back() == ' ')) etag.remove_suffix(1);
  return lower(etag);
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
    if (head(k, "HeadObject")) throw already_exists_error("Backup already exists: " + name);
    upload u(st, k, name);
    try {
      produce(u);
      u.finish();
    } catch (...) {
      u.abort();
      throw;
    }
    auto e = stat(name);
    if (!e) throw remote_error("S3 object " + st.client.describe(k) + " is missing right after it was uploaded");
    if (e->size != u.bytes())
      throw remote_error("S3 object " + st.client.describe(k) + " holds " + std::to_string(e->size) +
                         " bytes right after " + std::to_string(u.bytes()) + " were uploaded");
    return *e;
  }

  std::vector<stored_entry> list() const {
    auto& st = *state_;
    std::vector<stored_entry> out;
    std::map<std::string, std::pair<std::uint64_t, content_info>> described;
    std::string token;
    do {
      detail::s3::call c{"ListObjectsV2", "GET", "", {{"list-type", "2"}}, {}, {}, detail::s3::max_listing_bytes};
      if (!st.opt.prefix.empty()) c.query.emplace_back("prefix", st.opt.prefix);
      if (!token.empty()) c.query.emplace_back("continuation-token", token);
      auto r = st.client.send(c);
      if (!r.ok()) throw st.client.failure(c, r);
      for (auto item : detail::s3::xml_elements(r.body, "Contents")) {
        const std::string k = detail::s3::xml_text(item, "Key");
        if (k.compare(0, st.opt.prefix.size(), st.opt.prefix) != 0) continue;
        std::string name = k.substr(st.opt.prefix.size());
        if (auto c = parse_content_key(name)) described[c->name] = {c->size, c->info};
        if (!listed_name(name)) continue;
        stored_entry e;
        e.size = std::stoull("0" + detail::s3::xml_text(item, "Size"));
        e.modified = detail::s3::parse_time(detail::s3::xml_text(item, "LastModified"));
        e.location = st.client.url(k);
        e.name = std::move(name);
        out.push_back(std::move(e));
      }
      token = detail::s3::xml_text(r.body, "IsTruncated") == "true"
                  ? detail::s3::xml_text(r.body, "NextContinuationToken")
                  : std::string();
    } while (!token.empty());
    for (auto& e : out)
      if (auto it = described.find(e.name); it != described.end() && it->second.first == e.size)
        e.content = it->second.second;
    return out;
  }

  /// Keeps what the runner learned of a backup's content as an empty object whose key says it
  /// (PREFIX.hone-content/NAME/SIZE-eE-dD), so that list() returns it from the listing itself
  /// instead of one GET per backup. A marker whose size is not the backup's is ignored.
  void annotate(const std::string& name, const content_info& info) {
    auto& st = *state_;
    auto e = stat(name);
    if (!e) throw not_found_error("Backup not found: " + name);
    remove_content_keys(name);
    const std::string k = st.opt.prefix + std::string(content_folder) + name + "/" + std::to_string(e->size) + "-e" +
                          (info.encrypted ? "1" : "0") + "-d" + (info.deflated ? "1" : "0");
    detail::s3::call c{"PutObject", "PUT", k, {}, {}, {}};
    c.headers = {{"content-md5", detail::s3::to_base64(detail::s3::md5({}))}};
    auto r = st.client.send(c);
    if (!r.ok()) throw st.client.failure(c, r);
  }

  /// Hex SHA-256 of the object's bytes: the checked record of it when there is one for the
  /// object as it is now (see stored_entry::sha256), else read from the object itself (the whole
  /// object is downloaded, its ETag checked). Throws not_found_error when there is no such object.
  std::string content_sha256(const std::string& name) const {
    if (auto e = stat(name); e && !e->sha256.empty()) return e->sha256;
    auto in = open(name);
    return sha256_of(*in);
  }

  std::optional<stored_entry> stat(const std::string& name) const {
    if (!listed_name(name)) return std::nullopt;
    auto r = head(key(name), "HeadObject");
    if (!r) return std::nullopt;
    return entry(name, *r);
  }

  std::unique_ptr<reader> open(const std::string& name) const {
    const std::string k = key(name);
    auto r = listed_name(name) ? head(k, "HeadObject") : std::nullopt;
    if (!r) throw not_found_error("Backup not found: " + name);
    return std::make_unique<object_reader>(state_, k, *r);
  }

  void remove(const std::string& name) {
    auto& st = *state_;
    const std::string k = key(name);
    if (!listed_name(name) || !head(k, "HeadObject")) throw not_found_error("Backup not found: " + name);
    detail::s3::call c{"DeleteObject", "DELETE", k, {}, {}, {}};
    auto r = st.client.send(c);
    if (!r.ok() && r.status != 404) throw st.client.failure(c, r);
    if (head(k, "HeadObject"))
      throw remote_error("S3 DeleteObject of " + st.client.describe(k) + " at " + st.opt.endpoint +
                         " succeeded, but the object is still there");
    remove_content_keys(name);
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
    for (;;) {
      detail::s3::call c{"ListMultipartUploads", "GET", "", {{"uploads", ""}}, {}, {}, detail::s3::max_listing_bytes};
      if (!st.opt.prefix.empty()) c.query.emplace_back("prefix", st.opt.prefix);
      if (!key_marker.empty()) c.query.emplace_back("key-marker", key_marker);
      if (!id_marker.empty()) c.query.emplace_back("upload-id-marker", id_marker);
      auto r = st.client.send(c);
      if (!r.ok()) throw st.client.failure(c, r);
      for (auto u : detail::s3::xml_elements(r.body, "Upload")) {
        const std::string k = detail::s3::xml_text(u, "Key");
        const std::string id = detail::s3::xml_text(u, "UploadId");
        if (k.compare(0, st.opt.prefix.size(), st.opt.prefix) != 0 || !listed_name(k.substr(st.opt.prefix.size())))
          continue;
        detail::s3::call a{"AbortMultipartUpload", "DELETE", k, {{"uploadId", id}}, {}, {}};
        auto ar = st.client.send(a);
        if (!ar.ok() && ar.status != 404) throw st.client.failure(a, ar);
        ++aborted;
        if (st.opt.log)
          st.opt.log("S3: aborted the incomplete upload of " + st.client.describe(k) + " left by an earlier run");
      }
      if (detail::s3::xml_text(r.body, "IsTruncated") != "true") break;
      key_marker = detail::s3::xml_text(r.body, "NextKeyMarker");
      id_marker = detail::s3::xml_text(r.body, "NextUploadIdMarker");
      if (key_marker.empty() && id_marker.empty()) break;
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
    if (o.part_size < detail::s3::min_part_size)
      throw invalid_argument_error("S3 part_size must be at least 5 MiB (got " + std::to_string(o.part_size) +
                                   " bytes)");
    o.single_put_threshold = std::min(o.single_put_threshold, o.part_size);
    if (o.parallel_parts == 0) o.parallel_parts = 1;
    if (o.download_chunk_size < (64u << 10)) o.download_chunk_size = 64u << 10;
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

  /// The "folder" below the prefix that holds annotate()'s markers (hidden: never listed).
  static constexpr std::string_view content_folder = ".hone-content/";

  struct content_key {
    std::string name;
    std::uint64_t size = 0;
    content_info info;
  };
  /// Reads a marker key (below the prefix): .hone-content/NAME/SIZE-eE-dD.
  static std::optional<content_key> parse_content_key(std::string_view k) {
    if (k.substr(0, content_folder.size()) != content_folder) return std::nullopt;
    k.remove_prefix(content_folder.size());
    const auto slash = k.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    content_key c;
    c.name = std::string(k.substr(0, slash));
    const std::string rest(k.substr(slash + 1));
    unsigned long long size = 0;
    int e = 0, d = 0, used = 0;
    if (std::sscanf(rest.c_str(), "%llu-e%1d-d%1d%n", &size, &e, &d, &used) != 3 ||
        used != static_cast<int>(rest.size()) || !listed_name(c.name))
      return std::nullopt;
    c.size = size;
    c.info = content_info{e == 1, d == 1};
    return c;
  }
  /// Deletes the markers of a name (best effort: a stale marker is ignored by list()).
  void remove_content_keys(const std::string& name) {
    auto& st = *state_;
    detail::s3::call c{"ListObjectsV2", "GET", "", {{"list-type", "2"}}, {}, {}, detail::s3::max_listing_bytes};
    c.query.emplace_back("prefix", st.opt.prefix + std::string(content_folder) + name + "/");
    auto r = st.client.send(c);
    if (!r.ok()) return;
    for (auto item : detail::s3::xml_elements(r.body, "Contents")) {
      detail::s3::call d{"DeleteObject", "DELETE", detail::s3::xml_text(item, "Key"), {}, {}, {}};
      (void)st.client.send(d);
    }
  }

  /// A name list/stat/open/remove consider: one level below the prefix, not hidden.
  static bool listed_name(std::string_view n) {
    return !n.empty() && n.front() != '.' && n.find('/') == std::string_view::npos;
  }

  std::optional<detail::s3::reply> head(const std::string& k, std::string_view op) const {
    detail::s3::call c{op, "HEAD", k, {}, {}, {}};
    auto r = state_->client.send(c);
    if (r.status == 404) return std::nullopt;
    if (!r.ok()) throw state_->client.failure(c, r);
    return r;
  }

  stored_entry entry(const std::string& name, const detail::s3::reply& r) const {
    stored_entry e;
    e.name = name;
    const std::string len = r.header("content-length");
    e.size = len.empty() ? 0 : std::stoull(len);
    e.modified = detail::s3::parse_time(r.header("last-modified"));
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
        data = data.subspan(n);
        total_ += n;
        if (buf_.size() == st_.opt.part_size && !data.empty()) send_part();
        // A full part is held back until more data comes: at the end it may be the only one.
      }
      if (buf_.size() == st_.opt.part_size && started()) send_part();
    }

    std::uint64_t bytes() const noexcept { return total_; }

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
      check_etag(c, r.header("etag"), detail::s3::to_hex(md5));
      completed_ = true;
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
      upload_id_ = detail::s3::xml_text(r.body, "UploadId");
      if (upload_id_.empty()) throw st_.client.failure(c, r, "the response holds no UploadId");
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
      check_etag(c, r.header("etag"), detail::s3::to_hex(p.md5));
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
      if (!r.ok() || !detail::s3::xml_elements(r.body, "Error").empty()) throw st_.client.failure(c, r);
      completed_ = true;
      const std::string got = detail::s3::unquote(detail::s3::xml_text(r.body, "ETag"));
      if (!got.empty() && got != expected) {
        // The server assembled something else than what was sent: do not leave it listed.
        detail::s3::call d{"DeleteObject", "DELETE", key_, {}, {}, {}};
        (void)st_.client.send(d);
        throw remote_error("S3 CompleteMultipartUpload of " + st_.client.describe(key_) + " gave the ETag " + got +
                           " where the parts sent give " + expected + "; the object was deleted");
      }
    }

    void check_etag(const detail::s3::call& c, const std::string& etag, const std::string& expected) const {
      const std::string got = detail::s3::unquote(etag);
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
  };

  /// Reads an object in ranged GETs (If-Match: its ETag, so that a replaced object fails
  /// instead of mixing two), checking the MD5 of the whole when the ETag is one.
  class object_reader final : public reader {
   public:
    object_reader(std::shared_ptr<state> st, std::string k, const detail::s3::reply& head)
        : st_(std::move(st)), key_(std::move(k)) {
      const std::string len = head.header("content-length");
      size_ = len.empty() ? 0 : std::stoull(len);
      etag_ = head.header("etag");
      const std::string e = detail::s3::unquote(etag_);
      const std::string part = head.header("x-amz-meta-hone-part-size");
      if (e.size() == 32 && e.find('-') == std::string::npos) {
        expected_ = e;
      } else if (auto dash = e.find('-'); dash == 32 && !part.empty()) {
        expected_ = e;
        part_size_ = std::stoull(part);
      }
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
    std::uint64_t range_end(std::uint64_t from) const {
      return std::min<std::uint64_t>(size_, from + st_->opt.download_chunk_size) - 1;
    }

    /// Takes the range at pos_ (read ahead, or fetched now) and starts reading the next one.
    void fetch() {
      detail::s3::reply r = ahead_.valid() ? ahead_.get() : get_range(pos_);
      chunk_ = std::move(r.body);
      at_ = 0;
      pos_ = range_end(pos_) + 1;
      if (pos_ < size_) ahead_ = std::async(std::launch::async, [this, from = pos_] { return get_range(from); });
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

// An in-process fake S3 server for the tests of s3_destination, on 127.0.0.1 and an ephemeral
// port. It holds objects in memory and enforces what a real server may not: R2's rule that
// every part but the last has the same size, no Transfer-Encoding: chunked, a Content-MD5 on
// every PutObject/UploadPart, the payload hash, no x-amz-checksum-*. Tests inject faults (a
// status with an S3 code, a delay, a dropped connection) per request.
#pragma once

#include <hone/backup/destinations/s3_destination.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace fake_s3 {

namespace s3 = hone::backup::detail::s3;

struct request {
  std::string method, path, query_string;
  std::string bucket, key;
  std::map<std::string, std::string> query;    ///< decoded
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
  std::string operation;  ///< PutObject, UploadPart, ... as the server understood it
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct fault {
  int status = 0;  ///< 0: no status, only the delay / drop
  std::string code;
  std::chrono::milliseconds delay{0};
  bool drop = false;  ///< close the connection without an answer
  std::string etag;   ///< answer normally but with this ETag
  bool hang = false;  ///< never answer (until the server stops)
  /// Answer with exactly this (status, headers, body) instead of serving the request.
  struct canned {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string content_length;  ///< sent instead of the body's length when set
  };
  std::optional<canned> answer;
  /// Answer 200 with a Content-Length of drip.size(), then one byte of it per drip_interval.
  std::string drip;
  std::chrono::milliseconds drip_interval{1000};
  /// PutObject: store other bytes (one flipped) and answer the MD5 of those sent;
  /// CompleteMultipartUpload: assemble one byte short and answer the parts' ETag.
  bool store_other = false;
};
inline fault hang() {
  fault f;
  f.hang = true;
  return f;
}
inline fault answer(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  fault f;
  f.answer = fault::canned{status, std::move(headers), std::move(body), {}};
  return f;
}
inline fault drip(std::string body, std::chrono::milliseconds every = std::chrono::milliseconds(1000)) {
  fault f;
  f.drip = std::move(body);
  f.drip_interval = every;
  return f;
}
inline fault store_other() {
  fault f;
  f.store_other = true;
  return f;
}
/// An HTML page, as a web server that is not S3 answers everything.
inline fault html_page(int status = 200) {
  return answer(status, "<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works!</body></html>",
                {{"Content-Type", "text/html; charset=utf-8"}});
}
inline fault status(int code, std::string s3_code = {}) {
  fault f;
  f.status = code;
  f.code = std::move(s3_code);
  return f;
}
inline fault delay(std::chrono::milliseconds d) {
  fault f;
  f.delay = d;
  return f;
}
inline fault drop() {
  fault f;
  f.drop = true;
  return f;
}
inline fault wrong_etag(std::string etag) {
  fault f;
  f.etag = std::move(etag);
  return f;
}

class server {
 public:
  server() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 64) != 0)
      throw std::runtime_error("fake S3: cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~server() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    accept_thread_.join();
    std::vector<std::thread> ts;
    {
      std::lock_guard lk(m_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      ts.swap(connections_);
    }
    for (auto& t : ts) t.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// Called for every request before it is served; a fault replaces or delays the answer.
  std::function<std::optional<fault>(const request&)> inject;
  std::size_t max_keys = 1000;      ///< ListObjectsV2 page size
  bool conditional_writes = true;   ///< false: If-None-Match answers 501 NotImplemented (like Swift)
  std::size_t min_part = 5u << 20;  ///< EntityTooSmall below this (all parts but the last)

  // What happened (guarded by m()).
  std::mutex& m() { return m_; }
  std::map<std::string, std::string> objects;  ///< key -> bytes
  std::map<std::string, std::map<std::string, std::string>> object_meta;
  struct upload {
    std::string key;
    std::map<int, std::string> parts;
    std::map<std::string, std::string> meta;
  };
  std::map<std::string, upload> uploads;
  std::vector<std::string> log;         ///< "OPERATION key" per request served
  std::vector<std::string> violations;  ///< rules a client broke
  int max_parallel_parts = 0;

  /// Puts other bytes under a key, as another program would (a new ETag).
  void replace(const std::string& key, const std::string& bytes) {
    std::lock_guard lk(m_);
    objects[key] = bytes;
    object_meta[key] = {};
    etags_[key] = md5_hex(bytes);
  }

  /// Requests of an operation on keys other than the destination's markers (.hone-content/).
  int count_data(const std::string& op) {
    std::lock_guard lk(m_);
    return static_cast<int>(std::count_if(log.begin(), log.end(), [&](const std::string& l) {
      return l.rfind(op + " ", 0) == 0 && l.find("/.hone-content/") == std::string::npos;
    }));
  }

  int count(const std::string& op) {
    std::lock_guard lk(m_);
    return static_cast<int>(
        std::count_if(log.begin(), log.end(), [&](const std::string& l) { return l.rfind(op + " ", 0) == 0; }));
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lk(m_);
      open_fds_.push_back(fd);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static bool read_line_block(int fd, std::string& buf, std::string& head) {
    for (;;) {
      auto end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        head = buf.substr(0, end);
        buf.erase(0, end + 4);
        return true;
      }
      char tmp[65536];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

  static std::string decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  void serve(int fd) {
    std::string buf;
    for (;;) {
      std::string head;
      if (!read_line_block(fd, buf, head)) break;
      request r;
      std::size_t line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      auto sp1 = first.find(' '), sp2 = first.rfind(' ');
      r.method = first.substr(0, sp1);
      std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
      auto qpos = target.find('?');
      r.path = target.substr(0, qpos);
      if (qpos != std::string::npos) r.query_string = target.substr(qpos + 1);
      for (std::size_t at = line_end; at != std::string::npos && at < head.size();) {
        auto next = head.find("\r\n", at + 2);
        std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        at = next;
        auto c = line.find(':');
        if (c == std::string::npos) continue;
        std::string name = s3::lower(line.substr(0, c));
        std::string value = line.substr(c + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers[name] = value;
      }
      if (!r.header("transfer-encoding").empty()) {
        violation("Transfer-Encoding: " + r.header("transfer-encoding") + " on " + r.method + " " + r.path);
        respond(fd, 411, {}, error_xml("MissingContentLength", "chunked uploads are refused"));
        break;
      }
      const std::size_t length = r.header("content-length").empty() ? 0 : std::stoul(r.header("content-length"));
      while (buf.size() < length) {
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return close_fd(fd);
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      r.body = buf.substr(0, length);
      buf.erase(0, length);
      for (std::size_t at = 0; at <= r.query_string.size() && !r.query_string.empty();) {
        auto amp = r.query_string.find('&', at);
        std::string pair = r.query_string.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
        auto eq = pair.find('=');
        r.query[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
        if (amp == std::string::npos) break;
        at = amp + 1;
      }
      std::string p = decode(r.path);
      auto slash = p.find('/', 1);
      r.bucket = p.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
      r.key = slash == std::string::npos ? "" : p.substr(slash + 1);
      r.operation = operation(r);
      if (!handle(fd, r)) break;
    }
    close_fd(fd);
  }

  void close_fd(int fd) {
    std::lock_guard lk(m_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    ::close(fd);
  }

  static std::string operation(const request& r) {
    if (r.method == "GET" && r.key.empty()) return r.query.count("uploads") ? "ListMultipartUploads" : "ListObjectsV2";
    if (r.method == "PUT" && r.key.empty()) return "CreateBucket";
    if (r.method == "POST" && r.query.count("uploads")) return "CreateMultipartUpload";
    if (r.method == "POST" && r.query.count("uploadId")) return "CompleteMultipartUpload";
    if (r.method == "PUT" && r.query.count("uploadId")) return "UploadPart";
    if (r.method == "DELETE" && r.query.count("uploadId")) return "AbortMultipartUpload";
    if (r.method == "PUT") return "PutObject";
    if (r.method == "GET") return "GetObject";
    if (r.method == "HEAD") return "HeadObject";
    if (r.method == "DELETE") return "DeleteObject";
    return "Unknown";
  }

  void violation(const std::string& v) {
    std::lock_guard lk(m_);
    violations.push_back(v);
  }

  static std::string error_xml(const std::string& code, const std::string& message) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" +
           s3::xml_escape(message) + "</Message></Error>";
  }

  static void send_all(int fd, const std::string& s) {
    std::size_t at = 0;
    while (at < s.size()) {
      ssize_t n = ::send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;
      at += static_cast<std::size_t>(n);
    }
  }

  static void respond(int fd, int status, std::vector<std::pair<std::string, std::string>> headers,
                      const std::string& body, bool head = false) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
    for (auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "Date: " + http_date() + "\r\n\r\n";
    if (!head) out += body;
    send_all(fd, out);
  }

  static std::string http_date() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char b[64];
    std::strftime(b, sizeof b, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return b;
  }

  static std::string md5_hex(const std::string& s) {
    return s3::to_hex(s3::md5(std::as_bytes(std::span(s.data(), s.size()))));
  }

  /// Checks what every request must carry; an error answer when it does not.
  std::optional<std::pair<int, std::string>> check(const request& r) {
    if (r.header("x-amz-content-sha256") != s3::sha256_hex(r.body)) {
      violation("payload hash does not match on " + r.operation);
      return std::pair{400, error_xml("XAmzContentSHA256Mismatch", "payload hash mismatch")};
    }
    for (const auto& [k, v] : r.headers)
      if (k.rfind("x-amz-checksum", 0) == 0) violation(k + " sent on " + r.operation);
    if (r.operation == "PutObject" || r.operation == "UploadPart") {
      const std::string md5 = r.header("content-md5");
      if (md5.empty())
        violation("no Content-MD5 on " + r.operation);
      else if (md5 != s3::to_base64(s3::md5(std::as_bytes(std::span(r.body.data(), r.body.size())))))
        return std::pair{400, error_xml("BadDigest", "Content-MD5 does not match")};
    }
    if (r.header("authorization").rfind("AWS4-HMAC-SHA256 Credential=", 0) != 0) {
      violation("unsigned " + r.operation);
      return std::pair{403, error_xml("AccessDenied", "unsigned")};
    }
    return std::nullopt;
  }

  struct parallel_guard {
    server& s;
    bool on;
    parallel_guard(server& sv, bool active) : s(sv), on(active) {
      if (!on) return;
      int now = ++s.parts_now_;
      std::lock_guard lk(s.m_);
      s.max_parallel_parts = std::max(s.max_parallel_parts, now);
    }
    ~parallel_guard() {
      if (on) --s.parts_now_;
    }
  };

  /// Serves one request; false closes the connection.
  bool handle(int fd, const request& r) {
    parallel_guard pg(*this, r.operation == "UploadPart");
    std::optional<fault> f;
    if (inject) f = inject(r);
    {
      std::lock_guard lk(m_);
      log.push_back(r.operation + " " + r.key);
    }
    if (f && f->delay.count() > 0) pause(f->delay);
    if (f && f->hang) {
      while (!stopping_) pause(std::chrono::milliseconds(50));
      return false;
    }
    if (f && f->drop) return false;
    if (f && f->answer) {
      std::string out = "HTTP/1.1 " + std::to_string(f->answer->status) + " X\r\n";
      for (auto& [k, v] : f->answer->headers) out += k + ": " + v + "\r\n";
      out += "Content-Length: " +
             (f->answer->content_length.empty() ? std::to_string(f->answer->body.size()) : f->answer->content_length) +
             "\r\n\r\n";
      if (r.method != "HEAD") out += f->answer->body;
      send_all(fd, out);
      return f->answer->content_length.empty();
    }
    if (f && !f->drip.empty()) {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: " +
                       std::to_string(f->drip.size()) + "\r\n\r\n");
      for (char ch : f->drip) {
        if (stopping_ || ::send(fd, &ch, 1, MSG_NOSIGNAL) != 1) return false;
        pause(f->drip_interval);
      }
      return true;
    }
    if (f && f->status) {
      respond(fd, f->status, {}, f->code.empty() ? "" : error_xml(f->code, "injected"), r.method == "HEAD");
      return true;
    }
    if (auto bad = check(r)) {
      respond(fd, bad->first, {}, bad->second, r.method == "HEAD");
      return true;
    }
    std::lock_guard lk(m_);
    const bool head = r.method == "HEAD";
    auto etag_of = [&](const std::string& computed) {
      return "\"" + (f && !f->etag.empty() ? f->etag : computed) + "\"";
    };
    if (r.operation == "CreateBucket") return respond(fd, 200, {}, ""), true;
    if (r.operation == "PutObject") {
      if (!r.header("if-none-match").empty()) {
        if (!conditional_writes) return respond(fd, 501, {}, error_xml("NotImplemented", "no conditional PUT")), true;
        if (objects.count(r.key)) return respond(fd, 412, {}, error_xml("PreconditionFailed", "exists")), true;
      }
      std::string stored = r.body;
      if (f && f->store_other) {
        if (stored.empty())
          stored = "x";
        else
          stored[0] = static_cast<char>(stored[0] ^ 1);
      }
      objects[r.key] = stored;
      object_meta[r.key] = {};
      for (auto& [k, v] : r.headers)
        if (k.rfind("x-amz-meta-", 0) == 0) object_meta[r.key][k] = v;
      etags_[r.key] = md5_hex(stored);
      respond(fd, 200, {{"ETag", etag_of(md5_hex(r.body))}}, "");
      return true;
    }
    if (r.operation == "HeadObject" || r.operation == "GetObject") {
      auto it = objects.find(r.key);
      if (it == objects.end())
        return respond(fd, 404, {}, head ? "" : error_xml("NoSuchKey", "no such key"), head), true;
      std::vector<std::pair<std::string, std::string>> h{{"ETag", "\"" + etag(r.key) + "\""},
                                                         {"Last-Modified", http_date()}};
      for (auto& [k, v] : object_meta[r.key]) h.emplace_back(k, v);
      const std::string im = r.header("if-match");
      if (!im.empty() && im != "\"" + etag(r.key) + "\"")
        return respond(fd, 412, {}, error_xml("PreconditionFailed", "etag"), head), true;
      const std::string range = r.header("range");
      if (!range.empty() && !head) {
        const auto eq = range.find('='), dash = range.find('-');
        const std::size_t a = std::stoul(range.substr(eq + 1, dash - eq - 1));
        const std::size_t b = std::min(std::stoul(range.substr(dash + 1)), it->second.size() - 1);
        h.emplace_back("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                                            std::to_string(it->second.size()));
        respond(fd, 206, h, it->second.substr(a, b - a + 1));
        return true;
      }
      if (head) {
        std::string out = "HTTP/1.1 200 OK\r\n";
        for (auto& [k, v] : h) out += k + ": " + v + "\r\n";
        out += "Content-Length: " + std::to_string(it->second.size()) + "\r\n\r\n";
        send_all(fd, out);
        return true;
      }
      respond(fd, 200, h, it->second);
      return true;
    }
    if (r.operation == "DeleteObject") {
      objects.erase(r.key);
      return respond(fd, 204, {}, ""), true;
    }
    if (r.operation == "CreateMultipartUpload") {
      const std::string id = "upload-" + std::to_string(++next_id_);
      uploads[id].key = r.key;
      for (auto& [k, v] : r.headers)
        if (k.rfind("x-amz-meta-", 0) == 0) uploads[id].meta[k] = v;
      respond(fd, 200, {},
              "<InitiateMultipartUploadResult><Bucket>" + r.bucket + "</Bucket><Key>" + s3::xml_escape(r.key) +
                  "</Key><UploadId>" + id + "</UploadId></InitiateMultipartUploadResult>");
      return true;
    }
    auto up = uploads.find(r.query.count("uploadId") ? r.query.at("uploadId") : "");
    if (r.operation == "UploadPart") {
      if (up == uploads.end()) return respond(fd, 404, {}, error_xml("NoSuchUpload", "no such upload")), true;
      up->second.parts[std::stoi(r.query.at("partNumber"))] = r.body;
      respond(fd, 200, {{"ETag", etag_of(md5_hex(r.body))}}, "");
      return true;
    }
    if (r.operation == "AbortMultipartUpload") {
      if (up == uploads.end()) return respond(fd, 404, {}, error_xml("NoSuchUpload", "no such upload")), true;
      uploads.erase(up);
      return respond(fd, 204, {}, ""), true;
    }
    if (r.operation == "CompleteMultipartUpload") {
      if (up == uploads.end()) return respond(fd, 404, {}, error_xml("NoSuchUpload", "no such upload")), true;
      if (!r.header("if-none-match").empty() && objects.count(up->second.key))
        return respond(fd, 412, {}, error_xml("PreconditionFailed", "exists")), true;
      const auto listed = s3::xml_elements(r.body, "Part");
      std::string all, md5s;
      std::size_t first_size = 0;
      for (std::size_t i = 0; i < listed.size(); ++i) {
        const int n = std::stoi(s3::xml_text(listed[i], "PartNumber"));
        auto p = up->second.parts.find(n);
        if (p == up->second.parts.end() || s3::unquote(s3::xml_text(listed[i], "ETag")) != md5_hex(p->second))
          return respond(fd, 400, {}, error_xml("InvalidPart", "part " + std::to_string(n))), true;
        const bool last = i + 1 == listed.size();
        if (i == 0) first_size = p->second.size();
        if (!last && p->second.size() < min_part)
          return respond(fd, 400, {}, error_xml("EntityTooSmall", "part " + std::to_string(n))), true;
        if (!last && p->second.size() != first_size) {
          violations.push_back("unequal parts");
          return respond(fd, 400, {}, error_xml("InvalidPart", "All non-trailing parts must have the same length.")),
                 true;
        }
        all += p->second;
        const auto d = s3::md5(std::as_bytes(std::span(p->second.data(), p->second.size())));
        md5s.append(reinterpret_cast<const char*>(d.data()), d.size());
      }
      const std::string etag = md5_hex(md5s) + "-" + std::to_string(listed.size());
      if (f && f->store_other && !all.empty()) all.pop_back();  // assembled short, same ETag
      objects[up->second.key] = all;
      object_meta[up->second.key] = up->second.meta;
      etags_[up->second.key] = etag;
      const std::string key = up->second.key;
      uploads.erase(up);
      respond(fd, 200, {},
              "<CompleteMultipartUploadResult><Key>" + s3::xml_escape(key) + "</Key><ETag>&quot;" +
                  (f && !f->etag.empty() ? f->etag : etag) + "&quot;</ETag></CompleteMultipartUploadResult>");
      return true;
    }
    if (r.operation == "ListObjectsV2") {
      const std::string prefix = r.query.count("prefix") ? r.query.at("prefix") : "";
      const std::string after = r.query.count("continuation-token") ? r.query.at("continuation-token") : "";
      std::string body = "<ListBucketResult>";
      std::size_t n = 0;
      std::string last;
      bool truncated = false;
      for (auto it = after.empty() ? objects.begin() : objects.upper_bound(after); it != objects.end(); ++it) {
        if (it->first.rfind(prefix, 0) != 0) continue;
        if (n == max_keys) {
          truncated = true;
          break;
        }
        body += "<Contents><Key>" + s3::xml_escape(it->first) +
                "</Key><LastModified>2024-01-15T14:30:22.000Z</LastModified><ETag>&quot;" + etag(it->first) +
                "&quot;</ETag><Size>" + std::to_string(it->second.size()) + "</Size></Contents>";
        last = it->first;
        ++n;
      }
      body += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
      if (truncated) body += "<NextContinuationToken>" + s3::xml_escape(last) + "</NextContinuationToken>";
      respond(fd, 200, {}, body + "</ListBucketResult>");
      return true;
    }
    if (r.operation == "ListMultipartUploads") {
      const std::string prefix = r.query.count("prefix") ? r.query.at("prefix") : "";
      std::string body = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>";
      for (auto& [id, u] : uploads)
        if (u.key.rfind(prefix, 0) == 0)
          body += "<Upload><Key>" + s3::xml_escape(u.key) + "</Key><UploadId>" + id + "</UploadId></Upload>";
      respond(fd, 200, {}, body + "</ListMultipartUploadsResult>");
      return true;
    }
    respond(fd, 400, {}, error_xml("InvalidRequest", "unknown operation"));
    return true;
  }

  /// Sleeps, ending early when the server stops.
  void pause(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!stopping_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
  }

  /// The ETag given when the object was written (a test that changes the bytes behind it
  /// leaves it as it was, like a disk that flips a bit).
  std::string etag(const std::string& key) {
    auto it = etags_.find(key);
    return it != etags_.end() ? it->second : md5_hex(objects[key]);
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> parts_now_{0};
  std::thread accept_thread_;
  std::mutex m_;
  std::vector<std::thread> connections_;
  std::vector<int> open_fds_;
  std::map<std::string, std::string> etags_;
  int next_id_ = 0;
};

/// Options of an s3_destination that talks to `s`: the test credentials, 5 MiB parts, one PUT
/// up to 1 MiB, short waits between retries. Each test file adds what it needs.
inline hone::backup::s3_options client_options(const server& s, const std::string& prefix) {
  using namespace std::chrono_literals;
  hone::backup::s3_options o;
  o.endpoint = s.endpoint();
  o.bucket = "bucket";
  o.access_key_id = "AKIDTEST";
  o.secret_access_key = "fake-secret-value";
  o.prefix = prefix;
  o.part_size = 5u << 20;
  o.single_put_threshold = 1u << 20;
  o.retry_base_delay = 10ms;
  o.retry_max_delay = 50ms;
  return o;
}

/// n bytes of a seeded generator.
inline std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n; i += 8) {
    const auto x = rng();
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, n - i));
  }
  return v;
}

/// Everything a reader gives until its end.
inline std::vector<std::byte> read_all(hone::backup::reader& r) {
  std::vector<std::byte> out, buf(50000);
  for (std::size_t n; (n = r.read(buf)) > 0;) out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  return out;
}

inline std::string as_string(const std::vector<std::byte>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

}  // namespace fake_s3

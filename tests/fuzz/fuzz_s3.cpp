// libFuzzer target: the parsers of S3 answers (s3_destination.hpp, client.hpp, xml.hpp), which
// read what any server sends. The first byte picks the answer, the rest is its text:
//   0  a ListObjectsV2 body          -> parse_listing
//   1  a ListMultipartUploads body   -> parse_uploads
//   2  headers ("Name: value" lines) -> parse_head (Content-Length, ETag, the part size)
//   3  an error body, any status     -> client::failure, root_element, xml_text
//   4  a key below the prefix        -> s3_destination::parse_marker (the records in the listing)
// Each must give a checked result or throw hone::backup::error, never crash, leak or throw
// anything else; what it returns must keep the documented bounds.
#include <hone/backup/destinations/s3_destination.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace hb = hone::backup;
namespace s3 = hone::backup::detail::s3;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_s3: invariant failed: %s\n", what);
  std::abort();
}

const s3::client& the_client() {
  static const s3::client c = [] {
    s3::client_settings s;
    s.endpoint = "http://127.0.0.1:9";
    s.bucket = "bucket";
    s.access_key_id = "AKIDFUZZ";
    s.secret_access_key = "fuzz-secret";
    return s3::client(s);
  }();
  return c;
}

/// "Name: value" lines as a reply's headers (names in lower case, as http.hpp gives them).
s3::name_values headers_of(std::string_view text) {
  s3::name_values out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.emplace_back(s3::lower(line.substr(0, colon)), std::string(value));
  }
  return out;
}

void check(std::uint8_t mode, std::string_view text) {
  const auto& cl = the_client();
  s3::call c{"ListObjectsV2", "GET", "", {}, {}, {}};
  s3::reply r;
  r.status = 200;
  r.body = std::string(text);
  switch (mode % 5) {
    case 0: {
      const auto page = s3::parse_listing(cl, c, r);
      if (page.objects.size() > s3::max_keys_per_page) fail("more keys than a page holds");
      for (const auto& o : page.objects) {
        if (o.key.empty() || o.key.size() > s3::max_key_bytes) fail("a key out of bounds");
        if (o.size > s3::max_object_size) fail("a size out of bounds");
      }
      if (page.truncated && page.next_token.empty()) fail("truncated without a token");
      break;
    }
    case 1: {
      c.operation = "ListMultipartUploads";
      const auto page = s3::parse_uploads(cl, c, r);
      if (page.uploads.size() > s3::max_keys_per_page) fail("more uploads than a page holds");
      for (const auto& [k, id] : page.uploads)
        if (k.empty() || id.empty()) fail("an upload without a key or id");
      break;
    }
    case 2: {
      c.operation = "HeadObject";
      c.method = "HEAD";
      c.key = "p/a.db.gz";
      r.headers = headers_of(text);
      r.body.clear();
      const auto h = s3::parse_head(cl, c, r);
      if (h.size > s3::max_object_size) fail("a Content-Length out of bounds");
      if (h.etag.empty()) fail("an object without an ETag");
      if (h.part_size != 0 && (h.part_size < s3::min_part_size || h.part_size > s3::max_part_size))
        fail("a part size out of bounds");
      if (!h.checksum.empty() && h.checksum.size() < 32) fail("a checksum that is no MD5");
      break;
    }
    case 3: {
      c.operation = "PutObject";
      c.method = "PUT";
      c.key = "p/a.db.gz";
      r.status = text.empty() ? 500 : 300 + static_cast<unsigned char>(text[0]) % 300;
      r.headers = {{"content-type", "application/xml"}, {"date", std::string(text.substr(0, 40))}};
      if (s3::client::is_error_document(r.body)) {
        r.code = s3::xml_text(r.body, "Code");
        r.message = s3::xml_text(r.body, "Message");
      }
      const hb::remote_error e = cl.failure(c, r);
      if (std::string_view(e.what()).find("fuzz-secret") != std::string_view::npos) fail("the secret in a message");
      (void)s3::root_element(r.body);
      (void)s3::xml_elements(r.body, "Error");
      break;
    }
    case 4: {
      const auto m = hb::s3_destination::parse_marker(text);
      if (m) {
        if (!hb::s3_destination::listed_name(m->name)) fail("a marker of a name never listed");
        if (m->kind == hb::s3_destination::marker::checksum && m->sha256.size() != 64)
          fail("a SHA-256 of the wrong size");
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    check(data[0], text);
  } catch (const hb::error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_s3: unexpected exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}

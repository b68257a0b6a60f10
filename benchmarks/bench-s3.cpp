// hone-bench-s3: s3_destination's upload and download against a plain `curl` PUT and GET of
// the same file to the same S3 server (a presigned URL, so curl does no signing work), each in
// its own process: wall time, throughput and peak RSS. Needs a server: scripts/s3-server.sh
// start, then eval "$(scripts/s3-server.sh env)".
//   hone-bench-s3 [--size MB] [--reps N] [--scratch DIR]
#include "bench_support.hpp"

#include <hone/backup/destinations/s3_destination.hpp>

#include <iostream>

using namespace hone_bench;
namespace s3 = hb::detail::s3;

namespace {

std::string env(const char* n, const char* fallback = "") {
  const char* v = std::getenv(n);
  return v && *v ? v : fallback;
}

hb::s3_options options(const std::string& bucket) {
  hb::s3_options o;
  o.endpoint = env("HONE_TEST_S3_ENDPOINT");
  o.bucket = bucket;
  o.region = env("HONE_TEST_S3_REGION", "auto");
  o.access_key_id = env("HONE_TEST_S3_ACCESS_KEY_ID", "test:tester");
  o.secret_access_key = env("HONE_TEST_S3_SECRET", "testing");
  return o;
}

/// A presigned URL (query-string SigV4, UNSIGNED-PAYLOAD) for METHOD on the key.
std::string presigned(const hb::s3_options& o, const std::string& method, const std::string& key) {
  const std::string date = s3::amz_date(std::chrono::system_clock::now());
  const std::string authority = o.endpoint.substr(o.endpoint.find("://") + 3);
  s3::signing_input in;
  in.method = method;
  in.path = "/" + o.bucket + "/" + s3::uri_encode(key, true);
  in.query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
              {"X-Amz-Credential", o.access_key_id + "/" + date.substr(0, 8) + "/" + o.region + "/s3/aws4_request"},
              {"X-Amz-Date", date},
              {"X-Amz-Expires", "3600"},
              {"X-Amz-SignedHeaders", "host"}};
  in.headers = {{"host", authority}};
  in.payload_hash = "UNSIGNED-PAYLOAD";
  const auto sig = s3::sign(in, o.access_key_id, o.secret_access_key, o.region, "s3", date);
  return o.endpoint + in.path + "?" + s3::canonical_query_string(in.query) + "&X-Amz-Signature=" + sig.value;
}

/// Runs a program; wall time and its peak RSS.
sample run_program(const std::vector<std::string>& argv) {
  sample s;
  const double t0 = mono_now();
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> a;
    for (auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  s.seconds = mono_now() - t0;
  s.max_rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  s.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!s.ok) s.error = "exit status " + std::to_string(status);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int size_mb = 64, reps = 3;
  fs::path scratch = fs::temp_directory_path() / "hone-bench-s3";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--size")
      size_mb = std::stoi(argv[i + 1]);
    else if (a == "--reps")
      reps = std::stoi(argv[i + 1]);
    else if (a == "--scratch")
      scratch = argv[i + 1];
  }
  if (env("HONE_TEST_S3_ENDPOINT").empty()) {
    std::cout << "hone-bench-s3: skipped, HONE_TEST_S3_ENDPOINT is not set (scripts/s3-server.sh start; eval "
                 "\"$(scripts/s3-server.sh env)\")\n";
    return 0;
  }
  fs::create_directories(scratch);
  const fs::path file = scratch / "payload.bin";
  {
    // Random bytes: an encrypted backup does not compress either.
    auto out = create_file(file);
    std::mt19937_64 rng(7);
    std::vector<std::uint64_t> buf(1u << 17);
    for (int i = 0; i < size_mb; ++i) {
      for (auto& x : buf) x = rng();
      hb::detail::write_all(out.get(), std::as_bytes(std::span(buf)).first(1000000), "write");
    }
  }
  const std::uint64_t bytes = fs::file_size(file);
  const std::string bucket = "hone-bench-" + std::to_string(::getpid());
  {
    s3::client c([&] {
      auto o = options(bucket);
      s3::client_settings s;
      s.endpoint = o.endpoint;
      s.bucket = o.bucket;
      s.region = o.region;
      s.access_key_id = o.access_key_id;
      s.secret_access_key = o.secret_access_key;
      return s;
    }());
    s3::call put{"CreateBucket", "PUT", "", {}, {}, {}};
    auto r = c.send(put);
    if (!r.ok()) throw c.failure(put, r);
  }
  // s3_destination::store of the payload file under `key`.
  auto store_file = [&](const hb::s3_options& o, const std::string& key) {
    hb::s3_destination d(o);
    d.store(key, [&](hb::writer& w) {
      hb::file_reader in(file);
      std::vector<std::byte> b(1u << 20);
      for (std::size_t k; (k = in.read(b)) > 0;) w.write(std::span(b).first(k));
    });
    return json::object();
  };
  std::map<std::string, std::vector<sample>> runs;
  for (int rep = 0; rep < reps; ++rep) {
    const std::string n = "rep" + std::to_string(rep);
    runs["s3_destination upload"].push_back(in_child([&] { return store_file(options(bucket), n + ".lib"); }));
    runs["s3_destination upload, one PUT (part_size above the file size)"].push_back(in_child([&] {
      auto o = options(bucket);
      o.part_size = o.single_put_threshold = bytes + 1;
      return store_file(o, n + ".one");
    }));
    runs["SHA-256 + MD5 of the file, 8 MiB at a time (the hashing an upload does)"].push_back(in_child([&] {
      hb::file_reader in(file);
      std::vector<std::byte> b(8u << 20);
      unsigned char sink = 0;
      for (std::size_t k; (k = in.read(b)) > 0;) {
        sink ^= s3::sha256(std::span(b).first(k))[0];
        sink ^= s3::md5(std::span(b).first(k))[0];
      }
      return json{{"sink", sink}};
    }));
    runs["s3_destination download (open + read to a file)"].push_back(in_child([&] {
      hb::s3_destination d(options(bucket));
      auto in = d.open(n + ".lib");
      auto out = create_file(scratch / "download.bin");
      std::vector<std::byte> b(1u << 20);
      for (std::size_t k; (k = in->read(b)) > 0;) hb::detail::write_all(out.get(), std::span(b).first(k), "write");
      return json::object();
    }));
    runs["curl PUT of the file (presigned URL)"].push_back(run_program(
        {"curl", "-sf", "-o", "/dev/null", "-T", file.string(), presigned(options(bucket), "PUT", n + ".curl")}));
    runs["curl GET to a file (presigned URL)"].push_back(run_program(
        {"curl", "-sf", "-o", (scratch / "curl.bin").string(), presigned(options(bucket), "GET", n + ".curl")}));
  }
  std::cout << "#### S3 transfer of a " << size_mb << " MB file to the local S3 server ("
            << env("HONE_TEST_S3_ENDPOINT") << "), medians of " << reps
            << "\n\n| operation | median s | MB/s | peak RSS |\n|---|---:|---:|---:|\n";
  json out = json::array();
  for (const char* name : {"s3_destination upload", "s3_destination upload, one PUT (part_size above the file size)",
                           "SHA-256 + MD5 of the file, 8 MiB at a time (the hashing an upload does)",
                           "curl PUT of the file (presigned URL)", "s3_destination download (open + read to a file)",
                           "curl GET to a file (presigned URL)"}) {
    std::vector<double> t, rss;
    for (auto& s : runs[name]) {
      if (!s.ok) {
        std::cout << "| " << name << " | failed: " << s.error << " | | |\n";
        return 1;
      }
      t.push_back(s.seconds);
      rss.push_back(s.max_rss_mib);
    }
    const double med = median(t);
    char line[256];
    std::snprintf(line, sizeof line, "| %s | %.3f | %.0f | %.1f MiB |\n", name, med,
                  static_cast<double>(bytes) / 1e6 / med, median(rss));
    std::cout << line;
    out.push_back({{"operation", name},
                   {"seconds", med},
                   {"mb_per_s", static_cast<double>(bytes) / 1e6 / med},
                   {"peak_rss_mib", median(rss)}});
  }
  std::cout << "\n" << out.dump() << "\n";
  fs::remove_all(scratch);
  return 0;
}

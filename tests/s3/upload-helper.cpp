// Test helper: starts a multipart upload to an S3 server and never finishes it, so that a test
// can kill it with SIGKILL in the middle. Prints "uploading" once the first part is stored.
//   s3-upload-helper ENDPOINT BUCKET PREFIX NAME   (credentials from HONE_TEST_S3_*)
#include "s3_support.hpp"

#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ENDPOINT BUCKET PREFIX NAME\n", argv[0]);
    return 2;
  }
  auto o = hone_s3_test::the_server().options(argv[2], argv[3]);
  o.endpoint = argv[1];
  o.part_size = 5u << 20;
  o.parallel_parts = 1;
  hone::backup::s3_destination d(o);
  std::vector<std::byte> chunk(1u << 20, std::byte{0x5a});
  d.store(argv[4], [&](hone::backup::writer& w) {
    for (int i = 0;; ++i) {
      w.write(chunk);
      if (i == 11) {  // two parts are out (the second one once the third begins)
        std::puts("uploading");
        std::fflush(stdout);
      }
      if (i > 11) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  return 1;
}

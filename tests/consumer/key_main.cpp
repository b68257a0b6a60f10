// The consumer of the optional Argon2 component: built in scripts/test.sh's consumers leg with
// nothing but `pkg-config --cflags --libs hone-backup-argon2`. It derives Hone's key for a fixed
// passphrase and compares it with the value Debian's `argon2` tool gives for the same
// parameters (echo -n consumer-passphrase | argon2 hone-salt-v1-fix -id -t 2 -k 19456 -p 1
// -l 32 -r). It exits 0 only when they are equal.
#include <hone/backup.hpp>
#include <hone/backup/hone_key.hpp>

#include <cstdio>
#include <string>

int main() {
  static constexpr char expected[] = "730e2530b2c67e8168f6903b35bc91d4faff833c562922c246facfba09cddcd5";
  std::string hex;
  for (std::byte b : hone::backup::hone_derive("consumer-passphrase")) {
    static constexpr char digits[] = "0123456789abcdef";
    hex += digits[static_cast<unsigned>(b) >> 4];
    hex += digits[static_cast<unsigned>(b) & 15];
  }
  if (hex != expected) {
    std::fprintf(stderr, "hone_derive gave %s, expected %s\n", hex.c_str(), expected);
    return 1;
  }
  std::printf("consumer (hone-backup-argon2 %s): Hone's key derivation matches\n",
              std::string(hone::backup::version).c_str());
  return 0;
}

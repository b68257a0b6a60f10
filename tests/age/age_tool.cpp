// age-tool: the library's age codec as a filter from standard input to standard output, so that
// tests can pit it against the age program. Secrets never come on the command line:
//   age-tool keygen                            prints a new identity file (public key comment, secret)
//   age-tool encrypt-passphrase [LOG2_WORK]     passphrase from AGE_TOOL_PASSPHRASE
//   age-tool decrypt-passphrase [MAX_LOG2_WORK] passphrase from AGE_TOOL_PASSPHRASE
//   age-tool encrypt-x25519 RECIPIENT...       age1... public keys
//   age-tool decrypt-x25519 IDENTITY_FILE      a file of AGE-SECRET-KEY-1... lines (# comments)
// Errors go to standard error as "age-tool: CODE: MESSAGE" with exit status 1; 2 for misuse.
#include <hone/backup.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace hb = hone::backup;
namespace age = hone::backup::age;

namespace {

std::string passphrase() {
  const char* p = std::getenv("AGE_TOOL_PASSPHRASE");
  if (!p) throw hb::invalid_argument_error("AGE_TOOL_PASSPHRASE is not set");
  return p;
}

std::vector<age::identity> identities_from(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw hb::io_error("cannot read the identity file " + path);
  std::vector<age::identity> ids;
  for (std::string line; std::getline(f, line);)
    if (!line.empty() && line[0] != '#') ids.push_back(age::x25519_identity{line});
  return ids;
}

void copy(hb::reader& in, hb::writer& out) {
  std::vector<std::byte> buf(100000);
  while (std::size_t n = in.read(buf)) out.write(std::span(buf).first(n));
}

void encrypt(const std::vector<age::recipient>& to) {
  hb::file_reader in(hb::detail::unique_fd(::dup(0)), "standard input");
  hb::file_writer out(hb::detail::unique_fd(::dup(1)), "standard output", hb::durability::scratch);
  age::encrypting_writer w(out, to);
  copy(in, w);
  w.finish();
  out.finish();
}

void decrypt(const std::vector<age::identity>& with) {
  hb::file_reader in(hb::detail::unique_fd(::dup(0)), "standard input");
  hb::file_writer out(hb::detail::unique_fd(::dup(1)), "standard output", hb::durability::scratch);
  age::decrypting_reader r(in, with);
  copy(r, out);
  out.finish();
}

int run(const std::vector<std::string>& args) {
  const std::string& cmd = args.at(0);
  if (cmd == "keygen" && args.size() == 1) {
    const auto id = age::generate_x25519_identity();
    std::printf("# public key: %s\n%s\n", age::x25519_public_key(id).c_str(), id.secret_key.c_str());
  } else if (cmd == "encrypt-passphrase" && args.size() <= 2) {
    encrypt({age::scrypt_recipient{passphrase(), args.size() == 2 ? std::stoi(args[1]) : 15}});
  } else if (cmd == "decrypt-passphrase" && args.size() <= 2) {
    decrypt({age::passphrase_identity{passphrase(), args.size() == 2 ? std::stoi(args[1]) : 22}});
  } else if (cmd == "encrypt-x25519" && args.size() >= 2) {
    std::vector<age::recipient> to;
    for (std::size_t i = 1; i < args.size(); ++i) to.push_back(age::x25519_recipient{args[i]});
    encrypt(to);
  } else if (cmd == "decrypt-x25519" && args.size() == 2) {
    decrypt(identities_from(args[1]));
  } else {
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: age-tool keygen|encrypt-passphrase|decrypt-passphrase|encrypt-x25519|decrypt-x25519\n", stderr);
    return 2;
  }
  try {
    const int rc = run(std::vector<std::string>(argv + 1, argv + argc));
    if (rc == 2) std::fputs("age-tool: wrong arguments\n", stderr);
    return rc;
  } catch (const hb::error& e) {
    std::fprintf(stderr, "age-tool: %s: %s\n", std::string(hb::to_string(e.code())).c_str(), e.what());
    return 1;
  }
}

#include "config/environment.hpp"

#include "core/app.hpp"
#include "core/log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone_app {

namespace {

constexpr std::size_t max_secret_bytes = 64 * 1024;

/// Warns once per variable that its file is readable by group or others.
void warn_if_shared(const std::string& var, const std::string& path, mode_t mode) {
  if ((mode & (S_IRGRP | S_IROTH)) == 0) return;
  static std::mutex m;
  static std::set<std::string> warned;
  std::lock_guard lk(m);
  if (!warned.insert(var).second) return;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode & 07777));
  log_warn(var + " names " + path + ", which group or others may read (mode " + octal +
           "); make it readable by this program's user only (chmod 600 or 400)");
}

std::string read_secret_file(const std::string& var, const std::string& path) {
  auto fail = [&](const std::string& why) -> usage_error {
    return usage_error("cannot read the secret file of " + var + " (" + path + "): " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_secret_bytes) throw fail("larger than 64 KiB");
  warn_if_shared(var, path, st.st_mode);
  std::string value;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail(std::strerror(errno));
    if (n == 0) break;
    value.append(buf, static_cast<std::size_t>(n));
    if (value.size() > max_secret_bytes) throw fail("larger than 64 KiB");
  }
  ::explicit_bzero(buf, sizeof buf);
  if (value.ends_with("\r\n"))  // one newline, as an editor or `echo` leaves it
    value.resize(value.size() - 2);
  else if (value.ends_with('\n'))
    value.pop_back();
  if (value.empty()) throw fail("the file is empty");
  if (value.find('\0') != std::string::npos) throw fail("the file holds a NUL byte");
  return value;
}

}  // namespace

const char* env_value(const char* name) { return std::getenv(name); }

std::string env(const char* name) {
  const char* v = env_value(name);
  return v ? v : "";
}

std::optional<std::string> secret(const char* name) {
  const std::string file_var = std::string(name) + "_FILE";
  const std::string direct = env(name);
  const std::string file = env(file_var.c_str());
  if (!direct.empty() && !file.empty())
    throw usage_error(std::string(name) + " and " + file_var + " are both set: set only one of them");
  if (!file.empty()) return read_secret_file(file_var, file);
  if (!direct.empty()) return direct;
  return std::nullopt;
}

}  // namespace hone_app

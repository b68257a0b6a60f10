#include "config/hardening.hpp"

#include "core/log.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace hone_app {

void drop_from_environment(const char* name) {
  const std::size_t n = std::strlen(name);
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
      char* value = *e + n + 1;
      ::explicit_bzero(value, std::strlen(value));
    }
  }
  ::unsetenv(name);
}

void disable_core_dumps() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    log_warn(std::string("cannot disable core dumps (RLIMIT_CORE): ") + std::strerror(errno));
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    log_warn(std::string("cannot make the process non-dumpable (PR_SET_DUMPABLE): ") + std::strerror(errno));
}

}  // namespace hone_app

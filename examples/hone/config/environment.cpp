#include "config/environment.hpp"

#include <cstdlib>

namespace hone_app {

const char* env_value(const char* name) { return std::getenv(name); }

std::string env(const char* name) {
  const char* v = env_value(name);
  return v ? v : "";
}

}  // namespace hone_app

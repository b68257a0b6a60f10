// The one reader of the program's environment (HONE_*, HOME, XDG_DATA_HOME, TMPDIR, TERM, NO_COLOR): every
// variable the program reads goes through env_value or env. What each variable means, and the
// checks of its value, are with the setting it configures (config.hpp, offsite_settings.hpp,
// failure_hook.hpp, server.cpp, app.cpp).
#pragma once
#include <string>

namespace hone_app {

/// The variable's value, or null when it is not set (set and empty is "").
const char* env_value(const char* name);

/// The variable's value; empty when it is not set.
std::string env(const char* name);

}  // namespace hone_app

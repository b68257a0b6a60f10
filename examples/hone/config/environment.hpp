// The one reader of the program's environment (HONE_*, HOME, XDG_DATA_HOME, TMPDIR): every
// variable the program reads goes through env_value, env or secret. What each variable means,
// and the checks of its value, are with the setting it configures (config.hpp,
// offsite_settings.hpp, failure_hook.hpp, server.cpp, app.cpp).
#pragma once
#include <optional>
#include <string>

namespace hone_app {

/// The variable's value, or null when it is not set (set and empty is "").
const char* env_value(const char* name);

/// The variable's value; empty when it is not set.
std::string env(const char* name);

/// A secret (HONE_DB_KEY, HONE_API_TOKEN, HONE_R2_SECRET_ACCESS_KEY): the variable NAME, or the
/// contents of the file named by NAME_FILE (a Docker secret under /run/secrets, a systemd
/// credential under $CREDENTIALS_DIRECTORY), one trailing newline removed. nullopt when neither
/// is set (an empty NAME counts as unset). Throws usage_error when both are set, and when the
/// file cannot be read, is empty, holds a NUL byte or is larger than 64 KiB; the message names
/// the variable and the path, never the contents. A file that group or others may read gets a
/// warning (once per variable).
std::optional<std::string> secret(const char* name);

}  // namespace hone_app

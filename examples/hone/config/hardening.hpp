// Keeping the server's secrets out of reach of other processes and of crash files.
#pragma once

namespace hone_app {

/// Overwrites the value of environment variable `name` in place (the process's original
/// environment block is what /proc/PID/environ shows) and removes the variable. Call it before
/// any other thread may read the environment.
void drop_from_environment(const char* name);

/// No core dumps (RLIMIT_CORE 0) and not dumpable (PR_SET_DUMPABLE 0: no ptrace attach by other
/// processes of the same user, /proc/PID files owned by root). Logs a warning on failure.
void disable_core_dumps();

}  // namespace hone_app

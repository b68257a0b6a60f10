// The standard process metrics of a Prometheus target (process_start_time_seconds,
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds), read from /proc/self at each scrape as the client
// libraries do. A value that cannot be read is left out, its family still declared.
#pragma once

#include <string>

namespace hone_app {

/// Appends the process_* families, in the text exposition format, to `out`.
void render_process_metrics(std::string& out);

}  // namespace hone_app

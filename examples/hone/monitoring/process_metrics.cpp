#include "monitoring/process_metrics.hpp"

#include "monitoring/metrics.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace hone_app {

namespace {

/// What /proc/self/stat and /proc/stat tell (proc(5)).
struct proc_stat {
  double cpu_seconds = 0;  ///< utime + stime
  double start_time = 0;   ///< Unix time
  double resident_bytes = 0;
  double virtual_bytes = 0;
};

/// "btime" of /proc/stat: when the machine booted (Unix time).
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      if (in >> t) return t;
      return std::nullopt;
    }
    in.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

std::optional<proc_stat> read_proc_stat() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: the fields after it start
  // after its last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string w; rest >> w;) f.push_back(w);
  if (f.size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  auto boot = boot_time();
  if (ticks <= 0 || page <= 0 || !boot) return std::nullopt;
  try {
    proc_stat s;
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // fields 14, 15
    s.start_time = *boot + std::stod(f[19]) / ticks;                // field 22
    s.virtual_bytes = std::stod(f[20]);                             // field 23
    s.resident_bytes = std::stod(f[21]) * page;                     // field 24
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  if (ec) return std::nullopt;
  return n;
}

std::optional<double> max_fds() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<double>(r.rlim_cur);
}

void gauge(std::string& out, const char* name, const char* type, const char* help, std::optional<double> v) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  if (v) out += std::string(name) + " " + prometheus_number(*v) + "\n";
}

}  // namespace

void render_process_metrics(std::string& out) {
  const auto s = read_proc_stat();
  auto of = [&](double proc_stat::*field) { return s ? std::optional<double>((*s).*field) : std::nullopt; };
  gauge(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
        of(&proc_stat::cpu_seconds));
  gauge(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
        of(&proc_stat::start_time));
  gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
        of(&proc_stat::resident_bytes));
  gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", of(&proc_stat::virtual_bytes));
  gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", open_fds());
  gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", max_fds());
}

}  // namespace hone_app

#include "monitoring/failure_hook.hpp"

#include "config/config.hpp"
#include "config/environment.hpp"
#include "core/app.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace hone_app {

namespace {

constexpr std::size_t max_message = 4000;

bool executable_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

/// The program's path: as given when it holds a '/', else the first match in PATH.
std::optional<std::string> find_program(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return executable_file(name) ? std::optional(name) : std::nullopt;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  std::size_t pos = 0;
  for (;;) {
    const auto colon = path.find(':', pos);
    std::string dir = path.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (executable_file(candidate)) return candidate;
    if (colon == std::string::npos) return std::nullopt;
    pos = colon + 1;
  }
}

std::string seconds_text(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

std::vector<std::string> split_command(std::string_view v, const char* variable) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  auto fail = [&](const std::string& why) {
    throw usage_error(std::string(variable) + " is not valid: " + why +
                      " (give a command and its arguments separated by spaces, quoting with '...' or \"...\"; it is "
                      "run without a shell)");
  };
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else if (c == '\'') {
      const auto end = v.find('\'', i + 1);
      if (end == std::string_view::npos) fail("unterminated ' quote");
      cur.append(v.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= v.size()) fail("unterminated \" quote");
        if (v[i] == '"') break;
        if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == '"' || v[i + 1] == '\\')) ++i;
        cur += v[i];
      }
    } else if (c == '\\') {
      if (i + 1 >= v.size()) fail("it ends in a backslash");
      cur += v[++i];
      in_word = true;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  if (words.empty() || words.front().empty()) fail("no command is given");
  return words;
}

bool is_secret_variable(std::string_view name) {
  if (name == "AWS_SECRET_ACCESS_KEY" || name == "AWS_SESSION_TOKEN") return true;
  if (name.rfind("HONE_", 0) != 0) return false;
  for (std::string_view word : {"SECRET", "TOKEN", "PASSWORD", "PASSPHRASE"})
    if (name.find(word) != std::string_view::npos) return true;
  // KEY as a word of the name (HONE_DB_KEY, HONE_R2_ACCESS_KEY_ID), not within KEEP.
  for (std::size_t p = name.find("KEY"); p != std::string_view::npos; p = name.find("KEY", p + 1)) {
    const bool starts = p == 0 || name[p - 1] == '_';
    const bool ends = p + 3 == name.size() || name[p + 3] == '_';
    if (starts && ends) return true;
  }
  return false;
}

std::optional<hook_config> hook_from_environment() {
  const char* cmd = env_value("HONE_BACKUP_ON_FAILURE");
  if (!cmd) return std::nullopt;
  hook_config c;
  c.argv = split_command(cmd, "HONE_BACKUP_ON_FAILURE");
  if (const char* t = env_value("HONE_BACKUP_ON_FAILURE_TIMEOUT"); t && *t) {
    const std::string_view s(t);
    long long n = 0;
    bool ok = s.size() <= 4 && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (ok) n = std::atoll(t);
    if (!ok || n < 1 || n > 3600)
      throw usage_error("HONE_BACKUP_ON_FAILURE_TIMEOUT=" + quoted_env_value(s) +
                        " is not valid: give the seconds the failure command may run as a whole number from 1 to "
                        "3600 (default 60)");
    c.timeout = std::chrono::seconds(n);
  }
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = entry.substr(0, eq);
    if (is_secret_variable(name) || name.rfind("HONE_BACKUP_FAILED_", 0) == 0) continue;
    c.environment.emplace_back(entry);
  }
  return c;
}

failure_hook::~failure_hook() {
  std::list<std::thread> all;
  {
    std::lock_guard lk(m_);
    all.swap(running_);
  }
  for (auto& t : all) t.join();
}

void failure_hook::reap() {
  std::list<std::thread> done;
  {
    std::lock_guard lk(m_);
    for (auto it = running_.begin(); it != running_.end();) {
      if (std::find(finished_.begin(), finished_.end(), it->get_id()) != finished_.end()) {
        finished_.erase(std::find(finished_.begin(), finished_.end(), it->get_id()));
        done.splice(done.end(), running_, it++);
      } else {
        ++it;
      }
    }
  }
  for (auto& t : done) t.join();
}

void failure_hook::run(const std::string& operation, const std::string& message, const std::string& at) {
  reap();
  std::lock_guard lk(m_);
  try {
    running_.emplace_back([this, operation, message, at] {
      execute(operation, message, at);
      std::lock_guard lk2(m_);
      finished_.push_back(std::this_thread::get_id());
    });
  } catch (const std::system_error& e) {
    log_error(std::string("failure hook: cannot start a thread: ") + e.what());
  }
}

void failure_hook::execute(const std::string& operation, const std::string& message, const std::string& at) const {
  const std::string shown = "'" + printable(cfg_.argv.front(), 200) + "'";
  const auto program = find_program(cfg_.argv.front(), cfg_.environment);
  if (!program) {
    log_error("failure hook: cannot run " + shown + " for the failed " + operation +
              ": not found or not executable (HONE_BACKUP_ON_FAILURE)");
    return;
  }
  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> env = cfg_.environment;
  env.push_back("HONE_BACKUP_FAILED_OPERATION=" + operation);
  env.push_back("HONE_BACKUP_FAILED_MESSAGE=" + message.substr(0, max_message));
  env.push_back("HONE_BACKUP_FAILED_AT=" + at);
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = cfg_.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    log_error("failure hook: cannot run " + shown + ": fork failed: " + std::strerror(errno));
    return;
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group: a timeout kills whatever it started too
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::close_range(3, ~0U, 0);  // no socket, lock or file of the server
    ::execve(program->c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  log_info("failure hook: started " + shown + " (pid " + std::to_string(pid) + ") for the failed " + operation);
  const auto deadline = t0 + cfg_.timeout;
  int status = 0;
  bool timed_out = false;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      log_error(std::string("failure hook: cannot wait for its process: ") + std::strerror(errno));
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string took = seconds_text(std::chrono::steady_clock::now() - t0);
  if (timed_out) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(cfg_.timeout).count();
    log_error("failure hook: " + shown + " did not finish within " + std::to_string(secs) +
              " s (HONE_BACKUP_ON_FAILURE_TIMEOUT): killed");
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    log_info("failure hook: " + shown + " finished in " + took);
  } else if (WIFEXITED(status)) {
    log_error("failure hook: " + shown + " failed with exit status " + std::to_string(WEXITSTATUS(status)) +
              (WEXITSTATUS(status) == 127 ? " (it may not have started)" : "") + " after " + took);
  } else if (WIFSIGNALED(status)) {
    log_error("failure hook: " + shown + " was killed by signal " + std::to_string(WTERMSIG(status)) + " after " +
              took);
  }
}

}  // namespace hone_app

#include "cli/output.hpp"

#include "core/app.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <array>

#include <unistd.h>

namespace hone_app {

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }
bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }
bool stdin_is_terminal() { return ::isatty(STDIN_FILENO) == 1; }

std::string compressed_text(const hb::backup_info& b, bool detail) {
  if (!b.compressed) return "no";
  if (b.deflated) return "yes";
  if (!detail) return "yes (stored)";
  return b.encrypted ? "yes (stored: ciphertext does not shrink)" : "yes (stored: the data did not shrink)";
}

void print_backup_table(std::FILE* out, const std::vector<hb::backup_info>& all, const std::vector<std::string>& where,
                        const std::vector<bool>& pinned) {
  const bool with_where = !where.empty();
  const bool with_pins = std::find(pinned.begin(), pinned.end(), true) != pinned.end();
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "SIZE", "CREATED (UTC)", "ENCRYPTED", "COMPRESSED"});
  if (with_where) rows.back().push_back("WHERE");
  if (with_pins) rows.back().push_back("PINNED");
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& b = all[i];
    const bool readable = b.problem.empty();
    rows.push_back({b.name, human_size(b.size), human_time(b.created_at), readable ? (b.encrypted ? "yes" : "no") : "?",
                    readable ? compressed_text(b, false) : "?"});
    if (with_where) rows.back().push_back(i < where.size() ? where[i] : "");
    if (with_pins) rows.back().push_back(i < pinned.size() && pinned[i] ? "yes" : "no");
  }
  std::vector<std::size_t> width(rows.front().size());
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i];
      if (i == 1)
        cell.insert(0, width[i] - cell.size(), ' ');  // sizes right-aligned
      else if (i + 1 < r.size())
        cell.resize(width[i], ' ');
      line += cell;
      if (i + 1 < r.size()) line += "  ";
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

progress_display::progress_display(bool enabled, hb::observer_fn log)
    : enabled_(enabled && escape_codes_allowed()), log_(std::move(log)) {
  if (enabled_) thread_ = std::thread([this] { loop(); });
}

progress_display::~progress_display() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
    erase_locked();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void progress_display::finish() {
  std::lock_guard lk(m_);
  active_ = false;
  erase_locked();
}

hb::observer_fn progress_display::observer() {
  return [this](const hb::event& e) { on_event(e); };
}

namespace {
std::string stage_label(const std::string& stage) {
  if (stage == "export") return "exporting the database";
  if (stage == "compress") return "compressing";
  if (stage == "decompress") return "decompressing";
  if (stage == "check") return "checking integrity";
  return "working";
}
std::string op_label(hb::event::operation op) {
  switch (op) {
    case hb::event::operation::create: return "creating backup";
    case hb::event::operation::verify: return "verifying";
    case hb::event::operation::restore: return "restoring";
    case hb::event::operation::prune: return "pruning";
    case hb::event::operation::remove: return "deleting";
  }
  return "working";
}
}  // namespace

void progress_display::on_event(const hb::event& e) {
  using kind = hb::event::kind;
  if (log_) log_(e);
  if (!enabled_) return;
  std::lock_guard lk(m_);
  if (e.stage.empty()) {
    if (e.what == kind::started) {
      active_ = true;
      op_ = op_label(e.op);
      stage_.clear();
      done_ = total_ = 0;
      started_ = std::chrono::steady_clock::now();
    } else if (e.what == kind::finished || e.what == kind::failed) {
      active_ = false;
      erase_locked();
    }
    return;
  }
  if (e.what == kind::started && e.stage != stage_) {
    stage_ = e.stage;
    done_ = 0;
    total_ = e.total;
  } else if (e.what == kind::progress) {
    stage_ = e.stage;
    done_ = e.done;
    total_ = e.total;
  }
}

void progress_display::loop() {
  using namespace std::chrono_literals;
  std::unique_lock lk(m_);
  while (!stop_) {
    cv_.wait_for(lk, 100ms, [&] { return stop_; });
    if (stop_) break;
    if (active_ && std::chrono::steady_clock::now() - started_ >= 500ms) draw_locked();
  }
}

void progress_display::draw_locked() {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::string line = op_ + ": " + stage_label(stage_);
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    constexpr int width = 24;
    const int filled = static_cast<int>(frac * width);
    line += " [" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(width - filled), '-') + "] ";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3d%% ", static_cast<int>(frac * 100));
    line += pct + human_size(done_) + " / " + human_size(total_);
  } else if (done_ > 0) {
    line += " " + human_size(done_);
  } else {
    static const char spin[] = {'|', '/', '-', '\\'};
    line += std::string(" ") + spin[static_cast<int>(secs * 10) % 4];
  }
  char t[32];
  std::snprintf(t, sizeof t, "  %.1f s", secs);
  line += t;
  std::string out = "\r\033[K" + line;
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void progress_display::erase_locked() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace hone_app

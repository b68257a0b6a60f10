#include "core/backup_format.hpp"

#include "config/config.hpp"
#include "config/environment.hpp"
#include "core/app.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hone_app {

namespace {
thread_local std::optional<backup_format> t_chosen;

/// The variables of the compact format, read once: `hone serve` removes HONE_DB_KEY from its
/// environment after start-up (read_backup_format_environment() comes first).
struct age_environment {
  std::string passphrase = env("HONE_DB_KEY");
  std::string recipients = env("HONE_BACKUP_AGE_RECIPIENTS");
  std::string identity_file = env("HONE_BACKUP_AGE_IDENTITY");
};
const age_environment& age_env() {
  static const age_environment e;
  return e;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

/// The words of `text` separated by commas or white space.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text + ' ') {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!w.empty()) out.push_back(std::move(w));
      w.clear();
    } else {
      w += c;
    }
  }
  return out;
}

/// The X25519 identities (AGE-SECRET-KEY-1...) of an age identity file: one a line, blank
/// lines and # comments skipped, as age-keygen writes them.
std::vector<hb::age::identity> identity_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw usage_error("HONE_BACKUP_AGE_IDENTITY: cannot read the identity file " + path + ": " + std::strerror(errno));
  std::vector<hb::age::identity> ids;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("AGE-SECRET-KEY-1", 0) != 0)
      throw usage_error("HONE_BACKUP_AGE_IDENTITY: line " + std::to_string(n) + " of " + path +
                        " is not an age X25519 identity (AGE-SECRET-KEY-1...)");
    ids.push_back(hb::age::x25519_identity{line});
  }
  if (ids.empty()) throw usage_error("HONE_BACKUP_AGE_IDENTITY: the identity file " + path + " holds no identity");
  return ids;
}
}  // namespace

std::string_view format_name(backup_format f) noexcept { return f == backup_format::compact ? "compact" : "gzip"; }

std::optional<backup_format> parse_backup_format(std::string_view text) {
  if (text == "gzip") return backup_format::gzip;
  if (text == "compact") return backup_format::compact;
  return std::nullopt;
}

std::string_view format_of_backup(std::string_view backup_name) noexcept {
  return format_name(ends_with(backup_name, ".age") ? backup_format::compact : backup_format::gzip);
}

backup_format current_backup_format() {
  if (t_chosen) return *t_chosen;
  const std::string v = env("HONE_BACKUP_FORMAT");
  if (v.empty()) return backup_format::gzip;
  if (auto f = parse_backup_format(v)) return *f;
  throw usage_error("HONE_BACKUP_FORMAT must be gzip or compact (got " + quoted_env_value(v) + ")");
}

scoped_backup_format::scoped_backup_format(std::optional<backup_format> f) : previous_(t_chosen) {
  if (f) t_chosen = f;
}
scoped_backup_format::~scoped_backup_format() { t_chosen = previous_; }

hb::age_compressor_options age_settings(backup_format format) {
  hb::age_compressor_options o;
  o.seal = format == backup_format::compact;
  const std::string& passphrase = age_env().passphrase;
  for (const auto& r : words(age_env().recipients)) {
    if (r.rfind("age1", 0) != 0)
      throw usage_error("HONE_BACKUP_AGE_RECIPIENTS: " + quoted_env_value(r) +
                        " is not an age X25519 recipient (age1...)");
    o.recipients.push_back(hb::age::x25519_recipient{r});
  }
  if (o.recipients.empty() && !passphrase.empty())
    o.recipients.push_back(hb::age::scrypt_recipient{passphrase, compact_log2_work});
  if (!passphrase.empty()) o.identities.push_back(hb::age::passphrase_identity{passphrase});
  if (const std::string& file = age_env().identity_file; !file.empty())
    for (auto& id : identity_file(file)) o.identities.push_back(std::move(id));
  return o;
}

void read_backup_format_environment() {
  age_settings(current_backup_format());
  require_compact_recipient(current_backup_format());
}

void require_compact_recipient(backup_format format) {
  if (format == backup_format::compact && age_env().passphrase.empty() && age_env().recipients.empty())
    throw usage_error(
        "the compact format encrypts each backup with HONE_DB_KEY (or for the keys of HONE_BACKUP_AGE_RECIPIENTS); "
        "neither is set");
}

}  // namespace hone_app

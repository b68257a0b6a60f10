#include "core/pins.hpp"

#include "core/app.hpp"
#include "monitoring/status_report.hpp"

#include <hone/backup.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hone_app {

namespace fs = std::filesystem;

std::set<std::string> read_pins(const fs::path& dir) {
  const fs::path path = dir / pins_file;
  // No file: nothing is pinned. A folder that cannot be searched (or is not one) holds no pin
  // one can read, and no backup one could delete either: the listing reports the folder.
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw hb::io_error("Cannot read the pinned backups in " + path.string() + ": " + std::strerror(errno) +
                       "; nothing is pruned without them");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof())
    throw hb::io_error("Cannot read the pinned backups in " + path.string() + "; nothing is pruned without them");
  const json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  std::set<std::string> out;
  const auto it = j.is_object() ? j.find("pinned") : j.end();
  if (!j.is_object() || it == j.end() || !it->is_array())
    throw hb::io_error(path.string() +
                       " is not a list of pinned backups ({\"pinned\": [NAME, ...]}); fix or remove "
                       "it (nothing is pruned until then)");
  for (const auto& n : *it)
    if (n.is_string()) out.insert(n.get<std::string>());
  return out;
}

bool set_pin(const fs::path& dir, const std::string& name, bool pinned) {
  make_private_folders(dir);
  hb::directory_lock lock(dir / std::string(hb::local_directory::lock_name), dir.string());
  std::set<std::string> pins = read_pins(dir);
  if (pinned == pins.contains(name)) return false;
  if (pinned)
    pins.insert(name);
  else
    pins.erase(name);
  std::string error;
  if (!write_json_file(dir / pins_file, json{{"pinned", pins}}, error))
    throw hb::io_error("Cannot write the pinned backups in " + (dir / pins_file).string() + ": " + error);
  return true;
}

}  // namespace hone_app

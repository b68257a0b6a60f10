#include "cli/commands/commands.hpp"

#include <cstdio>

namespace hone_app {

void print_json(const json& j) { std::fputs(to_text(j).c_str(), stdout); }

int failed_with(const backup_args& a, json doc, std::string_view code, const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  if (a.json) {
    doc["error"] = cli_error_json(code, message)["error"];
    print_json(doc);
  }
  return exit_code_for(code);
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string count_text(const std::optional<std::int64_t>& c, const char* table) {
  return c ? std::to_string(*c) : std::string("- (no ") + table + " table)";
}

void print_backup_details(const hb::backup_info& b) {
  std::printf("  path:          %s\n", b.path.c_str());
  std::printf("  size:          %s (%llu bytes)\n", human_size(b.size).c_str(),
              static_cast<unsigned long long>(b.size));
  std::printf("  created:       %s\n", hb::iso8601(b.created_at).c_str());
}

std::string places_text(const std::vector<std::string>& locations) {
  std::string out;
  for (const auto& l : locations) out += (out.empty() ? "" : ", ") + l;
  return out;
}

}  // namespace hone_app

// `hone dashboard`: the counts of the live database.
#include "cli/commands/commands.hpp"

#include <cstdio>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_dashboard(const dashboard_args& a) {
  const fs::path db = resolve_database(a.db);
  const auto key = load_key();
  dashboard d = read_dashboard(db, key);
  if (a.json) {
    print_json(json{{"database", db.string()},
                    {"encrypted", d.encrypted},
                    {"size", d.size},
                    {"accounts", count_json(d.counts["accounts"])},
                    {"transactions", count_json(d.counts["transactions"])},
                    {"subscriptions", count_json(d.counts["subscriptions"])}});
    return exit_ok;
  }
  std::printf("Database:              %s\n", db.string().c_str());
  std::printf("Size:                  %s%s\n", human_size(d.size).c_str(),
              d.encrypted ? ", encrypted" : ", not encrypted");
  std::printf("Accounts:              %s\n", count_text(d.counts["accounts"], "accounts").c_str());
  std::printf("Transactions:          %s\n", count_text(d.counts["transactions"], "transactions").c_str());
  std::printf("Active subscriptions:  %s\n", count_text(d.counts["subscriptions"], "subscriptions").c_str());
  return exit_ok;
}

}  // namespace hone_app

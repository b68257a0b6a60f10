// `hone demo-db`: create a demo Hone database (never over an existing one).
#include "cli/commands/commands.hpp"

#include <cstdio>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_demo_db(const demo_db_args& a) {
  const fs::path db = resolve_database(a.db);
  const demo_spec& spec = a.spec;
  const auto key = load_key();
  create_demo_database(db, key, spec);
  std::printf("Created demo database %s\n", db.string().c_str());
  std::printf("  %d accounts, %d transactions, %d active subscriptions%s\n", spec.accounts, spec.transactions,
              spec.subscriptions, spec.subscriptions > 0 ? " (+1 cancelled)" : "");
  std::printf("  %s\n", key.empty() ? "not encrypted (HONE_DB_KEY is not set)"
                                    : "encrypted with the key derived from HONE_DB_KEY (SQLCipher 4)");
  return exit_ok;
}

}  // namespace hone_app

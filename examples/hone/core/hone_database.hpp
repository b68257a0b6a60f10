// The live database side of the `hone` program: the dashboard counts, and the demo database
// created exactly the way the original Hone creates its database (hone-compat.md sections 1-2).
#pragma once

#include <hone/backup.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// The counts of Hone's database the program reports (create, verify, dashboard), labelled like
/// the JSON fields of the description: accounts, transactions, active subscriptions.
std::vector<hb::count_query> hone_count_queries();

struct dashboard {
  hb::row_counts counts;  ///< accounts, transactions, active subscriptions (absent: no table)
  bool encrypted = false;
  std::uint64_t size = 0;  ///< bytes of the database file (without -wal)
};

/// Opens the live database with the key (database::open); a key that does not open it is an
/// encryption_error naming HONE_DB_KEY.
hb::database open_live_database(const std::filesystem::path& database, const hb::database_key& key);

/// Whether the live database opens with the key (`hone serve` at start-up, GET /healthz).
struct database_check {
  std::string reason;   ///< empty: it opens; "key": the key is missing or wrong; "database": any other failure
  std::string message;  ///< the error in the program's words (never the key)
  hb::errc code = hb::errc::io;
  bool ok() const noexcept { return reason.empty(); }
};
database_check check_database(const std::filesystem::path& database, const hb::database_key& key);

/// Reads the counts of the live database (opened per call, read-only work, no lock taken).
dashboard read_dashboard(const std::filesystem::path& database, const hb::database_key& key);

struct demo_spec {
  int accounts = 3;
  int transactions = 500;
  int subscriptions = 6;  ///< active ones; one cancelled subscription is added as well
};

/// Creates a demo database at `database`: SQLCipher 4 defaults keyed with `key` (plain SQLite
/// when empty), journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON, the accounts,
/// transactions and subscriptions tables with realistic rows. The file is built under a
/// temporary name and linked into place, so an existing file is never overwritten (throws
/// errc::database_exists) and a failure leaves nothing behind. Missing folders are created 0700,
/// the file 0600.
void create_demo_database(const std::filesystem::path& database, const hb::database_key& key, const demo_spec& spec);

}  // namespace hone_app

// The original Hone, as far as the backup system meets it, re-made from its documented key derivation and file format
// (docs/Compatibility.md) (sections 1-3) and deliberately independent of the library under test:
//  - original::derive_hex / key_string: HONE_DB_KEY -> Argon2id -> the SQLCipher key x"<hex>"
//    (libargon2 called directly, version 0x13 spelled out, not hone_key()),
//  - original::create_database: a database made the way the original makes one (SQLCipher 4
//    defaults, sqlite3_key(x"<hex>"), WAL, synchronous=NORMAL, foreign_keys=ON, the tables
//    behind the counts with more of their real columns),
//  - original::gunzip_first_member: the original's backup reader, which stops after the
//    first gzip member,
//  - needs_sqlcipher4: a Boost.Test precondition for tests that need a SQLCipher 4 feature.
// Only the raw C APIs of SQLCipher, libargon2 and zlib are used. A program that is not a
// Boost.Test module (a helper tool for the CLI tests, say) defines
// HONE_ORIGINAL_WITHOUT_BOOST_TEST before including this file; it then needs no Boost.
#pragma once

#ifndef HONE_ORIGINAL_WITHOUT_BOOST_TEST
#include <boost/test/unit_test.hpp>
#endif

#include <argon2.h>
#include <sqlite3.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hone_test {

/// Major version of the linked SQLCipher, read with PRAGMA cipher_version (0: not SQLCipher).
inline int linked_sqlcipher_major() {
  static const int major = [] {
    sqlite3* db = nullptr;
    int v = 0;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(db, "PRAGMA cipher_version", -1, &s, nullptr) == SQLITE_OK &&
          sqlite3_step(s) == SQLITE_ROW)
        if (auto t = sqlite3_column_text(s, 0)) v = std::atoi(reinterpret_cast<const char*>(t));
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db);
    return v;
  }();
  return major;
}

inline std::string linked_sqlcipher_description() {
  std::string v;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA cipher_version", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      if (auto t = sqlite3_column_text(s, 0)) v = reinterpret_cast<const char*>(t);
    sqlite3_finalize(s);
  }
  sqlite3_close_v2(db);
  return "SQLCipher " + (v.empty() ? std::string("(none)") : v) + " (SQLite " + sqlite3_libversion() + ")";
}

#ifndef HONE_ORIGINAL_WITHOUT_BOOST_TEST
/// Precondition for tests of SQLCipher 4-only features: on a SQLCipher 3 build the test is
/// skipped and Boost.Test prints the reason.
struct needs_sqlcipher4_t {
  const char* why;
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(linked_sqlcipher_major() >= 4);
    if (!r) r.message() << "needs SQLCipher 4 (" << why << "); this build links " << linked_sqlcipher_description();
    return r;
  }
};
inline boost::unit_test::decorator::precondition needs_sqlcipher4(const char* why) {
  return boost::unit_test::precondition(needs_sqlcipher4_t{why});
}
#endif

namespace original {

// ---- Section 1: the key --------------------------------------------------------------------

/// Argon2id, version 0x13, m = 19456 KiB, t = 2, p = 1, 32-byte output, salt = the 16 ASCII
/// bytes "hone-salt-v1-fix"; lower-case hex.
inline std::string derive_hex(std::string_view passphrase) {
  static constexpr char salt[] = "hone-salt-v1-fix";
  std::array<std::uint8_t, 32> out{};
  argon2_context ctx{};
  ctx.out = out.data();
  ctx.outlen = static_cast<std::uint32_t>(out.size());
  std::string pwd(passphrase);  // argon2_ctx wants a mutable buffer
  ctx.pwd = reinterpret_cast<std::uint8_t*>(pwd.data());
  ctx.pwdlen = static_cast<std::uint32_t>(pwd.size());
  std::string s(salt, 16);
  ctx.salt = reinterpret_cast<std::uint8_t*>(s.data());
  ctx.saltlen = 16;
  ctx.t_cost = 2;
  ctx.m_cost = 19456;
  ctx.lanes = 1;
  ctx.threads = 1;
  ctx.version = ARGON2_VERSION_13;
  ctx.flags = ARGON2_DEFAULT_FLAGS;
  int rc = argon2_ctx(&ctx, Argon2_id);
  if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2_ctx: ") + argon2_error_message(rc));
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (auto b : out) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

/// The string the original hands SQLCipher as its key: x"<hex>" with double quotes, which
/// SQLCipher treats as a passphrase (its raw-key syntax would be x'<hex>').
inline std::string key_string(std::string_view passphrase) { return "x\"" + derive_hex(passphrase) + "\""; }

// ---- Section 1 + 2: the database -----------------------------------------------------------

struct closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using connection = std::unique_ptr<sqlite3, closer>;

inline void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    throw std::runtime_error("original: " + msg + " in: " + sql.substr(0, 80));
  }
}

/// Opens (creating when asked) a database the way the original does on every connection:
/// sqlite3_key() with the x"<hex>" string and SQLCipher's default settings, then
/// foreign_keys=ON and synchronous=NORMAL (journal_mode=WAL is persistent, set at creation).
inline connection open(const std::filesystem::path& path, std::string_view passphrase, bool create = false) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  connection db(raw);
  if (rc != SQLITE_OK) throw std::runtime_error("original: cannot open " + path.string());
  std::string key = key_string(passphrase);
  if (sqlite3_key(raw, key.data(), static_cast<int>(key.size())) != SQLITE_OK)
    throw std::runtime_error("original: sqlite3_key failed");
  exec(raw, "PRAGMA foreign_keys = ON");
  exec(raw, "PRAGMA synchronous = NORMAL");
  return db;
}

/// The tables behind the counts (accounts, transactions, subscriptions) with the columns the original has,
/// and the tables their foreign keys point at. Not the whole schema (about 30 tables).
inline const char* schema() {
  return R"sql(
    CREATE TABLE IF NOT EXISTS entities (
      id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, icon TEXT, color TEXT,
      archived BOOLEAN DEFAULT FALSE, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE IF NOT EXISTS accounts (
      id INTEGER PRIMARY KEY, name TEXT NOT NULL, bank TEXT NOT NULL, account_type TEXT,
      entity_id INTEGER REFERENCES entities(id), created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE INDEX IF NOT EXISTS idx_accounts_entity ON accounts(entity_id);
    CREATE TABLE IF NOT EXISTS locations (
      id INTEGER PRIMARY KEY, name TEXT, address TEXT, city TEXT, state TEXT, country TEXT DEFAULT 'US',
      latitude REAL, longitude REAL, location_type TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE IF NOT EXISTS trips (
      id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT, start_date DATE, end_date DATE,
      location_id INTEGER REFERENCES locations(id), budget REAL, archived BOOLEAN DEFAULT 0,
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE IF NOT EXISTS import_sessions (
      id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), filename TEXT,
      file_size_bytes INTEGER, bank TEXT NOT NULL, imported_count INTEGER NOT NULL DEFAULT 0,
      skipped_count INTEGER NOT NULL DEFAULT 0, status TEXT DEFAULT 'pending',
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE IF NOT EXISTS transactions (
      id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), date DATE NOT NULL,
      description TEXT NOT NULL, amount REAL NOT NULL, category TEXT, merchant_normalized TEXT,
      import_hash TEXT UNIQUE, purchase_location_id INTEGER REFERENCES locations(id),
      vendor_location_id INTEGER REFERENCES locations(id), trip_id INTEGER REFERENCES trips(id),
      source TEXT DEFAULT 'import', expected_amount REAL, archived BOOLEAN DEFAULT 0, original_data TEXT,
      import_format TEXT, card_member TEXT, payment_method TEXT,
      import_session_id INTEGER REFERENCES import_sessions(id),
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE INDEX IF NOT EXISTS idx_transactions_date ON transactions(date);
    CREATE INDEX IF NOT EXISTS idx_transactions_merchant ON transactions(merchant_normalized);
    CREATE INDEX IF NOT EXISTS idx_transactions_account ON transactions(account_id);
    CREATE TABLE IF NOT EXISTS subscriptions (
      id INTEGER PRIMARY KEY, merchant TEXT NOT NULL, account_id INTEGER REFERENCES accounts(id),
      amount REAL, frequency TEXT, first_seen DATE, last_seen DATE, status TEXT DEFAULT 'active',
      user_acknowledged BOOLEAN DEFAULT FALSE, acknowledged_at DATETIME, cancelled_at DATE,
      cancelled_monthly_amount REAL, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE INDEX IF NOT EXISTS idx_subscriptions_status ON subscriptions(status);
  )sql";
}

struct contents {
  int accounts = 3;
  int transactions = 250;
  int active_subscriptions = 4;
  int cancelled_subscriptions = 2;
};

/// Adds rows (in one transaction) to an open original-style database. `tag` keeps import
/// hashes unique across calls.
inline void add_rows(sqlite3* db, const contents& c, const std::string& tag = "a") {
  exec(db, "BEGIN");
  exec(db, "INSERT OR IGNORE INTO entities(id, name, type) VALUES (1, 'Household', 'person')");
  exec(db, "INSERT OR IGNORE INTO locations(id, name, city, state) VALUES (1, 'Corner Store', 'Portland', 'OR')");
  exec(db, "INSERT OR IGNORE INTO trips(id, name, location_id, budget) VALUES (1, 'Coast weekend', 1, 400)");
  sqlite3_stmt* s = nullptr;
  auto prepare = [&](const char* sql) {
    sqlite3_finalize(s);
    s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("original: ") + sqlite3_errmsg(db));
  };
  auto run = [&] {
    if (sqlite3_step(s) != SQLITE_DONE) throw std::runtime_error(std::string("original: ") + sqlite3_errmsg(db));
    sqlite3_reset(s);
  };
  prepare("INSERT INTO accounts(name, bank, account_type, entity_id) VALUES (?1, ?2, 'checking', 1)");
  for (int i = 0; i < c.accounts; ++i) {
    std::string name = "Account " + tag + std::to_string(i), bank = i % 2 ? "chase" : "amex";
    sqlite3_bind_text(s, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, bank.c_str(), -1, SQLITE_TRANSIENT);
    run();
  }
  prepare(
      "INSERT OR IGNORE INTO import_sessions(id, account_id, filename, bank, imported_count, status) "
      "VALUES (1, (SELECT min(id) FROM accounts), 'activity.csv', 'amex', 0, 'completed')");
  run();
  prepare(
      "INSERT INTO transactions(account_id, date, description, amount, category, merchant_normalized, import_hash,"
      " purchase_location_id, trip_id, original_data, import_format, payment_method, import_session_id)"
      " VALUES ((SELECT id FROM accounts ORDER BY id LIMIT 1 OFFSET (?1 % (SELECT count(*) FROM accounts))),"
      " date('2024-01-01', '+' || (?1 % 365) || ' days'), ?2, ?3, 'groceries', 'CORNER STORE', ?4,"
      " CASE WHEN ?1 % 3 = 0 THEN 1 END, CASE WHEN ?1 % 50 = 0 THEN 1 END, ?5, 'amex_csv', 'physical_card', 1)");
  for (int i = 0; i < c.transactions; ++i) {
    std::string desc = "CORNER STORE #" + std::to_string(1000 + i % 37) + " PORTLAND OR";
    std::string hash = "hash-" + tag + "-" + std::to_string(i);
    std::string json = R"({"Description":")" + desc + R"(","Amount":")" + std::to_string(i % 97) + R"(.25"})";
    sqlite3_bind_int(s, 1, i);
    sqlite3_bind_text(s, 2, desc.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(s, 3, -(i % 97) - 0.25);
    sqlite3_bind_text(s, 4, hash.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, json.c_str(), -1, SQLITE_TRANSIENT);
    run();
  }
  prepare(
      "INSERT INTO subscriptions(merchant, account_id, amount, frequency, first_seen, last_seen, status, "
      "cancelled_at) VALUES (?1, (SELECT min(id) FROM accounts), 12.99, 'monthly', '2024-01-03', '2024-06-03', "
      "?2, CASE WHEN ?2 = 'cancelled' THEN '2024-07-01' END)");
  for (int i = 0; i < c.active_subscriptions + c.cancelled_subscriptions; ++i) {
    std::string merchant = "STREAMING " + tag + std::to_string(i);
    sqlite3_bind_text(s, 1, merchant.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, i < c.active_subscriptions ? "active" : "cancelled", -1, SQLITE_STATIC);
    run();
  }
  sqlite3_finalize(s);
  exec(db, "COMMIT");
}

/// Creates a database at `path` exactly as the original does for HONE_DB_KEY = passphrase.
/// Needs SQLCipher 4 (the original's format): SQLCipher 3 would write a different format.
inline void create_database(const std::filesystem::path& path, std::string_view passphrase, const contents& c = {}) {
  if (linked_sqlcipher_major() < 4)
    throw std::runtime_error("original::create_database needs SQLCipher 4; this build links " +
                             linked_sqlcipher_description());
  auto db = open(path, passphrase, true);
  exec(db.get(), "PRAGMA journal_mode = WAL");
  exec(db.get(), schema());
  add_rows(db.get(), c);
}

// ---- Section 3: the original's backup reader -----------------------------------------------

/// Decodes a .db.gz like the original's reader: zlib in gzip mode (windowBits 15 + 16), run
/// until the first Z_STREAM_END, then it stops. Whatever follows the first member is ignored.
/// Throws on damaged or truncated input.
inline std::vector<char> gunzip_first_member(const std::vector<char>& gz) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&z, inflateEnd);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::vector<char> out;
  char buf[64 * 1024];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_NO_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof buf - z.avail_out));
    if (rc == Z_STREAM_END) return out;  // the first member is complete: stop here
    if (rc == Z_BUF_ERROR && z.avail_in == 0) throw std::runtime_error("truncated gzip data");
    if (rc != Z_OK) throw std::runtime_error(std::string("inflate: ") + (z.msg ? z.msg : "error"));
  }
}

}  // namespace original
}  // namespace hone_test

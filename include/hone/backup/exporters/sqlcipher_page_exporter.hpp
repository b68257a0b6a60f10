// sqlcipher_page_exporter: the Exporter of the compact format. It streams the database's
// pages as SQLCipher decrypts them (a plain SQLite image) to a Compressor that must encrypt
// them, and loads such an image back through a new connection keyed as the database is.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/detail/page_image.hpp>
#include <hone/backup/exporters/sqlcipher_exporter.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <utility>

namespace hone::backup {

/// An sqlcipher_exporter that can also hand out plaintext pages (export_pages) and load them
/// back (load_pages). It declares `plaintext_pages`, so BackupRunner accepts it only together
/// with a Compressor that declares `encrypting` (age_compressor): the pages never reach a
/// Destination, a temp file or a cache unencrypted. export_to and check are sqlcipher_exporter's
/// (the default .db.gz format, ciphertext pages), so one runner reads and writes both formats.
/// Needs SQLite built with SQLITE_ENABLE_DBPAGE_VTAB (the bundled SQLCipher is); see
/// supported().
class sqlcipher_page_exporter : public sqlcipher_exporter {
 public:
  using sqlcipher_exporter::sqlcipher_exporter;

  /// Marks the pages export_pages gives as plaintext (see docs/Exporter.md).
  static constexpr bool plaintext_pages = true;

  /// Whether the linked SQLite has the sqlite_dbpage table (SQLITE_ENABLE_DBPAGE_VTAB).
  static bool supported() { return detail::has_dbpage_table(); }

  /// Opens the database with its key and, inside one read transaction, reads the counts and
  /// passes a reader of every page, decrypted (detail::page_reader), to `consume`, which must
  /// read it to its end. progress gets the image bytes read so far.
  export_result export_pages(const std::function<void(reader&)>& consume, const progress_fn& progress) {
    require_supported();
    const database_key& key = source_key();
    auto opened = open_checked(database(), SQLITE_OPEN_READONLY, key);
    sqlite3* db = opened.db.get();
    export_result result;
    result.encrypted = !key.empty();
    try {
      detail::read_transaction snapshot(db);
      result.counts = read_counts(db);
      detail::page_reader pages(db, progress);
      consume(pages);
      if (!pages.done()) throw export_error("the compressor stopped before the last page of the database");
      result.bytes = pages.bytes();
      snapshot.end();
    } catch (const database_error& e) {
      throw export_error(std::string("reading the database's pages failed: ") + e.what());
    }
    return result;
  }

  /// A writer that loads a plain SQLite image (what export_pages gave) into the new file
  /// `target` through a keyed connection (detail::page_loader): a durable file (a restore)
  /// with the database's key, a scratch file (a copy being verified) with a random single-use
  /// key. Its finish() commits. `target` may exist only as an empty file.
  std::unique_ptr<detail::page_loader> load_pages(const std::filesystem::path& target, durability d) const {
    require_supported();
    return std::make_unique<detail::page_loader>(target, settings().key, settings().cipher_compatibility, d);
  }

  /// check() of the file `loader` has just written, on the loader's connection (keyed as the
  /// loader keyed the file: no second key derivation), without SQLCipher's separate check of
  /// every page's HMAC: the encrypting Compressor authenticated every byte of the image, and
  /// the b-tree walk reads each page back from the file, which verifies its HMAC. The b-tree
  /// checks and the counts run as in check().
  check_result check_loaded(detail::page_loader& loader) const {
    check_result r;
    r.encrypted = !settings().key.empty();
    examine(loader.connection(), r);
    return r;
  }

 private:
  static void require_supported() {
    if (!supported())
      throw invalid_argument_error(
          "The compact format needs SQLite's sqlite_dbpage table (SQLITE_ENABLE_DBPAGE_VTAB), which the linked "
          "SQLCipher " +
          detail::sqlcipher_version() + " lacks");
  }
};

static_assert(Exporter<sqlcipher_page_exporter>);

}  // namespace hone::backup

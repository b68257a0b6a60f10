// BackupRunner: creates, lists, verifies, restores and prunes backups by combining an
// Exporter (the database side), a Compressor, a Destination (where backups live) and a Clock.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/detail/private_temp_dir.hpp>
#include <hone/backup/detail/replace.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/names.hpp>
#include <hone/backup/retention.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone::backup {

/// What an observer hears. For progress events `done`/`total` are bytes (total 0: unknown).
struct event {
  enum class kind { started, progress, finished, failed };
  enum class operation { create, verify, restore, prune, remove };
  kind what;
  operation op;
  std::string name;
  std::string stage;  ///< "export", "compress", "decompress", "check", "" for whole-operation events
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  std::string message;  ///< for failed: the error message
};
using observer_fn = std::function<void(const event&)>;

inline std::string_view to_string(event::operation op) noexcept {
  switch (op) {
    case event::operation::create: return "create";
    case event::operation::verify: return "verify";
    case event::operation::restore: return "restore";
    case event::operation::prune: return "prune";
    case event::operation::remove: return "remove";
  }
  return "?";
}

/// Told about temporary files outside temp_directory (restore's file beside the database):
/// (path, true) when one is created, (path, false) once it is gone or became the database.
using temp_file_fn = std::function<void(const std::filesystem::path&, bool created)>;

struct runner_options {
  /// Private temp files (export copies, verify copies) go here, in a 0700 folder per
  /// operation; empty: std::filesystem::temp_directory_path() ($TMPDIR, else /tmp).
  std::filesystem::path temp_directory;
  /// Receives progress and outcome events. The library itself prints nothing.
  observer_fn observer;
  /// See temp_file_fn; may be empty.
  temp_file_fn temp_files;
  /// What a program requires of a backup beyond the Exporter's check (e.g. its own tables):
  /// called with the result of a check that passed; a non-empty return is why the backup is
  /// refused (verify: valid=false with that message; restore: not_a_backup_error). May be empty.
  std::function<std::string(const check_result&)> accept_backup;
  /// Automatic names are <name_prefix>YYYY-MM-DD-HHMMSS[-N]<suffix>; a program names its
  /// backups after itself ("hone-" gives hone-2024-01-15-143022.db.gz).
  std::string name_prefix = std::string(default_name_prefix);
};

template <class Exporter, class Compressor, class Destination, class Clock>
class BackupRunner {
  // One member at a time, so that the message names what a policy type lacks (the messages
  // live beside the member concepts, in concepts.hpp).
  static_assert(concepts::exporter::requirements<Exporter>::value);
  static_assert(concepts::compressor::requirements<Compressor>::value);
  static_assert(concepts::destination::requirements<Destination>::value);
  static_assert(concepts::clock::requirements<Clock>::value);
  static_assert(concepts::pairing_requirements<Exporter, Compressor>::value);

 public:
  using exporter_type = Exporter;
  using compressor_type = Compressor;
  using destination_type = Destination;
  using clock_type = Clock;

  BackupRunner(Exporter exporter, Compressor compressor, Destination destination, Clock clock = Clock{},
               runner_options options = {})
      : exporter_(std::move(exporter)),
        compressor_(std::move(compressor)),
        destination_(std::move(destination)),
        clock_(std::move(clock)),
        options_(std::move(options)) {}

  Exporter& exporter() noexcept { return exporter_; }
  Compressor& compressor() noexcept { return compressor_; }
  Destination& destination() noexcept { return destination_; }
  Clock& clock() noexcept { return clock_; }
  runner_options& options() noexcept { return options_; }

  /// The name a custom name becomes: the Compressor's suffix (".db.gz") is appended unless the
  /// name already ends with it. Throws invalid_name_error for names that are not plain file names.
  std::string backup_name(std::string_view requested) const {
    std::string name(requested);
    validate_name(name);
    std::string_view sfx = compressor_.suffix();
    if (name.size() < sfx.size() || name.compare(name.size() - sfx.size(), sfx.size(), sfx) != 0) name += sfx;
    validate_name(name);
    return name;
  }

  /// Creates a backup. Without a name: <name_prefix>YYYY-MM-DD-HHMMSS.db.gz (UTC, from the
  /// Clock; backup-2024-01-15-143022.db.gz with the default prefix); when
  /// that exists (a second backup in the same second) -1, -2, ... is added, so none is lost.
  /// With a name: it must not exist ("Backup already exists"); nothing is ever overwritten.
  backup_info create(std::optional<std::string> requested = std::nullopt) {
    std::string name = requested ? backup_name(*requested) : std::string();
    const auto op = event::operation::create;
    return observed(op, name, [&]() -> backup_info {
      auto guard = destination_.lock();
      export_result exported;
      compress_result packed;
      std::optional<detail::private_temp_dir> tmp;
      std::function<void(writer&)> produce;
      if (streams_pages())
        produce = page_producer(name, exported, packed);
      else
        produce = file_producer(name, tmp.emplace(temp_directory(), "export", options_.temp_files), exported, packed);
      stored_entry stored;
      if (requested) {
        stored = destination_.store(name, produce);
      } else {
        // The n-th backup of a second is named -n, with n above every sequence number of that
        // second still present: a name freed by prune or delete is never reused, so the names
        // keep sorting in the order the backups were made.
        const auto now = clock_.now();
        for (int n = next_sequence(now), tries = 0;; ++n, ++tries) {
          name = default_name(now, compressor_.suffix(), n, options_.name_prefix);
          try {
            stored = destination_.store(name, produce);
            break;
          } catch (const already_exists_error&) {
            if (tries > 1000) throw;
          }
        }
      }
      backup_info info = from_entry(stored);
      info.encrypted = exported.encrypted;
      info.compressed = true;
      info.deflated = packed.compressed;
      info.counts = exported.counts;
      if constexpr (concepts::destination::has_annotate<Destination>) {
        // Only saves list() a read; the backup is complete and listed without it.
        try {
          destination_.annotate(name, content_info{info.encrypted, info.deflated});
        } catch (const error&) {
        }
      }
      return info;
    });
  }

  /// All backups, newest first. Files the Destination holds that are not named like backups
  /// (no compressor suffix, or not a valid name) are not listed; files named like backups
  /// whose content is not one are listed with `problem` set.
  ///
  /// A Destination that keeps what it is told (a const `annotate`, e.g. s3_destination) is told
  /// what the first bytes of a backup it gave without `content` showed, whether a backup or
  /// not one (best effort), so that the next list() does not read them again.
  std::vector<backup_info> list() const {
    std::vector<backup_info> out;
    for (auto& e : destination_.list()) {
      if (!is_backup_name(e.name)) continue;
      if (e.content) {
        out.push_back(described(e));
        continue;
      }
      bool conclusive = false;
      out.push_back(inspect(e, &conclusive));
      if constexpr (requires(const Destination& d, const std::string& n, const content_info& i) { d.annotate(n, i); }) {
        if (conclusive) {
          const backup_info& b = out.back();
          try {
            destination_.annotate(e.name, content_info{b.encrypted, b.deflated, b.problem});
          } catch (const error&) {
          }
        }
      }
    }
    std::sort(out.begin(), out.end(), newest_first(options_.name_prefix));
    return out;
  }

  /// The stored name `requested` refers to: the name itself when it is a backup name, else
  /// the name create() would have made of it (backup_name: the suffix appended), so that a
  /// backup is found by the name it was created with ("before-upgrade" finds
  /// "before-upgrade.db.gz"); with a Compressor of several suffixes (suffixes()), the first
  /// stored one of them, else create's. Throws invalid_name_error for names that are not plain
  /// file names.
  std::string resolve_name(std::string_view requested) const {
    validate_name(requested);
    std::string name(requested);
    if (is_backup_name(name)) return name;
    // A Compressor that reads several formats: the name with whichever suffix is stored.
    if constexpr (requires { compressor_.suffixes(); }) {
      for (std::string_view sfx : compressor_.suffixes()) {
        const std::string candidate = name + std::string(sfx);
        if (name_problem(candidate).empty() && destination_.stat(candidate)) return candidate;
      }
    }
    return backup_name(name);
  }

  /// One backup (the name as resolve_name takes it); throws not_found_error
  /// ("Backup not found: NAME").
  backup_info get(const std::string& requested) const {
    const std::string name = resolve_name(requested);
    auto e = destination_.stat(name);
    if (!e) throw not_found_error("Backup not found: " + requested);
    return inspect(*e);
  }

  /// Deletes one backup (the name as resolve_name takes it) and returns its name; throws
  /// not_found_error.
  std::string remove(const std::string& requested) {
    const std::string name = resolve_name(requested);
    observed(event::operation::remove, name, [&] {
      auto guard = destination_.lock();
      if (!destination_.stat(name)) throw not_found_error("Backup not found: " + requested);
      destination_.remove(name);
      return 0;
    });
    return name;
  }

  /// Keeps the `keep` newest backups and deletes the rest (keep_last). keep < 1 is refused.
  prune_result prune(long long keep) {
    if (keep < 1) throw invalid_argument_error("keep must be at least 1 (got " + std::to_string(keep) + ")");
    return prune(keep_last{keep});
  }

  /// Applies a retention policy: deletes the backups it does not keep (with dry_run, only says
  /// which it would delete). Never touches files that are not backups (see
  /// backup_info::problem: they are reported in skipped_names, neither kept nor deleted); a
  /// backup whose time is unknown is kept ("time unknown").
  template <Retention P>
  prune_result prune(const P& policy, bool dry_run = false) {
    return observed(event::operation::prune, "", [&] {
      auto guard = destination_.lock();
      prune_result r;
      r.dry_run = dry_run;
      r.policy = policy.describe();
      std::vector<backup_info> all;
      for (auto& b : list()) {
        if (b.problem.empty())
          all.push_back(std::move(b));
        else
          r.skipped_names.push_back(b.name);
      }
      std::vector<time_point> times;
      for (const auto& b : all) times.push_back(b.created_at);
      const keep_reasons reasons = policy.apply(times);
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i].created_at == time_point{}) {
          r.retained.push_back({all[i].name, {"time unknown"}});
        } else if (!reasons[i].empty()) {
          r.retained.push_back({all[i].name, reasons[i]});
        } else {
          if (!dry_run) destination_.remove(all[i].name);
          r.deleted_names.push_back(all[i].name);
          r.bytes_freed += all[i].size;
        }
      }
      r.deleted_count = r.deleted_names.size();
      r.retained_count = r.retained.size();
      return r;
    });
  }

  /// Decompresses to a private temp file, opens it with the key, runs the integrity checks and
  /// the counts. Damage or a wrong key gives valid=false with the reason (not an exception);
  /// an unknown name throws not_found_error.
  verify_result verify(const std::string& requested) {
    const std::string name = resolve_name(requested);
    const auto op = event::operation::verify;
    return observed(op, name, [&] {
      auto in = destination_.open(name);
      verify_result r;
      r.name = name;
      detail::private_temp_dir tmp(temp_directory(), "verify", options_.temp_files);
      const auto copy = tmp.path() / "verify.db";
      check_result c;
      try {
        c = unpack(*in, copy, op, name, stored_size(name));
      } catch (const corrupt_backup_error& e) {
        r.message = e.what();
        return r;
      } catch (const encryption_error& e) {
        r.wrong_key = true;
        r.message = e.what();
        return r;
      }
      c = accepted(std::move(c));
      r.encrypted = c.encrypted;
      r.counts = c.counts;
      r.valid = c.valid;
      r.wrong_key = c.wrong_key;
      r.key_missing = c.key_missing;
      r.message = c.valid       ? "Backup verified successfully"
                  : c.wrong_key ? std::string(wrong_key_message) + " (" + c.message + ")"
                                : c.message;
      r.message = detail::without_path(r.message, copy, "the backup " + name);
      return r;
    });
  }

  /// Restores a backup (the name as resolve_name takes it) over `database`. Refuses when the
  /// database exists and force is false. Steps, each of which leaves the current database
  /// complete and in place when it fails or the process dies:
  ///  0. take the database's restore lock (detail::replace_lock): a restore of the same
  ///     database already running, from any destination, makes this one fail at once with
  ///     database_busy_error, nothing changed;
  ///  1. decompress into a temp file beside the target (same filesystem: the rename is atomic);
  ///  2. check it with the key; refuse a plain backup when a key is configured (restoring it
  ///     would silently drop the encryption);
  ///  3. hold the current database still (Exporter::prepare_replace: its WAL checkpointed into
  ///     the file, an exclusive lock held), so the file alone holds every committed transaction;
  ///  4. keep it as DATABASE.pre-restore-TIMESTAMP (a hard link, else a copy);
  ///  5. give the restored file the owner, group and mode of the file it replaces;
  ///  6. remove the old -wal/-shm/-journal (every failure aborts before the install);
  ///  7. rename the restored file into place and fsync the folder.
  restore_result restore(const std::string& requested, const std::filesystem::path& database, bool force) {
    const std::string name = resolve_name(requested);
    return observed(event::operation::restore, name, [&] {
      const detail::restore_target target = detail::restore_target_of(database, force);
      // One restore of a database at a time, whichever destination each reads: another one
      // would remove this one's temporary file as a stale one, or replace the database under it.
      detail::replace_lock restoring(target.path, "restore of backup " + name, iso8601(clock_.now()));
      auto guard = destination_.lock();
      check_result c;
      detail::temp_path copy =
          fetch_beside(name, target, c);         // 1. the backup, decompressed next to the database, checked
      require_restorable(name, copy.path(), c);  // 2. proven with the key before anything is touched
      [[maybe_unused]] auto hold =
          target.exists ? hold_for_replace(target.path) : decltype(hold_for_replace(target.path)){};
      restore_result r;  // 3. the old database kept, the new one moved in
      r.pre_restore_copy =
          detail::install_restored(copy, target, target.path.string() + ".pre-restore-" + name_timestamp(clock_.now()));
      r.database = target.path;
      r.restored = true;
      r.backup_name = name;
      r.message = "Database restored successfully.";
      return r;
    });
  }

 private:
  bool is_backup_name(std::string_view n) const {
    if (!name_problem(n).empty()) return false;
    auto ends_with = [n](std::string_view sfx) {
      return n.size() > sfx.size() && n.substr(n.size() - sfx.size()) == sfx;
    };
    if constexpr (requires { compressor_.suffixes(); }) {
      for (std::string_view sfx : compressor_.suffixes())
        if (ends_with(sfx)) return true;
      return false;
    } else {
      return ends_with(compressor_.suffix());
    }
  }

  /// Whether create streams the Exporter's plaintext pages to the Compressor, which then
  /// encrypts them (pairing_requirements), rather than compressing an exported file.
  bool streams_pages() const {
    if constexpr (concepts::exporter::exports_plaintext_pages<Exporter>)
      return compressor_.sealing();
    else
      return false;
  }

  /// create's Destination::store producer of the default path: the Exporter's copy in a
  /// private temp file, exported first, compressed into the Destination.
  std::function<void(writer&)> file_producer(const std::string& name, detail::private_temp_dir& tmp,
                                             export_result& exported, compress_result& packed) {
    const auto op = event::operation::create;
    const auto copy = tmp.path() / "snapshot.db";
    emit(event::kind::started, op, name, "export");
    exported = exporter_.export_to(
        copy, [&](std::uint64_t done) { emit(event::kind::progress, op, name, "export", done, 0); });
    return [this, &name, copy, &exported, &packed](writer& out) {
      const std::uint64_t total = exported.bytes;
      file_reader in(copy);
      packed = compressor_.compress(in, out, [&](std::uint64_t done) {
        emit(event::kind::progress, event::operation::create, name, "compress", done, total);
      });
    };
  }

  /// create's producer for a plaintext-page Exporter: its pages, read in one snapshot, go
  /// straight through the (encrypting) Compressor into the Destination; no file holds them.
  std::function<void(writer&)> page_producer(const std::string& name, export_result& exported,
                                             compress_result& packed) {
    if constexpr (concepts::exporter::exports_plaintext_pages<Exporter>) {
      return [this, &name, &exported, &packed](writer& out) {
        const auto op = event::operation::create;
        emit(event::kind::started, op, name, "export");
        exported = exporter_.export_pages(
            [&](reader& pages) {
              packed = compressor_.compress(
                  pages, out, [&](std::uint64_t done) { emit(event::kind::progress, op, name, "compress", done, 0); });
            },
            [&](std::uint64_t done) { emit(event::kind::progress, op, name, "export", done, 0); });
      };
    } else {
      return {};
    }
  }

  std::uint64_t stored_size(const std::string& name) const {
    auto e = destination_.stat(name);
    return e ? e->size : 0;
  }

  backup_info from_entry(const stored_entry& e) const {
    backup_info b;
    b.name = e.name;
    b.path = e.location;
    b.owner = e.owner;
    b.size = e.size;
    b.sha256 = e.sha256;
    b.created_at = timestamp_from_name(e.name, options_.name_prefix).value_or(e.modified);
    return b;
  }

  /// A backup as the content its Destination kept for it says (see Destination::annotate).
  backup_info described(const stored_entry& e) const {
    backup_info b = from_entry(e);
    if (!e.content->problem.empty()) {
      b.problem = e.content->problem;
      return b;
    }
    b.compressed = true;
    b.encrypted = e.content->encrypted;
    b.deflated = e.content->deflated;
    return b;
  }

  /// Reads the first bytes of the backup to tell whether it is one, encrypted and compressed.
  /// `conclusive` (when given) is set when the answer is about the content (read, or found not
  /// to be a backup), not a failure to read it.
  backup_info inspect(const stored_entry& e, bool* conclusive = nullptr) const {
    backup_info b = from_entry(e);
    try {
      auto in = destination_.open(e.name);
      std::array<std::byte, head_size> head{};
      peek_result p = compressor_.peek(*in, head);
      b.compressed = true;
      b.deflated = p.compressed;
      if (p.sealed) {
        b.encrypted = true;  // its content is read only with the key
      } else {
        const head_info h = inspect_head(std::span<const std::byte>(head.data(), p.bytes));
        b.encrypted = h.encrypted;
        if (!h.problem.empty()) b.problem = "not a backup: " + h.problem;
      }
      if (conclusive) *conclusive = true;
    } catch (const error& ex) {
      b.problem = std::string("not a backup: ") + ex.what();
      // The content is not the Compressor's format (or is damaged): a fact about the bytes,
      // unlike a failure to reach them.
      if (conclusive) *conclusive = ex.code() == errc::corrupt_backup || ex.code() == errc::not_a_backup;
    }
    return b;
  }

  /// How many leading bytes the Exporter's inspect_head wants (none when it has no such member).
  static constexpr std::size_t head_size = [] {
    if constexpr (requires { Exporter::head_bytes; })
      return std::size_t{Exporter::head_bytes};
    else
      return std::size_t{0};
  }();

  /// The Exporter's reading of a file's first bytes; an Exporter without inspect_head() says
  /// nothing (not encrypted as far as the runner knows, no problem).
  head_info inspect_head(std::span<const std::byte> head) const {
    if constexpr (requires { exporter_.inspect_head(head); })
      return exporter_.inspect_head(head);
    else
      return {};
  }

  /// Passes bytes on, and refuses content the Exporter does not recognise (inspect_head) as
  /// soon as its first head_size bytes are in (or at its end when shorter): a damaged or planted
  /// backup, a gzip bomb of zeros, is refused before it is written out in full.
  class head_checked_writer final : public writer {
   public:
    head_checked_writer(writer& out, const BackupRunner& runner) : out_(out), runner_(runner) {}
    void write(std::span<const std::byte> data) override {
      if (!checked_) {
        const std::size_t n = std::min(data.size(), head_.size() - filled_);
        std::memcpy(head_.data() + filled_, data.data(), n);
        filled_ += n;
        if (filled_ == head_.size()) check();
      }
      out_.write(data);
    }
    void finish() {
      if (!checked_) check();
    }

   private:
    void check() {
      checked_ = true;
      const head_info h = runner_.inspect_head(std::span<const std::byte>(head_.data(), filled_));
      if (!h.problem.empty()) throw corrupt_backup_error("The backup is not a database: " + h.problem);
    }
    writer& out_;
    const BackupRunner& runner_;
    std::array<std::byte, head_size> head_{};
    std::size_t filled_ = 0;
    bool checked_ = head_size == 0;
  };

  void decompress_into(reader& in, writer& out, event::operation op, const std::string& name, std::uint64_t total) {
    emit(event::kind::started, op, name, "decompress", 0, total);
    head_checked_writer checked_out(out, *this);
    compressor_.decompress(
        in, checked_out, [&](std::uint64_t done) { emit(event::kind::progress, op, name, "decompress", done, total); });
    checked_out.finish();
  }

  /// Returns the Exporter's check of `file` (see unpack_into).
  check_result unpack(reader& in, const std::filesystem::path& file, event::operation op, const std::string& name,
                      std::uint64_t total) {
    file_writer out(file, 0600, durability::scratch);  // read back at once and deleted: no fsync
    return unpack_into(in, out, file, durability::scratch, op, name, total);
  }

  /// Decompresses `in` into `file`, created empty and open as `out`, finishes it and returns the
  /// Exporter's check of it. A stream the Compressor encrypted (sealed) may hold plaintext
  /// pages: they go through the Exporter's load_pages, which writes them encrypted, never
  /// through `out`, and the file is checked while the loader is open (see checked_loaded).
  check_result unpack_into(reader& in, file_writer& out, const std::filesystem::path& file, durability d,
                           event::operation op, const std::string& name, std::uint64_t total) {
    if constexpr (concepts::compressor::encrypting<Compressor> && concepts::exporter::has_load_pages<Exporter>) {
      lookahead_reader<Compressor::sealed_head_bytes> ahead(in);
      if (compressor_.sealed(ahead.head())) {
        out.finish();  // stays empty: the loader opens the file as a database
        auto loader = exporter_.load_pages(file, d);
        try {
          decompress_into(ahead, *loader, op, name, total);
        } catch (const encryption_error& e) {
          throw encryption_error(std::string(wrong_key_message) + " (" + e.what() + ")");
        }
        loader->finish();
        return checked_loaded(*loader, file, op, name);
      }
      decompress_into(ahead, out, op, name, total);
    } else {
      decompress_into(in, out, op, name, total);
    }
    out.finish();
    return checked(file, op, name);
  }

  std::filesystem::path temp_directory() const {
    if (!options_.temp_directory.empty()) return options_.temp_directory;
    std::error_code ec;
    auto p = std::filesystem::temp_directory_path(ec);
    if (ec)
      throw io_error("The temporary folder (TMPDIR) cannot be used: " + ec.message() +
                     "; set TMPDIR to a writable folder");
    return p;
  }

  /// Why options.accept_backup refuses a check that passed, or empty.
  std::string refusal(const check_result& c) const {
    return c.valid && options_.accept_backup ? options_.accept_backup(c) : std::string();
  }
  check_result accepted(check_result c) const {
    if (auto why = refusal(c); !why.empty()) {
      c.valid = false;
      c.message = std::move(why);
    }
    return c;
  }

  /// The Exporter's check of `file`.
  check_result checked(const std::filesystem::path& file, event::operation op, const std::string& name) {
    emit(event::kind::started, op, name, "check");
    return exporter_.check(file);
  }

  /// The Exporter's check of the file `loader` has just written: its check_loaded when it has
  /// one, else check.
  template <class Loader>
  check_result checked_loaded(Loader& loader, const std::filesystem::path& file, event::operation op,
                              const std::string& name) {
    if constexpr (concepts::exporter::has_check_loaded<Exporter>) {
      emit(event::kind::started, op, name, "check");
      return exporter_.check_loaded(loader);
    } else {
      return checked(file, op, name);
    }
  }

  /// Decompresses the backup into a temp file beside the database (detail::create_restore_file);
  /// `check` gets the Exporter's check of it.
  detail::temp_path fetch_beside(const std::string& name, const detail::restore_target& target, check_result& check) {
    auto [fd, copy] = detail::create_restore_file(target, options_.temp_files);
    auto in = destination_.open(name);
    file_writer out(std::move(fd), "Failed to write the restored database in " + target.path.parent_path().string());
    check = unpack_into(*in, out, copy.path(), durability::durable, event::operation::restore, name, stored_size(name));
    return std::move(copy);
  }

  /// Throws unless the decompressed backup at `file` passed the Exporter's check with the key
  /// (`c`, see fetch_beside) and passes the program's own acceptance, and is encrypted whenever
  /// a key is configured.
  void require_restorable(const std::string& name, const std::string& file, const check_result& c) {
    if (!c.valid) {
      if (c.key_missing) throw key_required_error("Backup " + name + " is encrypted and no key was given");
      if (c.wrong_key) throw encryption_error(std::string(wrong_key_message));
      throw corrupt_backup_error("Backup " + name +
                                 " failed verification: " + detail::without_path(c.message, file, "the backup"));
    }
    if (auto why = refusal(c); !why.empty()) throw not_a_backup_error("Backup " + name + " is refused: " + why);
    if (c.unencrypted_with_key)
      throw unencrypted_backup_error("Backup " + name +
                                     " is not encrypted, but a database key is configured: restoring it would "
                                     "leave the database unencrypted");
  }

  /// Exporter::prepare_replace when the Exporter has it; otherwise only a database whose
  /// -wal and -journal hold nothing may be replaced.
  auto hold_for_replace(const std::filesystem::path& target) {
    if constexpr (requires { exporter_.prepare_replace(target); }) {
      return exporter_.prepare_replace(target);
    } else {
      detail::require_no_pending_sidecar(target);
      return 0;
    }
  }

  /// The sequence number for the next automatic name of the second of `t`: 0 when no backup
  /// of that second exists, else one above the highest present.
  int next_sequence(time_point t) {
    const std::string stem = default_name(t, "", 0, options_.name_prefix);
    int next = 0;
    for (const auto& e : destination_.list()) {
      if (e.name.compare(0, stem.size(), stem) != 0 || !is_backup_name(e.name)) continue;
      const auto when = timestamp_from_name(e.name, options_.name_prefix);
      if (!when || default_name(*when, "", 0, options_.name_prefix) != stem) continue;
      next = std::max(next, sequence_from_name(e.name, options_.name_prefix) + 1);
    }
    return next;
  }

  void emit(event::kind k, event::operation op, const std::string& name, std::string_view stage = {},
            std::uint64_t done = 0, std::uint64_t total = 0, std::string message = {}) const {
    if (options_.observer) options_.observer(event{k, op, name, std::string(stage), done, total, std::move(message)});
  }

  template <class F>
  auto observed(event::operation op, const std::string& name, F&& f) {
    emit(event::kind::started, op, name, "");
    try {
      auto r = f();
      emit(event::kind::finished, op, result_name(r, name), "");
      return r;
    } catch (const std::exception& e) {
      emit(event::kind::failed, op, name, "", 0, 0, e.what());
      throw;
    }
  }
  template <class R>
  static std::string result_name(const R& r, const std::string& fallback) {
    if constexpr (requires { r.name; })
      return r.name.empty() ? fallback : r.name;
    else
      return fallback;
  }

  Exporter exporter_;
  Compressor compressor_;
  Destination destination_;
  Clock clock_;
  runner_options options_;
};

}  // namespace hone::backup

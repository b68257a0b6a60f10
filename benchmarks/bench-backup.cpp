// hone-bench: the backup pipeline measured against the original's, side by side in one run.
//
// For each database size and kind (Hone-style, encrypted and plain) every operation runs in
// its own forked child process, `reps` times, interleaved (rep 1 of every operation, then rep
// 2, ...) so that a change in the machine's load hits them alike; medians are reported. A
// writer committing small transactions every 2 ms measures what a backup costs the
// application. The result is a markdown table on stdout and a JSON file. See
// scripts/bench.sh and the README's Performance section.
//
//   hone-bench [boost.test options] -- [--size 20,250] [--reps 5] [--json FILE] [--smoke] ...
#define BOOST_TEST_MODULE hone_bench
#include <boost/test/unit_test.hpp>

#include "bench_support.hpp"

#include <hone/backup/compressors/age_compressor.hpp>

#include <csignal>
#include <poll.h>
#include <map>
#include <optional>
#include <thread>

using namespace hone_bench;

namespace {

// ---------------------------------------------------------------------------------------------
// The run's state, filled by the test cases and written out by the global fixture.

struct run_state {
  settings s;
  std::vector<std::string> command;
  json runs = json::array();
  json writer = json::array();
  json targets = json::array();
  double load_start = 0;
  double started = 0;
};

run_state& state() {
  static run_state r;
  return r;
}

void add_target(const std::string& name, int size_mb, const std::string& kind, double measured, double limit,
                const std::string& unit, bool met, const std::string& note = "") {
  state().targets.push_back({{"target", name},
                             {"size_mb", size_mb},
                             {"kind", kind},
                             {"measured", measured},
                             {"limit", limit},
                             {"unit", unit},
                             {"met", met},
                             {"note", note}});
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_bytes(double b) {
  if (b >= 1e6) return fmt("%.1f MB", b / 1e6);
  if (b >= 1e3) return fmt("%.1f kB", b / 1e3);
  return fmt("%.0f B", b);
}

// ---------------------------------------------------------------------------------------------
// Runners as a Hone installation configures them, and single changes of that configuration.

/// One change of the default configuration (nothing set: the library's defaults).
struct variant {
  std::optional<hb::export_method> method = std::nullopt;
  std::optional<hb::deflate_engine> engine = std::nullopt;
  std::optional<hb::check_level> check = std::nullopt;
};

hb::local_runner make_runner(const fs::path& db, const fs::path& dir, const fs::path& tmp, const variant& v = {}) {
  hb::sqlcipher_exporter::options o;
  // A plain database gets no key: a key would make restore refuse its plain backups.
  if (!hb::detail::has_plain_header(db)) o.key = bench_key();
  if (v.method) o.method = *v.method;
  if (v.check) o.check = *v.check;
  hb::gzip_options g;
  if (v.engine) g.engine = *v.engine;
  hb::runner_options ro;
  ro.temp_directory = tmp;
  return hb::local_runner(hb::sqlcipher_exporter(db, o), hb::gzip_compressor(g), hb::local_directory(dir),
                          hb::system_clock{}, ro);
}

/// The passphrase of the compact backups (the age scrypt recipient, work factor 2^15 as `hone`
/// writes them).
constexpr const char* compact_passphrase = "bench-compact-passphrase";

using compact_runner =
    hb::BackupRunner<hb::sqlcipher_page_exporter, hb::age_compressor<>, hb::local_directory, hb::system_clock>;

/// The compact format's runner (NAME.db.gz.age): pages decrypted by SQLCipher, libdeflate -6
/// blocks, age (scrypt 2^15), with the library's default check.
compact_runner make_compact_runner(const fs::path& db, const fs::path& dir, const fs::path& tmp) {
  hb::sqlcipher_exporter::options o;
  if (!hb::detail::has_plain_header(db)) o.key = bench_key();
  hb::age_compressor_options a;
  a.recipients.push_back(hb::age::scrypt_recipient{compact_passphrase, 15});
  a.identities.push_back(hb::age::passphrase_identity{compact_passphrase});
  hb::runner_options ro;
  ro.temp_directory = tmp;
  return compact_runner(hb::sqlcipher_page_exporter(db, o), hb::age_compressor<>(a), hb::local_directory(dir),
                        hb::system_clock{}, ro);
}

std::string method_name(hb::export_method m) {
  switch (m) {
    case hb::export_method::automatic: return "automatic";
    case hb::export_method::backup_api: return "backup_api";
    case hb::export_method::sqlcipher_export: return "sqlcipher_export";
  }
  return "?";
}

/// The method export_method::automatic picks for this kind of database.
hb::export_method automatic_method(bool encrypted) {
  return encrypted && hb::detail::sqlcipher_major() >= 4 ? hb::export_method::backup_api
                                                         : hb::export_method::sqlcipher_export;
}

hb::export_method other_method(bool encrypted) {
  return automatic_method(encrypted) == hb::export_method::backup_api ? hb::export_method::sqlcipher_export
                                                                      : hb::export_method::backup_api;
}

/// create() with a configuration; returns what it reported.
json create_with(const variant& v, const fs::path& db, const fs::path& dir, const fs::path& tmp) {
  auto b = make_runner(db, dir, tmp, v).create();
  return json{{"bytes", b.size}, {"compressed", b.compressed}, {"deflated", b.deflated}, {"encrypted", b.encrypted}};
}

/// Runs one PRAGMA to completion on a file opened read-only with the bench key; returns the
/// first result row.
std::string run_pragma(const fs::path& file, bool encrypted, const std::string& sql, int cache_kib = 0) {
  auto db = hb::detail::open_database(file, SQLITE_OPEN_READONLY, encrypted ? bench_key() : hb::database_key{});
  if (cache_kib > 0) hb::detail::exec(db.get(), "PRAGMA cache_size = -" + std::to_string(cache_kib));
  hb::detail::statement st(db.get(), sql);
  std::string first;
  bool any = false;
  while (st.step())
    if (!any) {
      first = st.column_text(0);
      any = true;
    }
  return first;
}

// ---------------------------------------------------------------------------------------------
// One (size, kind): every operation, interleaved repetitions.

struct op_def {
  std::string id;
  std::string label;
  std::function<json(int rep)> run;  ///< runs in a child; rep numbers the output files
  bool info = false;                 ///< informative row (not part of a target)
  bool once_when_large = false;      ///< slow informative row: one repetition from 100 MB on
};

json summarize(const std::vector<sample>& v) {
  std::vector<double> secs, rss, cpu;
  json samples = json::array();
  for (auto& s : v) {
    samples.push_back({{"seconds", s.seconds}, {"cpu_s", s.cpu_seconds}, {"max_rss_mib", s.max_rss_mib}});
    secs.push_back(s.seconds);
    cpu.push_back(s.cpu_seconds);
    rss.push_back(s.max_rss_mib);
  }
  json j;
  j["samples"] = samples;
  j["median_s"] = median(secs);
  j["min_s"] = *std::min_element(secs.begin(), secs.end());
  j["median_cpu_s"] = median(cpu);
  j["max_s"] = *std::max_element(secs.begin(), secs.end());
  j["peak_rss_mib"] = *std::max_element(rss.begin(), rss.end());
  j["extra"] = v.back().extra;
  return j;
}

void bench_database(const std::string& kind, int size_mb) {
  const settings& s = state().s;
  const bool encrypted = kind == "encrypted";
  const fs::path db = cached_database(s, kind, size_mb);
  const double db_bytes = static_cast<double>(bytes_of(db));
  const fs::path work = s.scratch / ("work-" + kind + "-" + std::to_string(size_mb));
  fs::remove_all(work);
  fs::create_directories(work / "tmp");
  bench_key();  // derived once, before any fork

  // The reference backup that verify, restore and the decompression reference read.
  const fs::path ref_dir = work / "ref";
  std::string ref_name;
  {
    sample r = in_child([&] {
      auto runner = make_runner(db, ref_dir, work / "tmp");
      auto b = runner.create("reference");
      return json{{"name", b.name}};
    });
    BOOST_TEST_REQUIRE(r.ok, "reference backup: " << r.error);
    ref_name = r.extra["name"].get<std::string>();
  }
  const fs::path ref_file = ref_dir / ref_name;
  // The same for the compact format (encrypted databases: the format decrypts pages).
  const bool compact = encrypted && hb::sqlcipher_page_exporter::supported();
  const fs::path compact_dir = work / "ref-compact";
  std::string compact_name;
  if (compact) {
    sample r = in_child([&] {
      return json{{"name", make_compact_runner(db, compact_dir, work / "tmp").create().name}};
    });
    BOOST_TEST_REQUIRE(r.ok, "reference compact backup: " << r.error);
    compact_name = r.extra["name"].get<std::string>();
  }
  const fs::path ref_plain = work / "reference.db";  // decompressed once, for the check rows
  zlib_gunzip_file(ref_file, ref_plain);

  const auto auto_method = automatic_method(encrypted);
  const auto alt_method = other_method(encrypted);
  auto create_op = [&db, &work](variant v) {
    return [&db, &work, v](int rep) {
      return create_with(v, db, work / ("backups-" + std::to_string(rep)), work / "tmp");
    };
  };
  std::vector<op_def> ops;
  ops.push_back({"idle_child", "(a forked child that does nothing: the process's own footprint)",
                 [](int) { return json::object(); }, true});
  ops.push_back({"raw_copy", "raw copy of the database file (read + write + fsync): the floor", [&](int rep) {
                   const fs::path out = work / ("copy-" + std::to_string(rep) + ".db");
                   return json{{"bytes", raw_copy(db, out)}};
                 }});
  ops.push_back({"original",
                 "**original's pipeline**: `sqlcipher_export` to a file, then zlib -6 of the whole file, 1 thread",
                 [&](int rep) {
                   const fs::path tmp = work / ("orig-" + std::to_string(rep) + ".db");
                   const fs::path out = work / ("orig-" + std::to_string(rep) + ".db.gz");
                   original_export(db, encrypted, tmp);
                   std::uint64_t n = zlib_gzip_file(tmp, out, 6);
                   fs::remove(tmp);
                   return json{{"bytes", n}};
                 }});
  ops.push_back({"export_original", "export alone: the original's `sqlcipher_export` to a file", [&](int rep) {
                   const fs::path out = work / ("export-orig-" + std::to_string(rep) + ".db");
                   return json{{"bytes", original_export(db, encrypted, out)}};
                 }});
  ops.push_back({"export_ours",
                 "export alone: the library's exporter (`" + method_name(auto_method) + "`, unsynced copy)",
                 [&](int rep) {
                   const fs::path out = work / ("export-ours-" + std::to_string(rep) + ".db");
                   hb::sqlcipher_exporter::options o;
                   o.key = bench_key();
                   hb::sqlcipher_exporter ex(db, o);
                   return json{{"bytes", ex.export_to(out, {}).bytes}};
                 }});
  ops.push_back({"create_default",
                 "**create**, default configuration (`" + method_name(auto_method) + "`, libdeflate -6 blocks)",
                 create_op({})});
  ops.push_back({"create_zlib", "create with zlib -6 blocks instead of libdeflate",
                 create_op({.engine = hb::deflate_engine::zlib}), true});
  ops.push_back({"create_other_method", "create with `" + method_name(alt_method) + "` instead",
                 create_op({.method = alt_method}), true});
  ops.push_back(
      {"gunzip", "decompress the backup with zlib into a file + fsync (reference for verify/restore)", [&](int rep) {
         const fs::path out = work / ("gunzip-" + std::to_string(rep) + ".db");
         return json{{"bytes", zlib_gunzip_file(ref_file, out)}};
       }});
  const std::string checks = encrypted && hb::detail::sqlcipher_major() >= 4 ? "cipher_integrity_check + " : "";
  for (auto level : {hb::check_level::full, hb::check_level::quick}) {
    const bool full = level == hb::check_level::full;
    const std::string tag = full ? "" : "_quick";
    const std::string what = checks + (full ? "integrity_check" : "quick_check") + " + counts";
    ops.push_back({"verify" + tag,
                   full ? "**verify**, default (decompress + " + what + ")"
                        : "verify `--check quick` (decompress + " + what + ")",
                   [&, level](int) {
                     auto runner = make_runner(db, ref_dir, work / "tmp", {.check = level});
                     auto v = runner.verify(ref_name);
                     if (!v.valid) throw std::runtime_error("verify said invalid: " + v.message);
                     return json{{"valid", v.valid}};
                   }});
    ops.push_back({"restore" + tag,
                   full ? "**restore** to a new path, default (decompress + fsync + " + what + " + rename)"
                        : "restore `--check quick` (decompress + fsync + " + what + " + rename)",
                   [&, level](int rep) {
                     auto runner = make_runner(db, ref_dir, work / "tmp", {.check = level});
                     const fs::path target = work / ("restored-" + std::to_string(rep) + ".db");
                     auto r = runner.restore(ref_name, target, false);
                     if (!r.restored) throw std::runtime_error("restore failed: " + r.message);
                     return json{{"restored", true}};
                   }});
  }
  if (compact) {
    ops.push_back({"create_compact", "**create, compact format** (`.db.gz.age`: decrypted pages, libdeflate -6, age)",
                   [&](int rep) {
                     auto b = make_compact_runner(db, work / ("backups-" + std::to_string(rep)), work / "tmp").create();
                     return json{{"bytes", b.size}, {"encrypted", b.encrypted}, {"deflated", b.deflated}};
                   }});
    ops.push_back(
        {"verify_compact", "**verify, compact format** (age + inflate + load, integrity checks + counts)", [&](int) {
           auto v = make_compact_runner(db, compact_dir, work / "tmp").verify(compact_name);
           if (!v.valid) throw std::runtime_error("verify said invalid: " + v.message);
           return json{{"valid", v.valid}};
         }});
    ops.push_back({"restore_compact", "**restore, compact format** to a new path", [&](int rep) {
                     const fs::path target = work / ("restored-compact-" + std::to_string(rep) + ".db");
                     auto r = make_compact_runner(db, compact_dir, work / "tmp").restore(compact_name, target, false);
                     if (!r.restored) throw std::runtime_error("restore failed: " + r.message);
                     return json{{"restored", true}};
                   }});
  }
  if (encrypted && hb::detail::sqlcipher_major() >= 4)
    ops.push_back({"cipher_integrity_check", "check alone: `PRAGMA cipher_integrity_check`",
                   [&](int) {
                     return json{{"result", run_pragma(ref_plain, true, "PRAGMA cipher_integrity_check")}};
                   },
                   true, true});
  ops.push_back({"integrity_check", "check alone: `PRAGMA integrity_check`, SQLite's default 2 MiB cache",
                 [&](int) {
                   return json{{"result", run_pragma(ref_plain, encrypted, "PRAGMA integrity_check")}};
                 },
                 true, true});
  ops.push_back({"integrity_check_cache32", "check alone: `PRAGMA integrity_check`, 32 MiB cache (the library's)",
                 [&](int) {
                   return json{{"result", run_pragma(ref_plain, encrypted, "PRAGMA integrity_check", 32 * 1024)}};
                 },
                 true, true});
  ops.push_back({"quick_check", "check alone: `PRAGMA quick_check`",
                 [&](int) {
                   return json{{"result", run_pragma(ref_plain, encrypted, "PRAGMA quick_check")}};
                 },
                 true, true});

  std::map<std::string, std::vector<sample>> results;
  const int reps = s.reps_for(size_mb);
  for (int rep = 0; rep < reps; ++rep) {
    for (auto& op : ops) {
      if (op.once_when_large && size_mb >= 100 && rep > 0) continue;
      sample r = in_child([&] { return op.run(rep); });
      BOOST_TEST(r.ok, kind << " " << size_mb << " MB " << op.id << ": " << r.error);
      if (!r.ok) continue;
      results[op.id].push_back(r);
      // Outputs are removed between repetitions (outside the timing) so the disk stays small.
      for (auto& e : fs::directory_iterator(work)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("copy-", 0) == 0 || n.rfind("orig-", 0) == 0 || n.rfind("export-", 0) == 0 ||
            n.rfind("backups-", 0) == 0 || n.rfind("gunzip-", 0) == 0 || n.rfind("restored-", 0) == 0)
          fs::remove_all(e.path());
      }
    }
  }

  json run;
  run["size_mb"] = size_mb;
  run["kind"] = kind;
  run["database_bytes"] = db_bytes;
  run["reps"] = reps;
  run["default_export_method"] = method_name(auto_method);
  run["reference_backup_bytes"] = bytes_of(ref_file);
  json jops = json::object();
  json order = json::array();
  for (auto& op : ops) {
    if (results[op.id].empty()) continue;
    json j = summarize(results[op.id]);
    j["label"] = op.label + (results[op.id].size() < static_cast<std::size_t>(reps) && reps > 1
                                 ? " (" + std::to_string(results[op.id].size()) + " run)"
                                 : "");
    j["info"] = op.info;
    jops[op.id] = j;
    order.push_back(op.id);
  }
  run["ops"] = jops;
  run["order"] = order;

  // Checks of what was made.
  for (const char* id : {"create_default", "create_zlib", "create_other_method"}) {
    if (!jops.contains(id)) continue;
    BOOST_TEST(jops[id]["extra"]["compressed"].get<bool>(), id << ": every gzip backup is compressed");
    bool deflated = jops[id]["extra"]["deflated"].get<bool>();
    BOOST_TEST(deflated == !encrypted, id << ": the deflated flag of a " << kind << " backup");
    BOOST_TEST(jops[id]["extra"]["encrypted"].get<bool>() == encrypted);
  }
  if (jops.contains("gunzip")) {  // zlib stops after the first member: all of it must be there
    double n = jops["gunzip"]["extra"]["bytes"].get<double>();
    BOOST_TEST(n == static_cast<double>(bytes_of(ref_plain)), "a backup is one gzip member");
  }

  // The targets of this (size, kind).
  auto med = [&](const std::string& id) { return jops.contains(id) ? jops[id]["median_s"].get<double>() : NAN; };
  auto rss = [&](const std::string& id) { return jops.contains(id) ? jops[id]["peak_rss_mib"].get<double>() : NAN; };
  const double original = med("original");
  const double create = med("create_default");
  if (encrypted) {
    add_target("create / original pipeline", size_mb, kind, create / original, 0.33, "x", create / original <= 0.33);
    add_target("create / export alone (the original's sqlcipher_export)", size_mb, kind,
               create / med("export_original"), 1.15, "x", create / med("export_original") <= 1.15);
    add_target("create / export alone (the library's own exporter, " + method_name(auto_method) + ")", size_mb, kind,
               create / med("export_ours"), 1.15, "x", create / med("export_ours") <= 1.15);
  } else {
    add_target("create / original pipeline", size_mb, kind, create / original, 0.4, "x", create / original <= 0.4);
    double ours = jops["create_default"]["extra"]["bytes"].get<double>();
    double zlib6 = jops["original"]["extra"]["bytes"].get<double>();
    add_target("create output / zlib -6 output", size_mb, kind, ours / zlib6, 1.03, "x", ours / zlib6 <= 1.03,
               "zlib -6 ratio " + fmt("%.3f", zlib6 / db_bytes));
  }
  for (const std::string op : {"verify", "restore"})
    for (const std::string tag : {"", "_quick"}) {
      const double r = med(op + tag) / med("gunzip");
      add_target(op + (tag.empty() ? " (default: full)" : " (--check quick)") + " / decompress-to-file", size_mb, kind,
                 r, 1.5, "x", r <= 1.5);
    }
  add_target("peak RSS of create", size_mb, kind, rss("create_default"), 64, "MiB", rss("create_default") <= 64);
  add_target("peak RSS of restore", size_mb, kind, rss("restore"), 64, "MiB", rss("restore") <= 64);
  if (jops.contains("create_compact")) {
    const double size_ratio =
        jops["create_compact"]["extra"]["bytes"].get<double>() / jops["create_default"]["extra"]["bytes"].get<double>();
    add_target("compact size / default backup size", size_mb, kind, size_ratio, 0.40, "x", size_ratio <= 0.40);
    const std::pair<const char*, double> ratios[] = {{"create", 1.5}, {"verify", 1.3}, {"restore", 1.3}};
    for (const auto& [op, limit] : ratios) {
      const double r = med(std::string(op) + "_compact") / med(op == std::string("create") ? "create_default" : op);
      add_target(std::string("compact ") + op + " / default " + op, size_mb, kind, r, limit, "x", r <= limit);
    }
    for (const char* op : {"create", "verify", "restore"}) {
      const double m = rss(std::string(op) + "_compact");
      add_target(std::string("peak RSS of compact ") + op, size_mb, kind, m, 64, "MiB", m <= 64);
    }
  }

  state().runs.push_back(run);
  fs::remove_all(work);
}

// ---------------------------------------------------------------------------------------------
// A writer committing a small transaction every 2 ms (WAL, synchronous=NORMAL as Hone runs,
// busy_timeout 0 so that any blocking is an SQLITE_BUSY) while backups are taken.

struct commit_record {
  double start;    ///< CLOCK_MONOTONIC seconds
  double latency;  ///< seconds from BEGIN to the end of COMMIT
  int rc;          ///< SQLITE_OK, or the first failing result code
};

/// The writer process's body: commits until stop_fd becomes readable, then writes its records
/// to out_fd.
[[noreturn]] void writer_main(const fs::path& db_path, bool encrypted, int stop_fd, int out_fd) {
  std::vector<commit_record> recs;
  recs.reserve(1 << 16);
  try {
    auto db = hb::detail::open_database(db_path, SQLITE_OPEN_READWRITE, encrypted ? bench_key() : hb::database_key{});
    sqlite3* h = db.get();
    hb::detail::exec(h, "PRAGMA journal_mode = WAL");
    hb::detail::exec(h, "PRAGMA synchronous = NORMAL");
    sqlite3_busy_timeout(h, 0);
    hb::detail::statement ins(h,
                              "INSERT INTO transactions(account_id, date, description, amount, category, "
                              "import_hash) VALUES (1, '2025-01-01', 'WRITER TEST PURCHASE', ?1, 'test', ?2)");
    hb::detail::statement upd(h, "UPDATE accounts SET entity_id = ?1 WHERE id = 1");
    const double period = 0.002;
    double next = mono_now();
    for (std::int64_t i = 0;; ++i) {
      pollfd p{stop_fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) break;
      double t0 = mono_now();
      int rc = sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) {
        sqlite3_bind_double(ins.get(), 1, -1.0 - static_cast<double>(i % 100));
        std::string hash = "writer-" + std::to_string(::getpid()) + "-" + std::to_string(i);
        sqlite3_bind_text(ins.get(), 2, hash.c_str(), -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(ins.get());
        sqlite3_reset(ins.get());
        if (rc == SQLITE_DONE) {
          sqlite3_bind_int64(upd.get(), 1, i);
          rc = sqlite3_step(upd.get());
          sqlite3_reset(upd.get());
        }
        if (rc == SQLITE_DONE) rc = sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
      }
      double t1 = mono_now();
      recs.push_back({t0, t1 - t0, rc});
      next += period;
      double now = mono_now();
      if (next > now) {
        std::this_thread::sleep_for(std::chrono::duration<double>(next - now));
      } else {
        next = now;  // late (descheduled): no burst to catch up
      }
    }
  } catch (const std::exception& e) {
    recs.push_back({mono_now(), -1, -1});
    std::fprintf(stderr, "writer: %s\n", e.what());
  }
  write_all_fd(out_fd, std::string(reinterpret_cast<const char*>(recs.data()), recs.size() * sizeof(commit_record)));
  ::_exit(0);
}

json latency_summary(const std::vector<commit_record>& v) {
  std::vector<double> lat;
  long busy = 0, errors = 0;
  for (auto& r : v) {
    if (r.rc == SQLITE_OK) {
      lat.push_back(r.latency * 1000.0);
    } else if ((r.rc & 0xff) == SQLITE_BUSY || (r.rc & 0xff) == SQLITE_LOCKED) {
      ++busy;
    } else {
      ++errors;
    }
  }
  return {{"commits", lat.size()},
          {"p50_ms", percentile(lat, 50)},
          {"p99_ms", percentile(lat, 99)},
          {"max_ms", lat.empty() ? NAN : *std::max_element(lat.begin(), lat.end())},
          {"busy", busy},
          {"errors", errors}};
}

void bench_writer(const std::string& kind, int size_mb) {
  const settings& s = state().s;
  const bool encrypted = kind == "encrypted";
  const fs::path cached = cached_database(s, kind, size_mb);
  const fs::path work = s.scratch / ("writer-" + kind + "-" + std::to_string(size_mb));
  fs::remove_all(work);
  fs::create_directories(work / "tmp");
  const fs::path db = work / "live.db";
  fs::copy_file(cached, db);
  bench_key();

  int stop_pipe[2], out_pipe[2];
  BOOST_TEST_REQUIRE(::pipe(stop_pipe) == 0);
  BOOST_TEST_REQUIRE(::pipe(out_pipe) == 0);
  std::fflush(stdout);
  pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(stop_pipe[1]);
    ::close(out_pipe[0]);
    writer_main(db, encrypted, stop_pipe[0], out_pipe[1]);
  }
  ::close(stop_pipe[0]);
  ::close(out_pipe[1]);
  // Collect the writer's output concurrently: its records can exceed the pipe's buffer.
  std::string raw;
  std::thread reader([&] {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      raw.append(buf, static_cast<std::size_t>(n));
    }
  });

  struct window {
    double from, to;
    std::string method;
  };
  std::vector<window> windows;
  std::vector<std::pair<double, double>> quiet;
  auto idle = [&] {
    double t0 = mono_now();
    std::this_thread::sleep_for(std::chrono::duration<double>(s.writer_idle_s));
    quiet.push_back({t0, mono_now()});
  };
  const auto auto_method = automatic_method(encrypted);
  const std::vector<std::pair<variant, std::string>> configs = {
      {{}, "default: " + method_name(auto_method) + ", libdeflate"},
      {{.method = other_method(encrypted)}, method_name(other_method(encrypted))}};
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // writer opened and warmed up
  idle();
  for (int b = 0; b < s.writer_backups; ++b) {
    for (auto& [c, name] : configs) {
      double t0 = mono_now();
      sample r = in_child([&, c = c] { return create_with(c, db, work / "backups", work / "tmp"); });
      double t1 = mono_now();
      BOOST_TEST(r.ok, "backup during writes: " << r.error);
      windows.push_back({t0, t1, name});
      idle();
    }
  }
  write_all_fd(stop_pipe[1], "x");
  ::close(stop_pipe[1]);
  reader.join();
  ::close(out_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);

  std::vector<commit_record> recs(raw.size() / sizeof(commit_record));
  std::memcpy(recs.data(), raw.data(), recs.size() * sizeof(commit_record));
  BOOST_TEST_REQUIRE(!recs.empty(), "the writer made no commit");
  BOOST_TEST(recs.back().latency >= 0, "the writer failed (see stderr)");
  std::vector<commit_record> base;
  std::map<std::string, std::vector<commit_record>> during;
  for (auto& r : recs) {
    bool placed = false;
    for (auto& w : windows)
      if (r.start >= w.from && r.start <= w.to) {
        during[w.method].push_back(r);
        placed = true;
      }
    if (!placed)
      for (auto& q : quiet)
        if (r.start >= q.first && r.start <= q.second) base.push_back(r);
  }
  json j;
  j["size_mb"] = size_mb;
  j["kind"] = kind;
  j["default_export_method"] = method_name(auto_method);
  j["without_backup"] = latency_summary(base);
  j["backups"] = s.writer_backups;
  j["backup_seconds"] = json::array();
  for (auto& w : windows) j["backup_seconds"].push_back({{"method", w.method}, {"seconds", w.to - w.from}});
  for (auto& [m, v] : during) j["during_backup"][m] = latency_summary(v);
  state().writer.push_back(j);

  const json& wo = j["without_backup"];
  for (auto& [m, v] : during) {
    const json& w = j["during_backup"][m];
    const std::string tag;
    double ratio = w["p99_ms"].get<double>() / wo["p99_ms"].get<double>();
    add_target("writer p99 commit latency with / without backup, " + m + tag, size_mb, kind, ratio, 2, "x", ratio <= 2,
               fmt("%.2f", w["p99_ms"].get<double>()) + " ms vs " + fmt("%.2f", wo["p99_ms"].get<double>()) + " ms");
    long busy = w["busy"].get<long>() + wo["busy"].get<long>();
    add_target("writer SQLITE_BUSY + errors, " + m + tag, size_mb, kind,
               static_cast<double>(busy + w["errors"].get<long>()), 0, "", busy + w["errors"].get<long>() == 0);
  }
  fs::remove_all(work);
}

// ---------------------------------------------------------------------------------------------
// Output.

std::string markdown() {
  const run_state& st = state();
  std::ostringstream o;
  for (const json& run : st.runs) {
    const double db_bytes = run["database_bytes"].get<double>();
    const double original = run["ops"].contains("original") ? run["ops"]["original"]["median_s"].get<double>() : NAN;
    o << "\n#### " << run["size_mb"].get<int>() << " MB " << run["kind"].get<std::string>() << " database ("
      << human_bytes(db_bytes) << ", medians of " << run["reps"].get<int>() << ")\n\n";
    o << "| operation | median s | vs original | CPU s | MB/s | peak RSS | output (ratio) |\n";
    o << "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const json& id : run["order"]) {
      const json& op = run["ops"][id.get<std::string>()];
      const double m = op["median_s"].get<double>();
      std::string out;
      if (op["extra"].contains("bytes") && id != "gunzip" && id != "raw_copy")
        out = human_bytes(op["extra"]["bytes"].get<double>()) + " (" +
              fmt("%.3f", op["extra"]["bytes"].get<double>() / db_bytes) + ")";
      const bool idle = id == "idle_child";
      o << "| " << op["label"].get<std::string>() << " | " << (idle ? "" : fmt("%.3f", m)) << " | "
        << (idle ? "" : fmt("%.2f", m / original)) << " | "
        << (idle ? "" : fmt("%.2f", op["median_cpu_s"].get<double>())) << " | "
        << (idle ? "" : fmt("%.0f", db_bytes / 1e6 / m)) << " | " << fmt("%.1f MiB", op["peak_rss_mib"].get<double>())
        << " | " << out << " |\n";
    }
  }
  if (!st.writer.empty()) {
    o << "\n#### A writer committing every 2 ms (WAL, busy_timeout 0) while backups run\n\n";
    o << "| database | backup | commits | p50 ms | p99 ms | max ms | SQLITE_BUSY | other errors |\n";
    o << "|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (const json& w : st.writer) {
      const std::string dbname = std::to_string(w["size_mb"].get<int>()) + " MB " + w["kind"].get<std::string>();
      auto row = [&](const std::string& what, const json& l) {
        o << "| " << dbname << " | " << what << " | " << l["commits"].get<long>() << " | "
          << fmt("%.3f", l["p50_ms"].get<double>()) << " | " << fmt("%.3f", l["p99_ms"].get<double>()) << " | "
          << fmt("%.2f", l["max_ms"].get<double>()) << " | " << l["busy"].get<long>() << " | "
          << l["errors"].get<long>() << " |\n";
      };
      row("none", w["without_backup"]);
      if (w.contains("during_backup"))
        for (auto& [m, l] : w["during_backup"].items()) row("create, " + m, l);
    }
  }
  if (!st.targets.empty()) {
    o << "\n#### Targets\n\n";
    o << "| target | database | measured | limit | met |\n|---|---|---:|---:|:---:|\n";
    for (const json& t : st.targets) {
      const std::string unit = t["unit"].get<std::string>();
      const std::string note = t["note"].get<std::string>();
      o << "| " << t["target"].get<std::string>() << " | " << t["size_mb"].get<int>() << " MB "
        << t["kind"].get<std::string>() << " | " << fmt(unit == "MiB" ? "%.1f" : "%.2f", t["measured"].get<double>())
        << (unit.empty() ? "" : " " + unit) << (note.empty() ? "" : " (" + note + ")") << " | "
        << fmt(unit == "MiB" || unit.empty() ? "%.0f" : "%.2f", t["limit"].get<double>())
        << (unit.empty() ? "" : " " + unit) << " | " << (t["met"].get<bool>() ? "yes" : "**no**") << " |\n";
    }
  }
  return o.str();
}

std::string machine_line(const json& m) {
  return m["cpu"].get<std::string>() + ", " + std::to_string(m["cores"].get<long>()) + " cores, " +
         m["memory"].get<std::string>() + " RAM; " + m["kernel"].get<std::string>() + "; SQLCipher " +
         m["sqlcipher"].get<std::string>() + " (SQLite " + m["sqlite"].get<std::string>() + "), zlib " +
         m["zlib"].get<std::string>() + ", libdeflate " + m["libdeflate"].get<std::string>() + "; " +
         m["compiler"].get<std::string>();
}

struct global_report {
  global_report() {
    auto& mts = boost::unit_test::framework::master_test_suite();
    state().s = parse_settings(mts.argc, mts.argv);
    for (int i = 0; i < mts.argc; ++i) state().command.push_back(mts.argv[i]);
    state().load_start = load_average();
    state().started = mono_now();
    std::signal(SIGPIPE, SIG_IGN);
  }
  ~global_report() {
    const run_state& st = state();
    if (st.runs.empty() && st.writer.empty()) return;
    json m = machine_info();
    const double load_end = load_average();
    std::string md = "Machine: " + machine_line(m) + ". Load average " + fmt("%.2f", st.load_start) +
                     " at the start, " + fmt("%.2f", load_end) + " at the end; " +
                     fmt("%.0f", mono_now() - st.started) + " s; " + utc_now() + ".\n" + markdown();
    std::printf("\n%s\n", md.c_str());
    json j;
    j["generated"] = utc_now();
    j["command"] = st.command;
    j["settings"] = {{"sizes_mb", st.s.sizes_mb},
                     {"reps", st.s.reps == 0 ? json("5 below 100 MB, else 3") : json(st.s.reps)},
                     {"kinds", st.s.kinds},
                     {"writer_backups", st.s.writer_backups},
                     {"writer_idle_s", st.s.writer_idle_s},
                     {"smoke", st.s.smoke}};
    j["machine"] = m;
    j["load_average"] = {{"start", st.load_start}, {"end", load_end}};
    j["elapsed_s"] = mono_now() - st.started;
    j["runs"] = st.runs;
    j["writer"] = st.writer;
    j["targets"] = st.targets;
    if (!st.s.json_out.empty()) {
      if (st.s.json_out.has_parent_path()) fs::create_directories(st.s.json_out.parent_path());
      std::ofstream(st.s.json_out) << j.dump(2) << "\n";
      std::printf("JSON written to %s\n", st.s.json_out.c_str());
    }
    if (!st.s.markdown_out.empty()) {
      if (st.s.markdown_out.has_parent_path()) fs::create_directories(st.s.markdown_out.parent_path());
      std::ofstream(st.s.markdown_out) << md;
    }
  }
};

bool selected(const std::string& kind) {
  auto& k = state().s.kinds;
  return std::find(k.begin(), k.end(), kind) != k.end();
}

BOOST_TEST_GLOBAL_FIXTURE(global_report);

}  // namespace

BOOST_AUTO_TEST_CASE(encrypted_database) {
  if (!selected("encrypted")) return;
  for (int mb : state().s.sizes_mb) bench_database("encrypted", mb);
}

BOOST_AUTO_TEST_CASE(plain_database) {
  if (!selected("plain")) return;
  for (int mb : state().s.sizes_mb) bench_database("plain", mb);
}

BOOST_AUTO_TEST_CASE(writer_during_backup) {
  for (int mb : state().s.sizes_mb)
    for (const std::string kind : {"encrypted", "plain"})
      if (selected(kind)) bench_writer(kind, mb);
}

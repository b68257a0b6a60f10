#include "runner_factory.hpp"

#include "app.hpp"
#include "database.hpp"

#include <utility>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

/// The runner of `destination`, with the exporter, compressor and clock every runner shares.
template <class Destination>
any_runner runner_with(const runner_config& c, Destination destination) {
  hb::sqlcipher_exporter::options eopts;
  eopts.key = c.key;
  eopts.counts = hone_count_queries();
  eopts.check = c.check;
  // The runner makes its private folders in TMPDIR and reports them (and restore's temp file)
  // through temp_files, so that an interrupted command removes them; those of a killed one are
  // removed by the next operation (they carry a lock of their owner). A TMPDIR that cannot be
  // used is reported by require_temp_folder() before any work.
  hb::runner_options ropts;
  ropts.temp_directory = temp_base();
  ropts.name_prefix = "hone-";  // hone-2024-01-15-143022.db.gz, as the description names them
  ropts.observer = c.observer;
  ropts.temp_files = [](const fs::path& p, bool created) {
    if (created)
      register_temp_file(p);
    else
      unregister_temp_file(p);
  };
  if (!c.allow_foreign)
    ropts.accept_backup = [](const hb::check_result& r) -> std::string {
      if (r.counts["accounts"] || r.counts["transactions"] || r.counts["subscriptions"]) return {};
      return "it holds none of Hone's tables (accounts, transactions, subscriptions), so it is not a backup of a "
             "Hone database; use --allow-foreign (API: \"allow_foreign\": true) to use it anyway";
    };
  using runner = hb::BackupRunner<hb::sqlcipher_exporter, hb::gzip_compressor, Destination, hb::system_clock>;
  return any_runner(runner(hb::sqlcipher_exporter(c.database, std::move(eopts)), hb::gzip_compressor{},
                           std::move(destination), hb::system_clock{}, std::move(ropts)));
}

}  // namespace

any_runner make_runner(const runner_config& config) {
  // One branch per kind of destination.
  struct make {
    const runner_config& c;
    any_runner operator()(const local_folder& f) const { return runner_with(c, hb::local_directory(f.path)); }
  };
  return std::visit(make{config}, config.destination);
}

any_runner make_runner(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                       hb::observer_fn observer, hb::check_level check, bool allow_foreign) {
  return make_runner(runner_config{.database = database,
                                   .key = key,
                                   .destination = local_folder{backup_dir},
                                   .observer = std::move(observer),
                                   .check = check,
                                   .allow_foreign = allow_foreign});
}

}  // namespace hone_app

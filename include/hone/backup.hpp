// hone-backup: encrypted, compressed, consistent backups of SQLCipher databases while the
// application that owns them keeps running; restore, verify and prune. Include this header.
#pragma once

#include <hone/backup/version.hpp>
#include <hone/backup/fwd.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/types.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/age.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/statement.hpp>
#include <hone/backup/database.hpp>
#include <hone/backup/concepts.hpp>
#include <hone/backup/names.hpp>
#include <hone/backup/retention.hpp>
#include <hone/backup/clocks/system_clock.hpp>
#include <hone/backup/clocks/fake_clock.hpp>
#include <hone/backup/destinations/local_directory.hpp>
#include <hone/backup/destinations/memory_destination.hpp>
#include <hone/backup/compressors/gzip_compressor.hpp>
#include <hone/backup/compressors/identity_compressor.hpp>
#include <hone/backup/compressors/age_compressor.hpp>
#include <hone/backup/exporters/sqlcipher_exporter.hpp>
#include <hone/backup/exporters/sqlcipher_page_exporter.hpp>
#include <hone/backup/migrate.hpp>
#include <hone/backup/runner.hpp>
#include <hone/backup/scheduler.hpp>

// local_runner, the usual combination, is declared in <hone/backup/fwd.hpp>.

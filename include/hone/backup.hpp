// hone-backup: encrypted, compressed, consistent backups of SQLCipher databases while the
// application that owns them keeps running; restore, verify and prune. Include this header.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/types.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/concepts.hpp>
#include <hone/backup/names.hpp>
#include <hone/backup/retention.hpp>
#include <hone/backup/clock.hpp>
#include <hone/backup/destination.hpp>
#include <hone/backup/gzip.hpp>
#include <hone/backup/exporter.hpp>
#include <hone/backup/migrate.hpp>
#include <hone/backup/runner.hpp>
#include <hone/backup/scheduler.hpp>

namespace hone::backup {

/// The usual combination: SQLCipher export, gzip, a local folder, the real clock.
using local_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, system_clock>;

}  // namespace hone::backup

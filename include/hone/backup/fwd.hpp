// Forward declarations of hone-backup's public types, for headers that only name them (in a
// signature, a pointer or a reference) and want to leave the full headers to their .cpp files.
#pragma once

namespace hone::backup {

// error.hpp
enum class errc : int;
class error;

// types.hpp
struct count_query;
struct row_count;
class row_counts;
struct export_result;
struct check_result;
struct head_info;
struct compress_result;
struct peek_result;
struct stored_entry;
struct backup_info;
struct retained_backup;
struct prune_result;
struct verify_result;
struct restore_result;

// io.hpp
class reader;
class writer;

// key.hpp, database.hpp, statement.hpp
class database_key;
class database;
class statement;
class transaction;

// runner.hpp
struct runner_options;
struct event;
template <class Exporter, class Compressor, class Destination, class Clock>
class BackupRunner;

// retention.hpp
struct keep_last;
struct keep_calendar;

// the shipped models
class sqlcipher_exporter;
class gzip_compressor;
class identity_compressor;
class local_directory;
class memory_destination;
class system_clock;
class fake_clock;

/// The usual combination: SQLCipher export, gzip, a local folder, the real clock (usable once
/// <hone/backup.hpp> is included; declared here only).
using local_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, system_clock>;

}  // namespace hone::backup

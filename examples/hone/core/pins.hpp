// Pinned backups (`hone backup pin NAME`): names that no prune deletes, whichever runs it (the
// CLI, POST /api/backup/prune, the scheduler's retention) and in every place (the local folder
// and the offsite bucket). They are kept in one file of the backup folder:
//
//   <backup folder>/.hone-pins.json   {"pinned": ["before-upgrade.db.gz", ...]}
//
// owner-only (0600), replaced atomically (temporary file, fsync, rename, folder fsync), changed
// under the folder's lock (the one create and prune take), hidden like the other state files.
// One file rather than a marker beside each backup: a prune reads every pin in one read and
// refuses to run when that read fails (a marker that cannot be seen would look like no pin),
// and the backup folder holds nothing but backups and hidden state.
#pragma once

#include <filesystem>
#include <set>
#include <string>

namespace hone_app {

inline constexpr const char* pins_file = ".hone-pins.json";

/// The pinned names of the backup folder `dir`: none when the file does not exist (or the folder
/// cannot be searched: nothing in it can be deleted then). A file that cannot be read or is not
/// the pins document throws io_error (so nothing is pruned as if
/// nothing were pinned).
std::set<std::string> read_pins(const std::filesystem::path& dir);

/// Pins (or unpins) `name` in `dir`, creating the folder owner-only when missing. Returns false
/// when it was already so.
bool set_pin(const std::filesystem::path& dir, const std::string& name, bool pinned);

}  // namespace hone_app

// The library's version. CMakeLists.txt reads it from here, so the CMake package, the
// pkg-config files and the code always agree.
#pragma once

#include <string_view>

#define HONE_BACKUP_VERSION_MAJOR 0
#define HONE_BACKUP_VERSION_MINOR 1
#define HONE_BACKUP_VERSION_PATCH 0

#define HONE_BACKUP_DETAIL_STRINGIZE2(x) #x
#define HONE_BACKUP_DETAIL_STRINGIZE(x) HONE_BACKUP_DETAIL_STRINGIZE2(x)
/// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
#define HONE_BACKUP_VERSION_STRING                                                              \
  HONE_BACKUP_DETAIL_STRINGIZE(HONE_BACKUP_VERSION_MAJOR)                                       \
  "." HONE_BACKUP_DETAIL_STRINGIZE(HONE_BACKUP_VERSION_MINOR) "." HONE_BACKUP_DETAIL_STRINGIZE( \
      HONE_BACKUP_VERSION_PATCH)

namespace hone::backup {

/// The version of the headers in use. While the major version is 0, only the same major.minor
/// is API-compatible, and the CMake package accepts exactly that.
inline constexpr std::string_view version = HONE_BACKUP_VERSION_STRING;

}  // namespace hone::backup

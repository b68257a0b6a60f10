# Install rules of hone-backup: the headers, the hone::backup target exported as a CMake package
# (hone_backup-config.cmake, with a version file) and a pkg-config file (hone-backup.pc).
# With the bundled SQLCipher, its static library is installed and exported as hone::sqlcipher,
# and its sqlite3.h goes to include/hone/sqlcipher/ so that it never shadows a system sqlite3.h.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HONE_BACKUP_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/hone_backup"
    CACHE STRING "Where the CMake package files of hone-backup are installed (relative to the prefix)")
set(HONE_BACKUP_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where hone-backup.pc is installed (relative to the prefix)")
mark_as_advanced(HONE_BACKUP_INSTALL_CMAKEDIR HONE_BACKUP_INSTALL_PKGCONFIGDIR)

# Headers: from include/, or the single header when the build uses it.
install(DIRECTORY "${HONE_BACKUP_INCLUDE_DIR}/hone" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")

install(TARGETS hone_backup hone_sqlcipher EXPORT hone_backup-targets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}")
if(NOT HONE_BACKUP_SYSTEM_SQLCIPHER)
  install(FILES "${HONE_BACKUP_AMALGAMATION_DIR}/sqlite3.h"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/hone/sqlcipher")
endif()
install(EXPORT hone_backup-targets NAMESPACE hone:: DESTINATION "${HONE_BACKUP_INSTALL_CMAKEDIR}")
# Components, each in an export set of its own so that the core package needs none of their
# dependencies: find_package(hone_backup COMPONENTS argon2) gives hone::backup_argon2.
if(TARGET hone_backup_argon2)
  install(TARGETS hone_backup_argon2 EXPORT hone_backup-argon2-targets)
  install(EXPORT hone_backup-argon2-targets NAMESPACE hone:: DESTINATION "${HONE_BACKUP_INSTALL_CMAKEDIR}")
endif()
# find_package(hone_backup COMPONENTS s3) gives hone::backup_s3 (needs libcurl, OpenSSL and expat).
if(TARGET hone_backup_s3)
  install(TARGETS hone_backup_s3 EXPORT hone_backup-s3-targets)
  install(EXPORT hone_backup-s3-targets NAMESPACE hone:: DESTINATION "${HONE_BACKUP_INSTALL_CMAKEDIR}")
endif()

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/hone_backup-config.cmake.in"
  "${PROJECT_BINARY_DIR}/hone_backup-config.cmake"
  INSTALL_DESTINATION "${HONE_BACKUP_INSTALL_CMAKEDIR}")
# 0.x: a new minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/hone_backup-config-version.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/hone_backup-config.cmake" "${PROJECT_BINARY_DIR}/hone_backup-config-version.cmake"
        DESTINATION "${HONE_BACKUP_INSTALL_CMAKEDIR}")

# pkg-config: paths relative to the .pc file (${pcfiledir}), so that `cmake --install --prefix`
# and moving the installed tree keep it valid.
function(_hone_pc_path out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()
if(IS_ABSOLUTE "${HONE_BACKUP_INSTALL_PKGCONFIGDIR}")
  set(HONE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _hone_up "/${HONE_BACKUP_INSTALL_PKGCONFIGDIR}" "/")
  string(REGEX REPLACE "/$" "" _hone_up "${_hone_up}")
  set(HONE_PC_PREFIX "\${pcfiledir}/${_hone_up}")
endif()
_hone_pc_path(HONE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
_hone_pc_path(HONE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
if(HONE_BACKUP_SYSTEM_SQLCIPHER)
  set(HONE_PC_REQUIRES "zlib libdeflate sqlcipher")
  set(HONE_PC_CFLAGS "-I\${includedir} -DSQLITE_HAS_CODEC")
  set(HONE_PC_LIBS "-pthread")
else()
  set(HONE_PC_REQUIRES "zlib libdeflate libcrypto")
  set(HONE_PC_CFLAGS "-I\${includedir} -I\${includedir}/hone/sqlcipher -DSQLITE_HAS_CODEC")
  set(HONE_PC_LIBS "-L\${libdir} -lhone_sqlcipher -pthread")
  foreach(lib IN LISTS CMAKE_DL_LIBS ITEMS m)
    string(APPEND HONE_PC_LIBS " -l${lib}")
  endforeach()
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/hone-backup.pc.in" "${PROJECT_BINARY_DIR}/hone-backup.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/hone-backup.pc" DESTINATION "${HONE_BACKUP_INSTALL_PKGCONFIGDIR}")
# The optional components, as the CMake package has them: hone-backup-argon2 (hone_key.hpp) and
# hone-backup-s3 (s3_destination.hpp), each requiring hone-backup of the same version.
foreach(_component argon2 s3)
  if(TARGET hone_backup_${_component})
    configure_file("${CMAKE_CURRENT_LIST_DIR}/hone-backup-${_component}.pc.in"
      "${PROJECT_BINARY_DIR}/hone-backup-${_component}.pc" @ONLY)
    install(FILES "${PROJECT_BINARY_DIR}/hone-backup-${_component}.pc" DESTINATION "${HONE_BACKUP_INSTALL_PKGCONFIGDIR}")
  endif()
endforeach()

# Provides the target hone::sqlcipher: either SQLCipher 4.14.0 compiled from the amalgamation
# that scripts/setup.sh places in .cache/ (default), or the system's SQLCipher found through
# pkg-config (HONE_BACKUP_SYSTEM_SQLCIPHER=ON). Either way the real target is hone_sqlcipher,
# which the install rules (HoneBackupInstall.cmake) export as hone::sqlcipher.
include_guard(GLOBAL)
include(GNUInstallDirs)

if(TARGET hone::sqlcipher)
  return()
endif()

if(HONE_BACKUP_SYSTEM_SQLCIPHER)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(HONE_SQLCIPHER REQUIRED IMPORTED_TARGET GLOBAL sqlcipher)
  # An exportable wrapper; SQLITE_HAS_CODEC because sqlcipher.pc does not set it and the
  # headers declare sqlite3_key() only with it.
  add_library(hone_sqlcipher INTERFACE)
  target_link_libraries(hone_sqlcipher INTERFACE PkgConfig::HONE_SQLCIPHER)
  target_compile_definitions(hone_sqlcipher INTERFACE SQLITE_HAS_CODEC)
  set_target_properties(hone_sqlcipher PROPERTIES EXPORT_NAME sqlcipher)
  add_library(hone::sqlcipher ALIAS hone_sqlcipher)
  set(HONE_BACKUP_SQLCIPHER_DESCRIPTION "system SQLCipher ${HONE_SQLCIPHER_VERSION} (pkg-config)")
else()
  set(HONE_BACKUP_AMALGAMATION_DIR "${CMAKE_CURRENT_LIST_DIR}/../.cache/sqlcipher-4.14.0"
      CACHE PATH "Folder holding the SQLCipher amalgamation (sqlite3.c, sqlite3.h)")
  if(NOT EXISTS "${HONE_BACKUP_AMALGAMATION_DIR}/sqlite3.c")
    message(FATAL_ERROR
      "SQLCipher amalgamation not found in ${HONE_BACKUP_AMALGAMATION_DIR}.\n"
      "Run scripts/setup.sh first, or configure with -DHONE_BACKUP_SYSTEM_SQLCIPHER=ON.")
  endif()
  find_package(OpenSSL REQUIRED COMPONENTS Crypto)
  find_package(Threads REQUIRED)
  add_library(hone_sqlcipher STATIC "${HONE_BACKUP_AMALGAMATION_DIR}/sqlite3.c")
  set_target_properties(hone_sqlcipher PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON
                                                  C_VISIBILITY_PRESET default EXPORT_NAME sqlcipher)
  target_compile_definitions(hone_sqlcipher PUBLIC SQLITE_HAS_CODEC
    PRIVATE HAVE_STDINT_H=1
            SQLITE_EXTRA_INIT=sqlcipher_extra_init
            SQLITE_EXTRA_SHUTDOWN=sqlcipher_extra_shutdown
            SQLCIPHER_CRYPTO_OPENSSL
            SQLITE_TEMP_STORE=2
            SQLITE_THREADSAFE=1
            SQLITE_ENABLE_DBSTAT_VTAB=1
            SQLITE_ENABLE_DBPAGE_VTAB=1)
  # Third-party C code: do not let its warnings drown ours, and keep it optimised even in
  # Debug builds (it dominates test run time otherwise).
  target_compile_options(hone_sqlcipher PRIVATE -w -O2)
  target_include_directories(hone_sqlcipher SYSTEM PUBLIC
    "$<BUILD_INTERFACE:${HONE_BACKUP_AMALGAMATION_DIR}>")
  # Installed in a private folder, so that it never shadows a system sqlite3.h.
  target_include_directories(hone_sqlcipher PUBLIC
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/hone/sqlcipher>")
  target_link_libraries(hone_sqlcipher PUBLIC OpenSSL::Crypto Threads::Threads ${CMAKE_DL_LIBS} m)
  add_library(hone::sqlcipher ALIAS hone_sqlcipher)
  set(HONE_BACKUP_SQLCIPHER_DESCRIPTION "SQLCipher 4.14.0 amalgamation (static)")
endif()
message(STATUS "hone-backup: ${HONE_BACKUP_SQLCIPHER_DESCRIPTION}")

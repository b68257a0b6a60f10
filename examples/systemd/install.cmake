# Install rules of the systemd files of the `hone` program (included by examples/hone/CMakeLists.txt).
# The units name the program as /usr/local/bin/hone (where the default `cmake --install` puts
# it); the installed copies name <prefix>/bin/hone, with the prefix of the install itself
# (`cmake --install --prefix` included), made at install time by configure-units.cmake. The
# folders are relative to the prefix (systemd also reads /usr/local/lib/systemd/system,
# sysusers.d and tmpfiles.d); give absolute ones (e.g. /etc/systemd/system) for a prefix such as
# /opt/hone-backup.
set(HONE_BACKUP_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING "Where the systemd units of hone are installed")
set(HONE_BACKUP_SYSUSERSDIR "lib/sysusers.d" CACHE STRING "Where hone's sysusers.d file is installed")
set(HONE_BACKUP_TMPFILESDIR "lib/tmpfiles.d" CACHE STRING "Where hone's tmpfiles.d file is installed")
mark_as_advanced(HONE_BACKUP_SYSTEMD_UNITDIR HONE_BACKUP_SYSUSERSDIR HONE_BACKUP_TMPFILESDIR)

set(_hone_units hone-backup.service hone-backup.timer hone-backup-server.service)
set(_hone_units_out "${PROJECT_BINARY_DIR}/systemd")
install(CODE "set(HONE_UNITS_SOURCE_DIR \"${CMAKE_CURRENT_LIST_DIR}\")
set(HONE_UNITS_OUTPUT_DIR \"${_hone_units_out}\")
set(HONE_UNITS \"${_hone_units}\")
set(HONE_UNITS_BINDIR \"${CMAKE_INSTALL_BINDIR}\")" COMPONENT hone)
install(SCRIPT "${CMAKE_CURRENT_LIST_DIR}/configure-units.cmake" COMPONENT hone)
list(TRANSFORM _hone_units PREPEND "${_hone_units_out}/")
install(FILES ${_hone_units} DESTINATION "${HONE_BACKUP_SYSTEMD_UNITDIR}" COMPONENT hone)
install(FILES "${CMAKE_CURRENT_LIST_DIR}/hone-sysusers.conf" DESTINATION "${HONE_BACKUP_SYSUSERSDIR}"
        RENAME hone.conf COMPONENT hone)
install(FILES "${CMAKE_CURRENT_LIST_DIR}/hone-tmpfiles.conf" DESTINATION "${HONE_BACKUP_TMPFILESDIR}"
        RENAME hone.conf COMPONENT hone)

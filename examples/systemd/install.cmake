# Install rules of the systemd files of the `hone` program (included by examples/hone/CMakeLists.txt).
# The units name the program as /usr/local/bin/hone (where the default `cmake --install` puts
# it); the installed copies name ${CMAKE_INSTALL_FULL_BINDIR}/hone instead. The folders are
# relative to the prefix (systemd also reads /usr/local/lib/systemd/system, sysusers.d and
# tmpfiles.d); give absolute ones (e.g. /etc/systemd/system) for a prefix such as /opt/hone-backup.
set(HONE_BACKUP_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING "Where the systemd units of hone are installed")
set(HONE_BACKUP_SYSUSERSDIR "lib/sysusers.d" CACHE STRING "Where hone's sysusers.d file is installed")
set(HONE_BACKUP_TMPFILESDIR "lib/tmpfiles.d" CACHE STRING "Where hone's tmpfiles.d file is installed")
mark_as_advanced(HONE_BACKUP_SYSTEMD_UNITDIR HONE_BACKUP_SYSUSERSDIR HONE_BACKUP_TMPFILESDIR)

set(_hone_systemd_src "${CMAKE_CURRENT_LIST_DIR}")
set(_hone_systemd_out "${PROJECT_BINARY_DIR}/systemd")
foreach(unit IN ITEMS hone-backup.service hone-backup.timer hone-backup-server.service)
  file(READ "${_hone_systemd_src}/${unit}" _hone_text)
  string(REPLACE "/usr/local/bin/hone" "${CMAKE_INSTALL_FULL_BINDIR}/hone" _hone_text "${_hone_text}")
  file(CONFIGURE OUTPUT "${_hone_systemd_out}/${unit}" CONTENT "${_hone_text}" @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_hone_systemd_src}/${unit}")
  install(FILES "${_hone_systemd_out}/${unit}" DESTINATION "${HONE_BACKUP_SYSTEMD_UNITDIR}" COMPONENT hone)
endforeach()
install(FILES "${_hone_systemd_src}/hone-sysusers.conf" DESTINATION "${HONE_BACKUP_SYSUSERSDIR}"
        RENAME hone.conf COMPONENT hone)
install(FILES "${_hone_systemd_src}/hone-tmpfiles.conf" DESTINATION "${HONE_BACKUP_TMPFILESDIR}"
        RENAME hone.conf COMPONENT hone)

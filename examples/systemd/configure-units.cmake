# Run by `cmake --install` (install.cmake sets HONE_UNITS_*): writes the units with ExecStart=
# naming the program where this install puts it.
set(_bindir "${HONE_UNITS_BINDIR}")
if(NOT IS_ABSOLUTE "${_bindir}")
  set(_bindir "${CMAKE_INSTALL_PREFIX}/${_bindir}")
endif()
foreach(unit IN LISTS HONE_UNITS)
  file(READ "${HONE_UNITS_SOURCE_DIR}/${unit}" _text)
  string(REPLACE "/usr/local/bin/hone" "${_bindir}/hone" _text "${_text}")
  file(WRITE "${HONE_UNITS_OUTPUT_DIR}/${unit}" "${_text}")
endforeach()

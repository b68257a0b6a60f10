# The optional S3 component: hone::backup_s3 = hone::backup + libcurl + OpenSSL's libcrypto +
# expat (S3's XML answers), for <hone/backup/destinations/s3_destination.hpp>. The core target
# never needs an HTTP library. HONE_BACKUP_S3 defaults to ON in the main project when libcurl,
# OpenSSL and expat are found.
include_guard(GLOBAL)

set(_hone_s3_default OFF)
if(NOT DEFINED HONE_BACKUP_S3)
  if(HONE_BACKUP_MAIN_PROJECT)
    find_package(CURL QUIET)
    find_package(OpenSSL QUIET COMPONENTS Crypto)
    find_package(EXPAT QUIET)
    if(CURL_FOUND AND OpenSSL_FOUND AND EXPAT_FOUND)
      set(_hone_s3_default ON)
    else()
      message(STATUS "hone-backup: libcurl, OpenSSL or expat not found, the S3 destination (hone::backup_s3) is off")
    endif()
  endif()
endif()
option(HONE_BACKUP_S3 "Provide hone::backup_s3 (the S3 destination; needs libcurl, OpenSSL and expat)" ${_hone_s3_default})

if(HONE_BACKUP_S3)
  find_package(CURL REQUIRED)
  find_package(OpenSSL REQUIRED COMPONENTS Crypto)
  find_package(EXPAT REQUIRED)
  add_library(hone_backup_s3 INTERFACE)
  add_library(hone::backup_s3 ALIAS hone_backup_s3)
  set_target_properties(hone_backup_s3 PROPERTIES EXPORT_NAME backup_s3)
  target_link_libraries(hone_backup_s3 INTERFACE hone::backup CURL::libcurl OpenSSL::Crypto EXPAT::EXPAT)
endif()

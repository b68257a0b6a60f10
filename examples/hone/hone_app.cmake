# hone_app: everything of the `hone` program but main.cpp, as one static library that the
# executable (CMakeLists.txt here), its unit tests (tests/cli/) and the fuzz target fuzz_api
# (tests/fuzz/) link. Included by each of them; the target is created once, with the flags of
# the build that includes it first (the fuzz build adds its instrumentation in tests/fuzz/).
# Sources include each other by their path under examples/hone/ ("offsite/offsite.hpp").
include_guard(GLOBAL)
if(NOT TARGET hone::backup_s3)
  message(STATUS "hone-backup: the hone program is not built: it needs hone::backup_s3 (libcurl and OpenSSL; "
                 "HONE_BACKUP_S3=ON)")
  return()
endif()
find_package(Boost 1.74 REQUIRED)  # Beast and Asio are header-only
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(Threads REQUIRED)

set(HONE_APP_DIR "${CMAKE_CURRENT_LIST_DIR}")
set(HONE_APP_SOURCES
  # core: the database, the runner chosen at run time, the log and the JSON documents
  core/app.cpp
  core/backup_format.cpp
  core/hone_database.cpp
  core/json_output.cpp
  core/log.cpp
  core/pins.cpp
  core/runner_factory.cpp
  # config: everything read from the environment
  config/config.cpp
  config/environment.cpp
  config/hardening.cpp
  config/offsite_settings.cpp
  # cli: the commands and what they print
  cli/cli.cpp
  cli/completion.cpp
  cli/output.cpp
  cli/commands/common.cpp
  cli/commands/create.cpp
  cli/commands/list.cpp
  cli/commands/show.cpp
  cli/commands/verify.cpp
  cli/commands/restore.cpp
  cli/commands/delete.cpp
  cli/commands/prune.cpp
  cli/commands/dashboard.cpp
  cli/commands/demo_db.cpp
  cli/commands/migrate.cpp
  cli/commands/serve.cpp
  cli/commands/run.cpp
  cli/commands/sync.cpp
  cli/commands/status_command.cpp
  cli/commands/pin.cpp
  # server: the REST API, its request guard and the HTTP server
  server/api.cpp
  server/request_guard.cpp
  server/server.cpp
  # offsite: the copy in an S3 bucket, and the limits and shared listings of its requests
  offsite/bucket_listings.cpp
  offsite/offsite.cpp
  # monitoring: status, metrics and the failure hook
  monitoring/failure_hook.cpp
  monitoring/metrics.cpp
  monitoring/monitoring.cpp
  monitoring/process_metrics.cpp
  monitoring/scheduled_job.cpp
  monitoring/status_report.cpp)
list(TRANSFORM HONE_APP_SOURCES PREPEND "${HONE_APP_DIR}/")
add_library(hone_app STATIC ${HONE_APP_SOURCES})
target_include_directories(hone_app PUBLIC "${HONE_APP_DIR}")
target_link_libraries(hone_app PUBLIC hone::backup_argon2 hone::backup_s3 nlohmann_json::nlohmann_json CLI11::CLI11
                                      Boost::headers Threads::Threads)
target_compile_definitions(hone_app PUBLIC HONE_VERSION="${PROJECT_VERSION}" BOOST_ASIO_NO_DEPRECATED
                                            BOOST_BEAST_USE_STD_STRING_VIEW)

// The policy models hone-backup ships satisfy their concepts (the headers assert it too; this
// keeps the promise visible in the tests, and checks it for the single header as well).
#include <hone/backup.hpp>

#include <type_traits>

namespace hb = hone::backup;

static_assert(hb::Exporter<hb::sqlcipher_exporter>);
static_assert(hb::Compressor<hb::gzip_compressor>);
static_assert(hb::Compressor<hb::identity_compressor>);
static_assert(hb::Destination<hb::local_directory>);
static_assert(hb::Destination<hb::memory_destination>);
static_assert(hb::Clock<hb::system_clock>);
static_assert(hb::Clock<hb::fake_clock>);

// The alias names the usual combination.
static_assert(std::is_same_v<hb::local_runner, hb::BackupRunner<hb::sqlcipher_exporter, hb::gzip_compressor,
                                                                hb::local_directory, hb::system_clock>>);

// Minimal, complete policy types for the compile-failure tests. A test defines HONE_OMIT_<MEMBER>
// before including this file to leave exactly that member out; control.cpp omits nothing.
#pragma once

#include <hone/backup.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace compile_fail {

using namespace hone::backup;

struct my_exporter {
#ifndef HONE_OMIT_EXPORT_TO
  export_result export_to(const std::filesystem::path&, const progress_fn&) { return {}; }
#endif
#ifndef HONE_OMIT_CHECK
  check_result check(const std::filesystem::path&) const { return {}; }
#endif
};

/// An Exporter that hands out plaintext pages: it may only be paired with an encrypting
/// Compressor.
struct my_page_exporter : my_exporter {
  static constexpr bool plaintext_pages = true;
  export_result export_pages(const std::function<void(reader&)>&, const progress_fn&) { return {}; }
  std::unique_ptr<file_writer> load_pages(const std::filesystem::path&, durability) const { return nullptr; }
};

struct my_compressor {
#ifndef HONE_OMIT_COMPRESS
  compress_result compress(reader&, writer&, const progress_fn&) { return {}; }
#endif
#ifndef HONE_OMIT_DECOMPRESS
  std::uint64_t decompress(reader&, writer&, const progress_fn&) { return 0; }
#endif
#ifndef HONE_OMIT_PEEK
  peek_result peek(reader&, std::span<std::byte>) const { return {}; }
#endif
#ifndef HONE_OMIT_SUFFIX
  std::string_view suffix() const { return ".db.z"; }
#endif
};

/// A Compressor that encrypts what it writes.
struct my_sealing_compressor : my_compressor {
  static constexpr bool encrypting = true;
  static constexpr std::size_t sealed_head_bytes = 8;
  bool sealed(std::span<const std::byte>) const { return true; }
  bool sealing() const { return true; }
};

struct my_destination {
#ifndef HONE_OMIT_STORE
  stored_entry store(const std::string& name, const std::function<void(writer&)>&) { return {name, 0, {}, name}; }
#endif
#if defined(HONE_MUTABLE_LIST)
  std::vector<stored_entry> list() { return {}; }  // not const: a const runner could not list
#elif !defined(HONE_OMIT_LIST)
  std::vector<stored_entry> list() const { return {}; }
#endif
#ifndef HONE_OMIT_STAT
  std::optional<stored_entry> stat(const std::string&) const { return std::nullopt; }
#endif
#ifndef HONE_OMIT_OPEN
  std::unique_ptr<reader> open(const std::string&) const { return nullptr; }
#endif
#ifndef HONE_OMIT_REMOVE
  void remove(const std::string&) {}
#endif
#if defined(HONE_VOID_LOCK)
  void lock() {}  // nothing to hold: the runner could not keep the lock for an operation
#elif !defined(HONE_OMIT_LOCK)
  std::unique_lock<std::mutex> lock() {
    static std::mutex m;
    return std::unique_lock<std::mutex>(m);
  }
#endif
};

struct my_clock {
#ifndef HONE_OMIT_NOW
  time_point now() const { return {}; }
#endif
#ifndef HONE_OMIT_WAIT_UNTIL
  bool wait_until(time_point, std::stop_token) { return true; }
#endif
};

/// What a user writes: a runner over the four policies, used.
inline void use_runner() {
  BackupRunner<my_exporter, my_compressor, my_destination, my_clock> runner(my_exporter{}, my_compressor{},
                                                                            my_destination{}, my_clock{});
  runner.create();
  runner.prune(1);
}

/// A runner of plaintext pages: the Compressor must encrypt (HONE_UNENCRYPTED_PAGES pairs the
/// page Exporter with a plain Compressor).
inline void use_page_runner() {
#ifdef HONE_UNENCRYPTED_PAGES
  using compressor = my_compressor;
#else
  using compressor = my_sealing_compressor;
#endif
  BackupRunner<my_page_exporter, compressor, my_destination, my_clock> runner(my_page_exporter{}, compressor{},
                                                                              my_destination{}, my_clock{});
  runner.create();
  runner.verify("x");
}

}  // namespace compile_fail

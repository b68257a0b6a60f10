// The four policy requirements of BackupRunner, one C++20 concept each, built from one
// concept per member so that a static_assert can name exactly what a user's type lacks.
// The named-requirement pages in docs/ describe the semantics.
#pragma once

#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <concepts>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace hone::backup {

// ---- Exporter ------------------------------------------------------------------------------
namespace concepts::exporter {
template <class E>
concept has_export_to = requires(E& e, const std::filesystem::path& target, const progress_fn& p) {
  { e.export_to(target, p) } -> std::same_as<export_result>;
};
template <class E>
concept has_check = requires(const E& e, const std::filesystem::path& file) {
  { e.check(file) } -> std::same_as<check_result>;
};
/// One static_assert per member concept above, so that BackupRunner names what a type lacks;
/// `value` is true once every one of them holds.
template <class E>
struct requirements {
  static_assert(has_export_to<E>,
                "Exporter requirements not met: missing `export_result export_to(const std::filesystem::path&, const "
                "progress_fn&)`");
  static_assert(has_check<E>,
                "Exporter requirements not met: missing `check_result check(const std::filesystem::path&) const`");
  static constexpr bool value = true;
};
}  // namespace concepts::exporter

namespace concepts::exporter {
/// Optional: the Exporter hands out the database's pages decrypted (`static constexpr bool
/// plaintext_pages = true`), which BackupRunner accepts only with an encrypting Compressor.
template <class E>
concept exports_plaintext_pages = requires {
  requires E::plaintext_pages;
};
template <class E>
concept has_export_pages = requires(E& e, const std::function<void(reader&)>& consume, const progress_fn& p) {
  { e.export_pages(consume, p) } -> std::same_as<export_result>;
};
template <class E>
concept has_load_pages = requires(const E& e, const std::filesystem::path& target) {
  e.load_pages(target, durability::scratch)->write(std::span<const std::byte>{});
  e.load_pages(target, durability::scratch)->finish();
};
/// Optional: check() of the file a loader from load_pages has just finished, given the loader
/// (it may check on the loader's own connection); it may leave out what the encrypting
/// Compressor's authentication already proved.
template <class E>
concept has_check_loaded = has_load_pages<E> && requires(const E& e, const std::filesystem::path& target) {
  { e.check_loaded(*e.load_pages(target, durability::scratch)) } -> std::same_as<check_result>;
};
}  // namespace concepts::exporter

/// Writes a consistent single-file copy of the source database and checks database files
/// with the same key. See docs/Exporter.md.
template <class E>
concept Exporter = concepts::exporter::has_export_to<E> && concepts::exporter::has_check<E>;

// ---- Compressor ----------------------------------------------------------------------------
namespace concepts::compressor {
template <class C>
concept has_compress = requires(C& c, reader& in, writer& out, const progress_fn& p) {
  { c.compress(in, out, p) } -> std::same_as<compress_result>;
};
template <class C>
concept has_decompress = requires(C& c, reader& in, writer& out, const progress_fn& p) {
  { c.decompress(in, out, p) } -> std::same_as<std::uint64_t>;
};
template <class C>
concept has_peek = requires(const C& c, reader& in, std::span<std::byte> buf) {
  { c.peek(in, buf) } -> std::same_as<peek_result>;
};
template <class C>
concept has_suffix = requires(const C& c) {
  { c.suffix() } -> std::same_as<std::string_view>;
};
/// One static_assert per member concept above, so that BackupRunner names what a type lacks;
/// `value` is true once every one of them holds.
template <class C>
struct requirements {
  static_assert(
      has_compress<C>,
      "Compressor requirements not met: missing `compress_result compress(reader&, writer&, const progress_fn&)`");
  static_assert(
      has_decompress<C>,
      "Compressor requirements not met: missing `std::uint64_t decompress(reader&, writer&, const progress_fn&)`");
  static_assert(has_peek<C>,
                "Compressor requirements not met: missing `peek_result peek(reader&, std::span<std::byte>) const`");
  static_assert(has_suffix<C>, "Compressor requirements not met: missing `std::string_view suffix() const`");
  static constexpr bool value = true;
};
}  // namespace concepts::compressor

namespace concepts::compressor {
/// Optional: the Compressor encrypts what it writes (`static constexpr bool encrypting = true`).
template <class C>
concept encrypting = requires {
  requires C::encrypting;
};
/// What an encrypting Compressor must tell: whether compress() encrypts (sealing()), and
/// whether a stored stream's first bytes (at least C::sealed_head_bytes) are encrypted (sealed()).
template <class C>
concept has_sealed = requires(const C& c, std::span<const std::byte> head) {
  { C::sealed_head_bytes } -> std::convertible_to<std::size_t>;
  { c.sealed(head) } -> std::same_as<bool>;
  { c.sealing() } -> std::same_as<bool>;
};
}  // namespace concepts::compressor

/// Streams bytes into a compressed form and back with bounded memory. See docs/Compressor.md.
template <class C>
concept Compressor = concepts::compressor::has_compress<C> && concepts::compressor::has_decompress<C> &&
    concepts::compressor::has_peek<C> && concepts::compressor::has_suffix<C>;

// ---- Destination ---------------------------------------------------------------------------
namespace concepts::destination {
template <class D>
concept has_store = requires(D& d, const std::string& name, const std::function<void(writer&)>& produce) {
  { d.store(name, produce) } -> std::same_as<stored_entry>;
};
template <class D>
concept has_list = requires(const D& d) {
  { d.list() } -> std::same_as<std::vector<stored_entry>>;
};
template <class D>
concept has_stat = requires(const D& d, const std::string& name) {
  { d.stat(name) } -> std::same_as<std::optional<stored_entry>>;
};
template <class D>
concept has_open = requires(const D& d, const std::string& name) {
  { d.open(name) } -> std::same_as<std::unique_ptr<reader>>;
};
template <class D>
concept has_remove = requires(D& d, const std::string& name) {
  { d.remove(name) } -> std::same_as<void>;
};
/// What lock() returns: an object that holds the lock until it is destroyed, and can be moved.
template <class G>
concept lock_guard = !std::is_void_v<G> && std::is_move_constructible_v<G> && std::is_destructible_v<G>;
template <class D>
concept has_lock = requires(D& d) {
  { d.lock() } -> lock_guard;
};
/// Optional: keeps what the runner learned of a backup's content for list() to return in
/// stored_entry::content (see docs/Destination.md).
template <class D>
concept has_annotate = requires(D& d, const std::string& name, const content_info& info) {
  { d.annotate(name, info) } -> std::same_as<void>;
};
/// One static_assert per member concept above, so that BackupRunner names what a type lacks;
/// `value` is true once every one of them holds.
template <class D>
struct requirements {
  static_assert(has_store<D>,
                "Destination requirements not met: missing `stored_entry store(const std::string&, const "
                "std::function<void(writer&)>&)`");
  static_assert(has_list<D>, "Destination requirements not met: missing `std::vector<stored_entry> list() const`");
  static_assert(
      has_stat<D>,
      "Destination requirements not met: missing `std::optional<stored_entry> stat(const std::string&) const`");
  static_assert(has_open<D>,
                "Destination requirements not met: missing `std::unique_ptr<reader> open(const std::string&) const`");
  static_assert(has_remove<D>, "Destination requirements not met: missing `void remove(const std::string&)`");
  static_assert(has_lock<D>, "Destination requirements not met: missing `lock()` returning a movable guard");
  static constexpr bool value = true;
};
}  // namespace concepts::destination

/// Stores named byte streams atomically. See docs/Destination.md.
template <class D>
concept Destination =
    concepts::destination::has_store<D> && concepts::destination::has_list<D> && concepts::destination::has_stat<D> &&
    concepts::destination::has_open<D> && concepts::destination::has_remove<D> && concepts::destination::has_lock<D>;

// ---- Exporter and Compressor together ------------------------------------------------------
namespace concepts {
/// What an Exporter and a Compressor require of each other: decrypted pages go only to a
/// Compressor that encrypts them.
template <class E, class C>
struct pairing_requirements {
  static_assert(!exporter::exports_plaintext_pages<E> || compressor::encrypting<C>,
                "Exporter and Compressor do not match: a plaintext-page Exporter (plaintext_pages = true) needs an "
                "encrypting Compressor (encrypting = true, e.g. age_compressor), else decrypted pages would be "
                "stored unencrypted");
  static_assert(!exporter::exports_plaintext_pages<E> || (exporter::has_export_pages<E> && exporter::has_load_pages<E>),
                "Exporter requirements not met: a plaintext-page Exporter needs `export_result export_pages(const "
                "std::function<void(reader&)>&, const progress_fn&)` and `load_pages(const std::filesystem::path&, "
                "durability) const`");
  static_assert(!compressor::encrypting<C> || compressor::has_sealed<C>,
                "Compressor requirements not met: an encrypting Compressor needs `sealed_head_bytes`, `bool "
                "sealed(std::span<const std::byte>) const` and `bool sealing() const`");
  static constexpr bool value = true;
};
}  // namespace concepts

// ---- Clock ---------------------------------------------------------------------------------
namespace concepts::clock {
template <class K>
concept has_now = requires(const K& k) {
  { k.now() } -> std::same_as<time_point>;
};
template <class K>
concept has_wait_until = requires(K& k, time_point t, std::stop_token st) {
  { k.wait_until(t, st) } -> std::same_as<bool>;
};
/// One static_assert per member concept above, so that BackupRunner names what a type lacks;
/// `value` is true once every one of them holds.
template <class K>
struct requirements {
  static_assert(has_now<K>, "Clock requirements not met: missing `time_point now() const`");
  static_assert(has_wait_until<K>,
                "Clock requirements not met: missing `bool wait_until(time_point, std::stop_token)`");
  static constexpr bool value = true;
};
}  // namespace concepts::clock

/// Tells the time and waits. See docs/Clock.md.
template <class K>
concept Clock = concepts::clock::has_now<K> && concepts::clock::has_wait_until<K>;

}  // namespace hone::backup

// The four policy requirements of BackupRunner, one C++20 concept each, built from one
// concept per member so that a static_assert can name exactly what a user's type lacks.
// The named-requirement pages in docs/ describe the semantics.
#pragma once

#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <concepts>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
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
}  // namespace concepts::destination

/// Stores named byte streams atomically. See docs/Destination.md.
template <class D>
concept Destination =
    concepts::destination::has_store<D> && concepts::destination::has_list<D> && concepts::destination::has_stat<D> &&
    concepts::destination::has_open<D> && concepts::destination::has_remove<D> && concepts::destination::has_lock<D>;

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
}  // namespace concepts::clock

/// Tells the time and waits. See docs/Clock.md.
template <class K>
concept Clock = concepts::clock::has_now<K> && concepts::clock::has_wait_until<K>;

}  // namespace hone::backup

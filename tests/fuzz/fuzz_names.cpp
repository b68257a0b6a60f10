// libFuzzer target: backup names (names.hpp). Any input is a candidate name; the checks are
// that validation is consistent and safe (an accepted name is a plain file name), that the
// time read back from an automatic name formats to the same digits, and that default_name and
// timestamp_from_name/sequence_from_name are each other's inverse.
#include <hone/backup/names.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace hb = hone::backup;

namespace {

void check(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_names: invariant failed: %s (input of %zu bytes)\n", what, input.size());
  std::abort();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void check_validation(std::string_view name) {
  const std::string why = hb::name_problem(name);
  bool threw = false;
  try {
    hb::validate_name(name);
  } catch (const hb::invalid_name_error& e) {
    threw = true;
    check(e.code() == hb::errc::invalid_name, "validate_name throws errc::invalid_name", name);
    check(std::string_view(e.what()).find(why) != std::string_view::npos, "the message carries the reason", name);
  }
  check(threw == !why.empty(), "validate_name throws exactly when name_problem objects", name);
  if (!why.empty()) return;

  // An accepted name is one path component that stays in the backup folder.
  check(!name.empty() && name.size() <= hb::max_name_bytes, "accepted names are 1-255 bytes", name);
  check(name.find('/') == std::string_view::npos && name.find('\\') == std::string_view::npos,
        "accepted names have no '/' or '\\'", name);
  check(name.find("..") == std::string_view::npos, "accepted names have no '..'", name);
  check(name.front() != '.', "accepted names do not start with '.'", name);
  for (unsigned char c : name) check(c >= 0x20 && c != 0x7f, "accepted names have no control characters", name);
}

/// The program's prefix: the corpus holds names like hone-2024-01-15-143022.db.gz.
constexpr std::string_view prefix = "hone-";

void check_timestamp(std::string_view name) {
  const auto t = hb::timestamp_from_name(name, prefix);
  const int seq = hb::sequence_from_name(name, prefix);
  check(seq >= 0 && seq < 10000000, "sequence_from_name is small and not negative", name);
  if (!t) {
    check(seq == 0, "a name without a timestamp has sequence 0", name);
    return;
  }
  // The time is whole seconds, and formats back to the digits it was read from.
  check(std::chrono::floor<std::chrono::seconds>(*t) == *t, "the time has no fraction of a second", name);
  const std::string stamp = hb::name_timestamp(*t);
  check(stamp.size() == 17, "name_timestamp is YYYY-MM-DD-HHMMSS", name);
  check(name.substr(0, 5) == "hone-" && name.substr(5, 17) == stamp, "the timestamp formats back to the name", name);
  const std::string iso = hb::iso8601(*t);
  check(iso.size() == 20 && iso[10] == 'T' && iso.back() == 'Z', "iso8601 is YYYY-MM-DDTHH:MM:SSZ", name);

  // What follows the timestamp: the -N of a same-second backup, then the suffix.
  if (name.size() > 23 && name[22] == '-' && is_digit(name[23])) {
    std::size_t end = 23;
    while (end < name.size() && is_digit(name[end])) ++end;
    if (end - 23 <= 6) check(seq == std::stoi(std::string(name.substr(23, end - 23))), "the -N suffix is read", name);
  } else {
    check(seq == 0, "no -N suffix reads as sequence 0", name);
  }

  // default_name of the time read back: the same time again, and the sequence it was given.
  for (int n : {0, 1, 2, 10, seq}) {
    for (std::string_view suffix : {std::string_view(".db.gz"), std::string_view(".db"), std::string_view()}) {
      const std::string again = hb::default_name(*t, suffix, n, prefix);
      check(hb::name_problem(again).empty(), "default names are valid names", again);
      check(hb::timestamp_from_name(again, prefix) == t, "timestamp_from_name(default_name(t)) == t", again);
      check(hb::sequence_from_name(again, prefix) == n, "sequence_from_name(default_name(t, s, n)) == n", again);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  check_validation(name);
  check_timestamp(name);
  return 0;
}

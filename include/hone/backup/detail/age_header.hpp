// The text header of an age v1 file: reading it from a stream, parsing it strictly (every
// rule of the C2SP grammar, canonical base64) and writing stanzas and the MAC line.
#pragma once

#include <hone/backup/detail/age_text.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hone::backup::detail::age {

inline constexpr std::string_view version_line = "age-encryption.org/v1\n";
inline constexpr std::size_t max_header_size = 64 * 1024;
inline constexpr std::size_t body_columns = 64;

[[noreturn]] inline void bad_header(const std::string& why) { throw corrupt_backup_error("age header: " + why); }

struct stanza {
  std::vector<std::string> args;  ///< args[0] is the type ("scrypt", "X25519", ...)
  std::vector<unsigned char> body;
};

struct parsed_header {
  std::vector<stanza> stanzas;
  std::array<unsigned char, 32> mac{};
  std::size_t mac_input_size = 0;  ///< the MAC covers text[0, mac_input_size): up to "---"
};

/// Reads an age header from a stream: the lines up to and including the "---" line (at most
/// max_header_size bytes), keeping the bytes read past it (the start of the payload).
class header_input {
  static constexpr std::string_view prefix = "age-encryption.org/";

 public:
  explicit header_input(reader& in) : in_(in) {}

  /// The header text, ending with the LF of its "---" line.
  std::string read() {
    std::size_t line_start = 0;
    for (;;) {
      const std::size_t n = std::min(prefix.size(), pending_.size());
      if (std::string_view(pending_).substr(0, n) != prefix.substr(0, n)) bad_header("not an age file");
      const auto lf = pending_.find('\n', line_start);
      if (lf == std::string::npos) {
        if (pending_.size() >= max_header_size) bad_header("longer than 64 KiB");
        if (!fill()) bad_header(pending_.empty() ? "the file is empty" : "the file ends inside the header");
        continue;
      }
      if (lf + 1 > max_header_size) bad_header("longer than 64 KiB");
      if (pending_.compare(line_start, 3, "---") == 0) {
        rest_ = pending_.substr(lf + 1);
        pending_.resize(lf + 1);
        return std::move(pending_);
      }
      line_start = lf + 1;
    }
  }

  /// Bytes read past the header (less than 4 KiB).
  const std::string& rest() const noexcept { return rest_; }

 private:
  bool fill() {
    char block[4096];
    const std::size_t n = in_.read(std::as_writable_bytes(std::span(block)));
    pending_.append(block, n);
    return n > 0;
  }

  reader& in_;
  std::string pending_;
  std::string rest_;
};

/// True when every character is a visible ASCII character (VCHAR).
inline bool visible(std::string_view s) {
  for (char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

/// Parses "-> ARG ARG..." and the body lines that follow from text[pos]; advances pos.
inline stanza parse_stanza(std::string_view text, std::size_t& pos, std::size_t index) {
  const std::string where = "stanza " + std::to_string(index + 1) + ": ";
  std::size_t lf = text.find('\n', pos);
  std::string_view args = text.substr(pos + 3, lf - pos - 3);
  pos = lf + 1;
  stanza s;
  for (;;) {
    const auto sp = args.find(' ');
    const auto arg = args.substr(0, sp);
    if (arg.empty() || !visible(arg)) bad_header(where + "an empty or invalid argument");
    s.args.emplace_back(arg);
    if (sp == std::string_view::npos) break;
    args.remove_prefix(sp + 1);
  }
  std::string body;
  for (;;) {
    if (pos >= text.size()) bad_header(where + "no final short body line");
    lf = text.find('\n', pos);
    const auto line = text.substr(pos, lf - pos);
    if (line.size() > body_columns) bad_header(where + "a body line is longer than 64 columns");
    for (char c : line)
      if (base64_value(c) < 0) bad_header(where + "the body is not base64 or its final short line is missing");
    body += line;
    pos = lf + 1;
    if (line.size() < body_columns) break;
  }
  auto decoded = base64_decode(body);
  if (!decoded) bad_header(where + "the body is not canonical base64");
  s.body = std::move(*decoded);
  return s;
}

/// Parses a header as header_input::read() returns it. Throws corrupt_backup_error naming the
/// broken rule.
inline parsed_header parse_header(std::string_view text) {
  if (!text.starts_with("age-encryption.org/")) bad_header("not an age file");
  if (!text.starts_with(version_line)) bad_header("not age version v1");
  parsed_header h;
  std::size_t pos = version_line.size();
  while (text.substr(pos, 3) == "-> ") h.stanzas.push_back(parse_stanza(text, pos, h.stanzas.size()));
  const auto line = text.substr(pos, text.size() - 1 - pos);
  if (!line.starts_with("---"))
    bad_header("line after stanza " + std::to_string(h.stanzas.size()) + " is neither a stanza nor the MAC");
  if (h.stanzas.empty()) bad_header("no recipient stanza");
  const auto mac = line.starts_with("--- ") ? base64_decode(line.substr(4)) : std::nullopt;
  if (line.size() != 4 + 43 || !mac || mac->size() != 32) bad_header("the MAC line is malformed");
  std::memcpy(h.mac.data(), mac->data(), 32);
  h.mac_input_size = pos + 3;
  return h;
}

/// One stanza as header text: the argument line, then the body wrapped at 64 columns, ending
/// with a line shorter than 64 (empty if need be).
inline std::string format_stanza(std::span<const std::string> args, std::span<const unsigned char> body) {
  std::string out = "->";
  for (const auto& a : args) out += ' ' + a;
  out += '\n';
  const std::string b64 = base64_encode(body);
  std::size_t at = 0;
  for (; b64.size() - at >= body_columns; at += body_columns) out += b64.substr(at, body_columns) + '\n';
  out += b64.substr(at) + '\n';
  return out;
}

}  // namespace hone::backup::detail::age

// Just enough XML for S3's responses (ListObjectsV2, ListMultipartUploads, multipart uploads,
// errors): the text of named elements, entities decoded. S3 documents are flat and
// machine-written, so there is no need for a general parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hone::backup::detail::s3 {

/// Decodes &amp; &lt; &gt; &quot; &apos; and numeric character references (as UTF-8).
inline std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const auto end = s.find(';', i);
    if (end == std::string_view::npos) {
      out += s.substr(i);
      break;
    }
    const std::string_view ent = s.substr(i + 1, end - i - 1);
    if (ent == "amp") {
      out += '&';
    } else if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (ent.size() > 1 && ent[0] == '#') {
      std::uint32_t cp = 0;
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      for (char c : ent.substr(hex ? 2 : 1)) {
        int d = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0) break;
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
        if (cp > 0x10FFFF) break;
      }
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += s.substr(i, end - i + 1);  // unknown: kept as it is
    }
    i = end;
  }
  return out;
}

/// The raw contents of every <tag>...</tag> (or <tag attr="...">...</tag>) in `doc`, in order;
/// an empty element <tag/> gives "". Elements of the same name must not nest (true of S3's).
inline std::vector<std::string_view> xml_elements(std::string_view doc, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  std::size_t at = 0;
  while ((at = doc.find(open, at)) != std::string_view::npos) {
    std::size_t after = at + open.size();
    if (after >= doc.size()) break;
    const char c = doc[after];
    if (c != '>' && c != ' ' && c != '/' && c != '\t' && c != '\n' && c != '\r') {
      at = after;  // a longer name that starts the same (<Key> vs <KeyMarker>)
      continue;
    }
    const auto gt = doc.find('>', after);
    if (gt == std::string_view::npos) break;
    if (doc[gt - 1] == '/') {
      out.emplace_back();
      at = gt + 1;
      continue;
    }
    const auto end = doc.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    out.push_back(doc.substr(gt + 1, end - gt - 1));
    at = end + close.size();
  }
  return out;
}

/// The decoded text of the first <tag> in `doc`, or "" when there is none.
inline std::string xml_text(std::string_view doc, std::string_view tag) {
  auto v = xml_elements(doc, tag);
  return v.empty() ? std::string() : xml_unescape(v.front());
}

/// Escapes text for an element's content.
inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace hone::backup::detail::s3

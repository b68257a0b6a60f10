// S3's XML answers (ListObjectsV2, ListMultipartUploads, multipart uploads, errors), read with
// expat: the root element's name, the raw contents of named elements and their text with
// entities and character references decoded. The body is bounded before it gets here (the
// client's max_body); no DTD is ever processed, so no entity is ever declared or expanded.
// Only hone::backup::error leaves these functions. Elements are matched by their name as
// written (no namespace processing): S3 writes them unprefixed.
#pragma once

#include <hone/backup/error.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <expat.h>

namespace hone::backup::detail::s3 {

namespace xml_detail {

using parser_ptr = std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)>;

inline parser_ptr make_parser() {
  parser_ptr p(XML_ParserCreate("UTF-8"), &XML_ParserFree);
  if (!p) throw remote_error("Cannot read the S3 answer: out of memory for its XML parser");
  return p;
}

/// Feeds `text` to the parser in pieces expat's int lengths can take; false once it stops
/// (an error, or a handler's XML_StopParser).
inline bool feed(XML_Parser p, std::string_view text, bool last) {
  constexpr std::size_t piece = 1 << 20;
  do {
    const std::size_t n = std::min(piece, text.size());
    const bool final_piece = last && n == text.size();
    if (XML_Parse(p, text.data(), static_cast<int>(n), final_piece ? 1 : 0) != XML_STATUS_OK) return false;
    text.remove_prefix(n);
  } while (!text.empty());
  return true;
}

/// A leading byte-order mark, white space and XML declaration: what may precede the content
/// of a document but not the content of an element.
inline std::size_t prolog_length(std::string_view doc) {
  std::size_t at = doc.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  while (at < doc.size() && (doc[at] == ' ' || doc[at] == '\n' || doc[at] == '\r' || doc[at] == '\t')) ++at;
  if (doc.compare(at, 6, "<?xml ") == 0 || doc.compare(at, 6, "<?xml\t") == 0 || doc.compare(at, 6, "<?xml\n") == 0 ||
      doc.compare(at, 6, "<?xml\r") == 0) {
    const auto end = doc.find("?>", at);
    if (end != std::string_view::npos) return end + 2;
  }
  return at;
}

/// What the handlers share: the search, what it found, and an exception a handler caught
/// (none may cross expat's C frames).
struct search {
  XML_Parser parser = nullptr;
  std::string_view tag;
  bool first_only = false;
  long prefix = 0;  // bytes fed before the caller's text (the wrapper's start tag, minus the prolog)
  int depth = 0;
  int match_depth = -1;  // depth of the element being collected, -1 outside one
  std::size_t content_start = 0;
  std::vector<std::string_view> raw;  // complete matches, as views into the caller's text
  std::string text;                   // first_only: the first match's character data
  std::string_view source;
  bool failed = false;

  std::size_t offset() const { return static_cast<std::size_t>(XML_GetCurrentByteIndex(parser) - prefix); }
};

inline void XMLCALL on_start(void* data, const XML_Char* name, const XML_Char**) {
  auto& s = *static_cast<search*>(data);
  ++s.depth;
  if (s.depth > 1 && s.match_depth < 0 && s.tag == name) {
    s.match_depth = s.depth;
    s.content_start = s.offset() + static_cast<std::size_t>(XML_GetCurrentByteCount(s.parser));
  }
}

inline void XMLCALL on_end(void* data, const XML_Char*) {
  auto& s = *static_cast<search*>(data);
  if (s.depth-- != s.match_depth) return;
  s.match_depth = -1;
  try {
    const std::size_t end = s.offset();  // an empty element <tag/> ends where it starts
    s.raw.push_back(end > s.content_start ? s.source.substr(s.content_start, end - s.content_start)
                                          : std::string_view());
  } catch (...) {
    s.failed = true;
  }
  if (s.first_only || s.failed) XML_StopParser(s.parser, XML_FALSE);
}

inline void XMLCALL on_text(void* data, const XML_Char* text, int len) {
  auto& s = *static_cast<search*>(data);
  if (!s.first_only || s.match_depth < 0) return;
  try {
    s.text.append(text, static_cast<std::size_t>(len));
  } catch (...) {
    s.failed = true;
    XML_StopParser(s.parser, XML_FALSE);
  }
}

/// Runs `s` over `doc` read as element content (so that a whole document and the contents of
/// one of its elements read the same way). Reading stops at the first error: what was complete
/// before it counts, as S3's documents are read for what they hold, and whether the document is
/// the one expected is root_element's business.
inline void run(search& s, std::string_view doc) {
  auto parser = make_parser();
  s.parser = parser.get();
  const std::size_t skip = prolog_length(doc);
  s.source = doc.substr(skip);
  static constexpr std::string_view open = "<s3-xml-content>", close = "</s3-xml-content>";
  s.prefix = static_cast<long>(open.size());
  XML_SetUserData(parser.get(), &s);
  XML_SetElementHandler(parser.get(), &on_start, &on_end);
  XML_SetCharacterDataHandler(parser.get(), &on_text);
  if (feed(parser.get(), open, false) && feed(parser.get(), s.source, false)) feed(parser.get(), close, true);
  if (s.failed) throw remote_error("Cannot read the S3 answer: out of memory");
}

/// Stops at the first element or document type declaration, whose name is the root's.
struct root_search {
  XML_Parser parser = nullptr;
  std::string name;
  bool failed = false;
  void found(const XML_Char* n) {
    try {
      name = n;
    } catch (...) {
      failed = true;
    }
    XML_StopParser(parser, XML_FALSE);
  }
};

inline void XMLCALL on_root(void* data, const XML_Char* name, const XML_Char**) {
  static_cast<root_search*>(data)->found(name);
}

inline void XMLCALL on_doctype(void* data, const XML_Char* name, const XML_Char*, const XML_Char*, int) {
  static_cast<root_search*>(data)->found(name);
}

}  // namespace xml_detail

/// The name of the document's root element without its namespace prefix ("" when the body is
/// not an XML document). A document type declaration names the root too, and is not read on.
inline std::string root_element(std::string_view body) {
  auto parser = xml_detail::make_parser();
  xml_detail::root_search s{parser.get(), {}, false};
  XML_SetUserData(parser.get(), &s);
  XML_SetStartElementHandler(parser.get(), &xml_detail::on_root);
  XML_SetStartDoctypeDeclHandler(parser.get(), &xml_detail::on_doctype);
  xml_detail::feed(parser.get(), body.substr(xml_detail::prolog_length(body)), true);
  if (s.failed) throw remote_error("Cannot read the S3 answer: out of memory");
  if (const auto colon = s.name.find(':'); colon != std::string::npos) s.name.erase(0, colon + 1);
  return s.name;
}

/// The raw contents of every <tag> element in `doc` (a document, or the contents of one of its
/// elements), in order, as views into `doc`; an empty element <tag/> gives "". An element
/// inside another of the same name is part of that one's contents.
inline std::vector<std::string_view> xml_elements(std::string_view doc, std::string_view tag) {
  xml_detail::search s;
  s.tag = tag;
  xml_detail::run(s, doc);
  return std::move(s.raw);
}

/// The text of the first <tag> in `doc` (entities and character references decoded, the text
/// of elements inside it included), or "" when there is none.
inline std::string xml_text(std::string_view doc, std::string_view tag) {
  xml_detail::search s;
  s.tag = tag;
  s.first_only = true;
  xml_detail::run(s, doc);
  return s.raw.empty() ? std::string() : std::move(s.text);
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

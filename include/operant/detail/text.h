// operant/detail/text.h — internal byte helpers shared by the modules' parsers. Not API.
#pragma once

#include <string>

namespace operant::detail {

// The value (0..63) of a standard base64 (RFC 4648 §4) character, or -1 for any other byte,
// '=' included.
constexpr int base64_value(unsigned char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Appends `\xNN` (lower-case hex) for byte c: how error messages show a byte that is not
// printable.
inline void append_hex_escape(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\x";
  out += hex[c >> 4];
  out += hex[c & 0xf];
}

}  // namespace operant::detail

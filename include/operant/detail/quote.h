// operant/detail/quote.h — internal: a value quoted for an error message. Not API.
//
// Configuration parsers (web config, kubeconfig) name the bad value in their errors. The value may
// be anything a file holds, so it is shown in double quotes with `"` and `\` escaped, control
// bytes as \xNN, and cut after 100 bytes ("..." inside the quotes).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "operant/detail/text.h"

namespace operant::detail {

inline std::string quote(std::string_view s) {
  std::string out = "\"";
  std::size_t n = 0;
  for (const char ch : s) {
    if (++n > 100) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      append_hex_escape(out, c);
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

}  // namespace operant::detail

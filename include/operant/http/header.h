// operant/http/header.h — one HTTP header field, shared by the server's requests and responses
// and by the client's.
#pragma once
#include <string>

namespace operant::http {

struct header_field {
  std::string name;
  std::string value;
};

}  // namespace operant::http

#include <boost/beast/core/string.hpp>

#include "operant/http/server.h"

namespace operant::http {

namespace {

response make(unsigned status, std::string content_type, std::string body) {
  response r;
  r.status = status;
  r.headers.push_back({"Content-Type", std::move(content_type)});
  r.body = std::move(body);
  return r;
}

}  // namespace

std::string_view request::path() const noexcept {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view request::query() const noexcept {
  const std::string_view t = target;
  const std::size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view request::header(std::string_view name) const noexcept {
  for (const header_field& f : headers) {
    if (boost::beast::iequals(f.name, name)) return f.value;
  }
  return {};
}

response response::text(unsigned status, std::string body) {
  return make(status, "text/plain; charset=utf-8", std::move(body));
}
response response::html(unsigned status, std::string body) {
  return make(status, "text/html; charset=utf-8", std::move(body));
}
response response::json(unsigned status, std::string body) {
  return make(status, "application/json", std::move(body));
}

}  // namespace operant::http

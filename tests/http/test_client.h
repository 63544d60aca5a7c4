// A small blocking HTTP/1.1 client for the server tests (plain and TLS), built on the same
// Asio/Beast as the server, so tests exercise the server over real loopback sockets.
#pragma once
#include <zlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace operant::http::test {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

struct reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline std::string lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  return s;
}

template <class Stream>
reply read_reply(Stream& s, beast::flat_buffer& buf, bool head = false) {
  beast::http::response_parser<beast::http::string_body> p;
  p.body_limit(64 * 1024 * 1024);
  p.skip(head);
  beast::http::read(s, buf, p);
  reply r;
  r.status = p.get().result_int();
  for (const auto& f : p.get()) r.headers[lower(std::string(f.name_string()))] = std::string(f.value());
  r.body = p.get().body();
  return r;
}

template <class Stream>
void write_request(Stream& s, const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   const std::string& body = {}) {
  beast::http::request<beast::http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(beast::http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  if (!body.empty() || method == "POST") req.prepare_payload();
  beast::http::write(s, req);
}

// One plain connection; several requests may go over it (keep-alive).
class connection {
 public:
  explicit connection(std::uint16_t port) : sock_(ioc_) {
    sock_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  reply request(const std::string& method, const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers = {},
                const std::string& body = {}) {
    write_request(sock_, method, target, headers, body);
    return read_reply(sock_, buf_, method == "HEAD");
  }
  // Sends raw bytes.
  void send(const std::string& raw) { net::write(sock_, net::buffer(raw)); }
  // Reads everything until the server closes the connection.
  std::string read_all() {
    std::string out(static_cast<const char*>(buf_.data().data()), buf_.size());
    buf_.consume(buf_.size());
    boost::system::error_code ec;
    char tmp[4096];
    for (;;) {
      const std::size_t n = sock_.read_some(net::buffer(tmp), ec);
      if (ec) break;
      out.append(tmp, n);
    }
    return out;
  }
  reply read() { return read_reply(sock_, buf_); }
  tcp::socket& socket() { return sock_; }

 private:
  net::io_context ioc_;
  tcp::socket sock_;
  beast::flat_buffer buf_;
};

inline reply get(std::uint16_t port, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  connection c(port);
  return c.request("GET", target, headers);
}

// Sends raw bytes on a new connection and returns everything the server sent until it closed.
inline std::string raw(std::uint16_t port, const std::string& bytes) {
  connection c(port);
  c.send(bytes);
  return c.read_all();
}

// TLS client: `ca_file` verifies the server; `cert_file`/`key_file` present a client certificate.
inline reply tls_get(std::uint16_t port, const std::string& target, const std::string& ca_file,
                     const std::string& cert_file = {}, const std::string& key_file = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(net::ssl::verify_peer);
  if (!cert_file.empty()) {
    ctx.use_certificate_chain_file(cert_file);
    ctx.use_private_key_file(key_file, net::ssl::context::pem);
  }
  net::ssl::stream<tcp::socket> s(ioc, ctx);
  s.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  s.handshake(net::ssl::stream_base::client);
  write_request(s, "GET", target, headers);
  beast::flat_buffer buf;
  return read_reply(s, buf);
}

inline std::string gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("not a valid gzip stream");
    }
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace operant::http::test

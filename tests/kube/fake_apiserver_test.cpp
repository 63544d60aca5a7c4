// Tests of the loopback Kubernetes API server (tests/kube/support/fake_apiserver.h), driven over
// real loopback sockets by a small synchronous Beast client (TLS or plain) defined here.
//
// Asio and Beast are compiled once, in operant_http (src/http/asio_impl.cpp): this translation
// unit must see them as operant_http's sources do (kube_tests gets no such definitions from CMake).
#ifndef BOOST_ASIO_SEPARATE_COMPILATION
#define BOOST_ASIO_SEPARATE_COMPILATION
#endif
#ifndef BOOST_BEAST_SEPARATE_COMPILATION
#define BOOST_BEAST_SEPARATE_COMPILATION
#endif
#ifndef BOOST_ASIO_NO_DEPRECATED
#define BOOST_ASIO_NO_DEPRECATED
#endif
// GCC 12's -Wnull-dereference fires inside Asio's inlined code (see fake_apiserver.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "fake_apiserver.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace operant::kube::test;
using namespace std::chrono_literals;

// ---- the client --------------------------------------------------------------------------------

struct identity {
  std::string token{};
  std::string basic{};  // "user:password"
  std::optional<key_pair> cert{};
  std::string ca_pem{};  // the server's CA when empty
};

struct response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  json j() const { return json::parse(body); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct event {
  std::string type;
  json object;
  std::size_t chunks = 0;  // HTTP chunks the line arrived in
  std::string rv() const { return object["metadata"].value("resourceVersion", ""); }
  std::string name() const { return object["metadata"].value("name", ""); }
};

std::string lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (unsigned(static_cast<unsigned char>(in[i])) << 16) |
                       (unsigned(static_cast<unsigned char>(in[i + 1])) << 8) |
                       unsigned(static_cast<unsigned char>(in[i + 2]));
    for (int k = 3; k >= 0; --k) out += t[(v >> (6 * k)) & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    const unsigned v = (unsigned(static_cast<unsigned char>(in[i])) << 16) |
                       (unsigned(static_cast<unsigned char>(in[i + 1])) << 8);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Percent-encodes a query value.
std::string q(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

// Shuts a connection down after a deadline, so that a failing test fails instead of hanging.
class watchdog {
 public:
  watchdog(int fd, std::chrono::seconds after)
      : thread_([this, fd, after] {
          std::unique_lock l(m_);
          if (!cv_.wait_for(l, after, [&] { return done_; })) ::shutdown(fd, SHUT_RDWR);
        }) {}
  ~watchdog() {
    {
      std::lock_guard l(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// One connection to the server (keep-alive: several requests may use it), or one watch stream.
class client {
 public:
  explicit client(const fake_apiserver& srv, identity id = {})
      : id_(std::move(id)), ctx_(net::ssl::context::tls_client) {
    tls_ = srv.url().rfind("https://", 0) == 0;
    tcp::socket sock(ioc_);
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv.port()));
    dog_ = std::make_unique<watchdog>(sock.native_handle(), 60s);
    if (tls_) {
      ctx_.add_certificate_authority(net::buffer(id_.ca_pem.empty() ? srv.ca_pem() : id_.ca_pem));
      ctx_.set_verify_mode(net::ssl::verify_peer);
      if (id_.cert) {
        ctx_.use_certificate_chain(net::buffer(id_.cert->cert_pem));
        ctx_.use_private_key(net::buffer(id_.cert->key_pem), net::ssl::context::pem);
      }
      ssl_ = std::make_unique<net::ssl::stream<tcp::socket>>(std::move(sock), ctx_);
      ssl_->set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
      ssl_->handshake(net::ssl::stream_base::client);
    } else {
      plain_ = std::make_unique<tcp::socket>(std::move(sock));
    }
  }
  ~client() { dog_.reset(); }  // before the sockets close

  response request(const std::string& method, const std::string& target,
                   const std::string& body = {},
                   const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    send(method, target, body, headers);
    http::response_parser<http::string_body> p;
    p.body_limit(64 << 20);
    with([&](auto& s) { http::read(s, buf_, p); });
    return to_response(p.get());
  }

  // Sends a watch request and reads the response header; a non-200 answer is read whole.
  response open_watch(const std::string& target) {
    send("GET", target, {}, {});
    parser_ = std::make_unique<http::response_parser<http::string_body>>();
    parser_->body_limit(64 << 20);
    header_cb_ = [this](std::uint64_t, beast::string_view, beast::error_code&) { chunk_.clear(); };
    body_cb_ = [this](std::uint64_t remain, beast::string_view data, beast::error_code& ec) {
      chunk_.append(data.data(), data.size());
      if (remain == data.size()) ec = http::error::end_of_chunk;
      return data.size();
    };
    parser_->on_chunk_header(header_cb_);
    parser_->on_chunk_body(body_cb_);
    with([&](auto& s) { http::read_header(s, buf_, *parser_); });
    response r = to_response(parser_->get());
    if (r.status != 200 || !parser_->chunked()) {
      with([&](auto& s) { http::read(s, buf_, *parser_); });
      r = to_response(parser_->get());
    }
    return r;
  }

  // The next watch event; nullopt at the end of the stream: clean_end() (terminating chunk) or
  // aborted() (the connection closed mid-stream).
  std::optional<event> next() {
    for (;;) {
      if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
        const json line = json::parse(pending_.substr(0, nl));
        pending_.erase(0, nl + 1);
        event e{line.at("type").get<std::string>(), line.at("object"), pending_chunks_};
        pending_chunks_ = pending_.empty() ? 0 : 1;
        return e;
      }
      if (parser_->is_done()) {
        clean_end_ = true;
        return std::nullopt;
      }
      beast::error_code ec;
      with([&](auto& s) { http::read(s, buf_, *parser_, ec); });
      if (ec == http::error::end_of_chunk) {
        pending_ += chunk_;
        ++pending_chunks_;
        chunk_.clear();
      } else if (ec) {
        aborted_ = true;
        return std::nullopt;
      }
    }
  }

  // The next event that is not a BOOKMARK.
  std::optional<event> next_object() {
    for (;;) {
      auto e = next();
      if (!e || e->type != "BOOKMARK") return e;
    }
  }

  // Every remaining event until the stream ends.
  std::vector<event> drain() {
    std::vector<event> out;
    while (auto e = next()) out.push_back(*e);
    return out;
  }

  bool clean_end() const { return clean_end_; }
  bool aborted() const { return aborted_; }

 private:
  template <class F>
  void with(F&& f) {
    if (tls_)
      f(*ssl_);
    else
      f(*plain_);
  }

  void send(const std::string& method, const std::string& target, const std::string& body,
            const std::vector<std::pair<std::string, std::string>>& headers) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, "fake-apiserver-test/1.0");
    if (!id_.token.empty()) req.set(http::field::authorization, "Bearer " + id_.token);
    if (!id_.basic.empty()) req.set(http::field::authorization, "Basic " + base64(id_.basic));
    bool has_type = false;
    for (const auto& [k, v] : headers) {
      req.set(k, v);
      has_type = has_type || lower(k) == "content-type";
    }
    if (!body.empty() && !has_type) req.set(http::field::content_type, "application/json");
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
      req.prepare_payload();
    with([&](auto& s) { http::write(s, req); });
  }

  static response to_response(const http::response<http::string_body>& m) {
    response r;
    r.status = m.result_int();
    for (const auto& f : m) r.headers[lower(std::string(f.name_string()))] = std::string(f.value());
    r.body = m.body();
    return r;
  }

  identity id_;
  net::io_context ioc_;
  net::ssl::context ctx_;
  bool tls_ = true;
  std::unique_ptr<net::ssl::stream<tcp::socket>> ssl_;
  std::unique_ptr<tcp::socket> plain_;
  beast::flat_buffer buf_;
  std::unique_ptr<http::response_parser<http::string_body>> parser_;
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> header_cb_;
  std::function<std::size_t(std::uint64_t, beast::string_view, beast::error_code&)> body_cb_;
  std::string chunk_, pending_;
  std::size_t pending_chunks_ = 0;
  bool clean_end_ = false, aborted_ = false;
  std::unique_ptr<watchdog> dog_;  // last: destroyed first
};

// ---- fixtures ----------------------------------------------------------------------------------

constexpr const char* pods = "/api/v1/namespaces/default/pods";

json pod(const std::string& name, json labels = json::object(), const std::string& node = "") {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"labels", labels}}},
            {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  if (!node.empty()) p["spec"]["nodeName"] = node;
  return p;
}

std::vector<std::string> names(const json& list) {
  std::vector<std::string> out;
  for (const auto& i : list.at("items")) out.push_back(i["metadata"]["name"].get<std::string>());
  return out;
}

std::uint64_t rv_of(const json& o) {
  return std::stoull(o["metadata"]["resourceVersion"].get<std::string>());
}

void expect_status(const response& r, unsigned code, const std::string& reason,
                   const std::string& message = {}) {
  EXPECT_EQ(r.status, code) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json s = r.j();
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["apiVersion"], "v1");
  EXPECT_TRUE(s["metadata"].is_object());  // {} (or a continue token for an expired list)
  EXPECT_EQ(s["status"], "Failure");
  EXPECT_EQ(s["code"], code);
  if (reason.empty()) {
    EXPECT_FALSE(s.contains("reason")) << r.body;
  } else {
    EXPECT_EQ(s.value("reason", ""), reason) << r.body;
  }
  if (!message.empty()) {
    EXPECT_EQ(s.value("message", ""), message);
  }
}

// ---- CRUD --------------------------------------------------------------------------------------

TEST(FakeApiserverCrud, CreateGetUpdateDeleteWithApiserverCodesAndStatuses) {
  fake_apiserver srv;
  client c(srv);
  const std::string before = srv.resource_version();

  auto r = c.request("POST", pods, pod("a").dump());
  ASSERT_EQ(r.status, 201u) << r.body;
  json a = r.j();
  EXPECT_EQ(a["kind"], "Pod");
  EXPECT_EQ(a["apiVersion"], "v1");
  EXPECT_EQ(a["metadata"]["namespace"], "default");
  EXPECT_EQ(a["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(a["metadata"]["generation"], 1);
  EXPECT_TRUE(a["metadata"].contains("creationTimestamp"));
  EXPECT_EQ(rv_of(a), std::stoull(before) + 1);

  r = c.request("GET", std::string(pods) + "/a");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.j(), a);

  r = c.request("GET", std::string(pods) + "/nope");
  expect_status(r, 404, "NotFound", "pods \"nope\" not found");
  EXPECT_EQ(r.j()["details"], (json{{"name", "nope"}, {"kind", "pods"}}));

  r = c.request("POST", pods, pod("a").dump());
  expect_status(r, 409, "AlreadyExists", "pods \"a\" already exists");
  EXPECT_EQ(r.j()["details"], (json{{"name", "a"}, {"kind", "pods"}}));

  // Optimistic concurrency: the current resourceVersion wins, a stale one is a Conflict.
  json upd = a;
  upd["metadata"]["labels"] = {{"x", "1"}};
  r = c.request("PUT", std::string(pods) + "/a", upd.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  const json a2 = r.j();
  EXPECT_EQ(rv_of(a2), rv_of(a) + 1);
  EXPECT_EQ(a2["metadata"]["uid"], a["metadata"]["uid"]);
  EXPECT_EQ(a2["metadata"]["generation"], 1);  // labels are not the spec

  upd["metadata"]["labels"] = {{"x", "2"}};
  r = c.request("PUT", std::string(pods) + "/a", upd.dump());  // still carries a's version
  expect_status(r, 409, "Conflict",
                "Operation cannot be fulfilled on pods \"a\": the object has been modified; please "
                "apply your changes to the latest version and try again");
  EXPECT_EQ(r.j()["details"], (json{{"name", "a"}, {"kind", "pods"}}));

  upd["metadata"].erase("resourceVersion");  // unconditional
  upd["spec"]["containers"][0]["image"] = "nginx";
  r = c.request("PUT", std::string(pods) + "/a", upd.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["metadata"]["generation"], 2);
  EXPECT_EQ(r.j()["metadata"]["labels"]["x"], "2");

  r = c.request("PUT", std::string(pods) + "/ghost", pod("ghost").dump());
  expect_status(r, 404, "NotFound", "pods \"ghost\" not found");
  r = c.request("PUT", std::string(pods) + "/a", pod("b").dump());
  expect_status(r, 400, "BadRequest",
                "the name of the object (b) does not match the name on the URL (a)");

  const std::string rv_before_delete = srv.resource_version();
  r = c.request("DELETE", std::string(pods) + "/a");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["kind"], "Pod");  // pods return the deleted object
  EXPECT_EQ(r.j()["metadata"]["resourceVersion"], rv_before_delete);  // as it was stored
  EXPECT_EQ(std::stoull(srv.resource_version()), std::stoull(rv_before_delete) + 1);
  expect_status(c.request("DELETE", std::string(pods) + "/a"), 404, "NotFound");
  expect_status(c.request("GET", std::string(pods) + "/a"), 404, "NotFound");
}

TEST(FakeApiserverCrud, ResourceVersionIsOneGlobalCounterAndNoOpWritesAreNotWrites) {
  fake_apiserver srv;
  client c(srv);
  const auto a = c.request("POST", pods, pod("a").dump()).j();
  const auto cm = c.request("POST", "/api/v1/namespaces/default/configmaps",
                            json{{"metadata", {{"name", "cm"}}}, {"data", {{"k", "v"}}}}.dump())
                      .j();
  const auto lease =
      c.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                json{{"metadata", {{"name", "l"}}}, {"spec", {{"holderIdentity", "me"}}}}.dump())
          .j();
  EXPECT_EQ(rv_of(cm), rv_of(a) + 1);
  EXPECT_EQ(rv_of(lease), rv_of(cm) + 1);
  EXPECT_EQ(lease["kind"], "Lease");
  EXPECT_EQ(lease["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(srv.resource_version(), std::to_string(rv_of(lease)));

  // A PUT that changes nothing writes nothing (etcd3's GuaranteedUpdate): same version.
  auto r = c.request("PUT", std::string(pods) + "/a", a.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(rv_of(r.j()), rv_of(a));
  EXPECT_EQ(srv.resource_version(), std::to_string(rv_of(lease)));

  // A grouped resource names itself resource.group in messages and details.
  json stale = lease;
  stale["metadata"]["resourceVersion"] = "1";
  r = c.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l",
                stale.dump());
  expect_status(r, 409, "Conflict",
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"l\": the object has "
                "been modified; please apply your changes to the latest version and try again");
  EXPECT_EQ(r.j()["details"],
            (json{{"name", "l"}, {"group", "coordination.k8s.io"}, {"kind", "leases"}}));
}

TEST(FakeApiserverCrud, CreateChecksNamesNamespacesAndResourceVersion) {
  fake_apiserver srv;
  client c(srv);
  json g = pod("");
  g["metadata"].erase("name");
  g["metadata"]["generateName"] = "web-";
  auto r = c.request("POST", pods, g.dump());
  ASSERT_EQ(r.status, 201u) << r.body;
  const std::string gen = r.j()["metadata"]["name"];
  EXPECT_EQ(gen.size(), 9u);
  EXPECT_EQ(gen.rfind("web-", 0), 0u);

  json wrong_ns = pod("x");
  wrong_ns["metadata"]["namespace"] = "other";
  expect_status(c.request("POST", pods, wrong_ns.dump()), 400, "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the "
                "request");

  json unnamed = pod("");
  unnamed["metadata"].erase("name");
  r = c.request("POST", pods, unnamed.dump());
  expect_status(r, 422, "Invalid",
                "Pod \"\" is invalid: metadata.name: Required value: name or generateName is "
                "required");
  EXPECT_EQ(r.j()["details"]["causes"][0]["field"], "metadata.name");

  json with_rv = pod("y");
  with_rv["metadata"]["resourceVersion"] = "12";
  // storage/etcd3 returns a plain error: 500 without a reason.
  expect_status(c.request("POST", pods, with_rv.dump()), 500, "",
                "resourceVersion should not be set on objects to be created");

  expect_status(c.request("POST", pods, "{not json"), 400, "BadRequest");
  json wrong_version = pod("z");
  wrong_version["apiVersion"] = "v2";
  expect_status(c.request("POST", pods, wrong_version.dump()), 400, "BadRequest",
                "the API version in the data (v2) does not match the expected API version (v1)");

  // Cluster-scoped: nodes and namespaces lose a namespace; a namespaced path for them is no route.
  json node = {{"metadata", {{"name", "n1"}, {"namespace", "default"}}}};
  r = c.request("POST", "/api/v1/nodes", node.dump());
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_FALSE(r.j()["metadata"].contains("namespace"));
  EXPECT_EQ(r.j()["kind"], "Node");
  expect_status(c.request("GET", "/api/v1/namespaces/default/nodes/n1"), 404, "NotFound",
                "the server could not find the requested resource");
  expect_status(c.request("POST", "/api/v1/pods", pod("all").dump()), 405, "MethodNotAllowed");
  expect_status(c.request("POST", std::string(pods) + "/a", pod("a").dump()), 405,
                "MethodNotAllowed");
  r = c.request("POST", "/api/v1/namespaces", json{{"metadata", {{"name", "team"}}}}.dump());
  ASSERT_EQ(r.status, 201u);
  EXPECT_EQ(c.request("GET", "/api/v1/namespaces/team").j()["kind"], "Namespace");
}

TEST(FakeApiserverCrud, DeleteStatusPreconditionsAndFinalizers) {
  fake_apiserver srv;
  client c(srv);
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  const json cm = c.request("POST", cms, json{{"metadata", {{"name", "cm"}}}}.dump()).j();
  const std::string uid = cm["metadata"]["uid"];

  auto r = c.request(
      "DELETE", cms + "/cm",
      json{{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", "wrong"}}}}
          .dump());
  expect_status(r, 409, "Conflict",
                "Operation cannot be fulfilled on configmaps \"cm\": Precondition failed: UID in "
                "precondition: wrong, UID in object meta: " +
                    uid);
  r = c.request("DELETE", cms + "/cm", json{{"preconditions", {{"resourceVersion", "1"}}}}.dump());
  expect_status(r, 409, "Conflict");

  // configmaps (no ReturnDeletedObject) answer with a Status of success.
  r = c.request("DELETE", cms + "/cm",
                json{{"preconditions",
                      {{"uid", uid}, {"resourceVersion", cm["metadata"]["resourceVersion"]}}}}
                    .dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j(), (json{{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", json::object()},
                         {"status", "Success"},
                         {"details", {{"name", "cm"}, {"kind", "configmaps"}, {"uid", uid}}}}));

  // Finalizers: DELETE marks (MODIFIED), removing the last finalizer deletes (DELETED).
  json fin = {{"metadata", {{"name", "f"}, {"finalizers", {"example.com/hold"}}}}};
  const json f = c.request("POST", cms, fin.dump()).j();
  client w(srv);
  ASSERT_EQ(w.open_watch(cms + "?watch=1&resourceVersion=" +
                         f["metadata"]["resourceVersion"].get<std::string>())
                .status,
            200u);
  r = c.request("DELETE", cms + "/f");
  ASSERT_EQ(r.status, 200u);
  const json marked = r.j();
  EXPECT_TRUE(marked["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(marked["metadata"]["deletionGracePeriodSeconds"], 0);
  EXPECT_EQ(c.request("GET", cms + "/f").status, 200u);
  json release = marked;
  release["metadata"]["finalizers"] = json::array();
  r = c.request("PUT", cms + "/f", release.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  expect_status(c.request("GET", cms + "/f"), 404, "NotFound");
  auto e1 = w.next_object(), e2 = w.next_object();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->type, "MODIFIED");
  EXPECT_TRUE(e1->object["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(e2->type, "DELETED");
  EXPECT_EQ(e2->rv(), srv.resource_version());
}

TEST(FakeApiserverCrud, StatusSubresourceAndGeneration) {
  fake_apiserver srv;
  client c(srv);
  json p = pod("s");
  p["status"] = {{"phase", "Pending"}};
  const json created = c.request("POST", pods, p.dump()).j();
  EXPECT_EQ(created["status"]["phase"], "Pending");

  json main = created;
  main["status"]["phase"] = "Running";
  main["metadata"]["labels"] = {{"l", "1"}};
  auto r = c.request("PUT", std::string(pods) + "/s", main.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["status"]["phase"], "Pending");  // the object endpoint ignores .status
  EXPECT_EQ(r.j()["metadata"]["labels"]["l"], "1");

  json st = r.j();
  st["status"]["phase"] = "Running";
  st["metadata"]["labels"] = {{"l", "2"}};
  r = c.request("PUT", std::string(pods) + "/s/status", st.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["status"]["phase"], "Running");
  EXPECT_EQ(r.j()["metadata"]["labels"]["l"], "1");  // the status endpoint ignores the rest
  EXPECT_EQ(r.j()["metadata"]["generation"], 1);

  r = c.request("PATCH", std::string(pods) + "/s/status", R"({"status":{"phase":"Succeeded"}})",
                {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["status"]["phase"], "Succeeded");
  EXPECT_EQ(c.request("GET", std::string(pods) + "/s/status").j()["status"]["phase"], "Succeeded");
  expect_status(c.request("GET", std::string(pods) + "/s/log"), 404, "NotFound");
}

TEST(FakeApiserverCrud, PatchTypes) {
  fake_apiserver srv;
  client c(srv);
  json p = pod("p");
  p["spec"]["containers"].push_back({{"name", "d"}, {"image", "alpine"}});
  const json created = c.request("POST", pods, p.dump()).j();
  const std::string url = std::string(pods) + "/p";

  auto r = c.request("PATCH", url, R"({"metadata":{"labels":{"a":"b"}}})",
                     {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["metadata"]["labels"]["a"], "b");
  EXPECT_EQ(rv_of(r.j()), rv_of(created) + 1);

  // Strategic: the containers list merges on name; a merge patch would replace it.
  r = c.request("PATCH", url, R"({"spec":{"containers":[{"name":"c","image":"nginx"}]}})",
                {{"Content-Type", "application/strategic-merge-patch+json"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(r.j()["spec"]["containers"].size(), 2u);
  EXPECT_EQ(r.j()["spec"]["containers"][0]["image"], "nginx");
  EXPECT_EQ(r.j()["spec"]["containers"][1]["image"], "alpine");
  r = c.request("PATCH", url, R"({"spec":{"containers":[{"name":"d","$patch":"delete"}]}})",
                {{"Content-Type", "application/strategic-merge-patch+json"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["spec"]["containers"].size(), 1u);

  r = c.request("PATCH", url, R"([{"op":"replace","path":"/spec/containers/0/image","value":"x"}])",
                {{"Content-Type", "application/json-patch+json"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["spec"]["containers"][0]["image"], "x");
  r = c.request("PATCH", url, R"([{"op":"test","path":"/spec/containers/0/image","value":"y"}])",
                {{"Content-Type", "application/json-patch+json"}});
  expect_status(r, 422, "Invalid");

  // A resourceVersion in the patch is a precondition.
  r = c.request("PATCH", url, R"({"metadata":{"resourceVersion":"1","labels":{"a":"c"}}})",
                {{"Content-Type", "application/merge-patch+json"}});
  expect_status(r, 409, "Conflict");
  r = c.request("PATCH", url, R"({"metadata":{"labels":{"a":"c"}}})",
                {{"Content-Type", "application/json"}});
  expect_status(r, 415, "UnsupportedMediaType");
  r = c.request("PATCH", std::string(pods) + "/ghost", R"({"metadata":{}})",
                {{"Content-Type", "application/merge-patch+json"}});
  expect_status(r, 404, "NotFound");

  // Custom resources take no strategic merge patch.
  const std::string widgets = "/apis/example.com/v1/namespaces/default/widgets";
  r = c.request("POST", widgets,
                json{{"metadata", {{"name", "w"}}}, {"spec", {{"size", 1}}}}.dump());
  ASSERT_EQ(r.status, 201u);
  r = c.request("PATCH", widgets + "/w", R"({"spec":{"size":2}})",
                {{"Content-Type", "application/strategic-merge-patch+json"}});
  expect_status(r, 415, "UnsupportedMediaType");
  r = c.request("PATCH", widgets + "/w", R"({"spec":{"size":2}})",
                {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.j()["spec"]["size"], 2);
  EXPECT_EQ(r.j()["metadata"]["generation"], 2);
}

TEST(FakeApiserverCrud, CustomResourcesAreGeneric) {
  fake_apiserver srv;
  client c(srv);
  const std::string widgets = "/apis/example.com/v1/namespaces/default/widgets";
  auto r = c.request("POST", widgets, json{{"metadata", {{"name", "w"}}}}.dump());
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.j()["kind"], "Widget");
  EXPECT_EQ(r.j()["apiVersion"], "example.com/v1");
  r = c.request("GET", widgets);
  EXPECT_EQ(r.j()["kind"], "WidgetList");
  EXPECT_EQ(r.j()["items"][0]["kind"], "Widget");  // unstructured items keep their type
  r = c.request("GET", pods);
  EXPECT_EQ(r.j()["kind"], "PodList");
  r = c.request("DELETE", widgets + "/w");
  EXPECT_EQ(r.j()["kind"], "Widget");  // custom resources return the deleted object

  // A cluster-scoped custom resource after registration.
  srv.register_resource({.group = "example.com",
                         .resource = "clusterwidgets",
                         .kind = "ClusterWidget",
                         .namespaced = false});
  r = c.request("POST", "/apis/example.com/v1/clusterwidgets",
                json{{"metadata", {{"name", "cw"}}}}.dump());
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.j()["kind"], "ClusterWidget");
  expect_status(c.request("GET", "/apis/example.com/v1/namespaces/x/clusterwidgets"), 404,
                "NotFound");
}

// ---- LIST --------------------------------------------------------------------------------------

TEST(FakeApiserverList, PaginationIsConsistentAcrossConcurrentWrites) {
  fake_apiserver srv;
  for (const char* n : {"p0", "p1", "p2", "p3", "p4"}) srv.create(pods, pod(n, {{"v", "old"}}));
  srv.create("/api/v1/namespaces/other/pods", pod("elsewhere"));
  client c(srv);

  auto page1 = c.request("GET", std::string(pods) + "?limit=2").j();
  EXPECT_EQ(names(page1), (std::vector<std::string>{"p0", "p1"}));
  const std::string rv = page1["metadata"]["resourceVersion"];
  EXPECT_EQ(rv, srv.resource_version());
  EXPECT_EQ(page1["metadata"]["remainingItemCount"], 3);
  ASSERT_TRUE(page1["metadata"].contains("continue"));
  EXPECT_EQ(page1["items"][0].count("kind"), 0u);  // typed list items carry no kind

  // Writes between pages do not show: every page is the first page's snapshot.
  srv.remove(std::string(pods) + "/p3");
  srv.create(pods, pod("p1x"));
  srv.patch(std::string(pods) + "/p4", {{"metadata", {{"labels", {{"v", "new"}}}}}});

  auto page2 = c.request("GET", std::string(pods) + "?limit=2&continue=" +
                                    q(page1["metadata"]["continue"].get<std::string>()))
                   .j();
  EXPECT_EQ(names(page2), (std::vector<std::string>{"p2", "p3"}));
  EXPECT_EQ(page2["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(page2["metadata"]["remainingItemCount"], 1);
  auto page3 = c.request("GET", std::string(pods) + "?limit=2&continue=" +
                                    q(page2["metadata"]["continue"].get<std::string>()))
                   .j();
  EXPECT_EQ(names(page3), (std::vector<std::string>{"p4"}));
  EXPECT_EQ(page3["items"][0]["metadata"]["labels"]["v"], "old");
  EXPECT_FALSE(page3["metadata"].contains("continue"));
  EXPECT_FALSE(page3["metadata"].contains("remainingItemCount"));

  auto now = c.request("GET", pods).j();
  EXPECT_EQ(names(now), (std::vector<std::string>{"p0", "p1", "p1x", "p2", "p4"}));
  EXPECT_NE(now["metadata"]["resourceVersion"], rv);
  auto all = c.request("GET", "/api/v1/pods").j();
  EXPECT_EQ(all["items"].size(), 6u);
  EXPECT_EQ(all["items"][0]["metadata"]["namespace"], "default");
  EXPECT_EQ(all["items"][5]["metadata"]["name"], "elsewhere");

  // The token is the apiserver's: base64url JSON {"v","rv","start"}; bad tokens are 400s.
  expect_status(c.request("GET", std::string(pods) + "?limit=2&continue=%21%21"), 400,
                "BadRequest");
  expect_status(c.request("GET", std::string(pods) + "?limit=2&resourceVersion=5&continue=" +
                                     q(page1["metadata"]["continue"].get<std::string>())),
                400, "BadRequest",
                "specifying resource version is not allowed when using continue");

  // The request log shows what the client sent.
  const auto log = srv.requests();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0].verb, "list");
  EXPECT_EQ(log[0].resource, "pods");
  EXPECT_EQ(log[0].ns, "default");
  EXPECT_EQ(log[0].query.at("limit"), "2");
  EXPECT_EQ(log[1].query.at("continue"), page1["metadata"]["continue"]);
  EXPECT_EQ(log[1].user_agent, "fake-apiserver-test/1.0");
  EXPECT_EQ(log[1].status, 200u);
}

TEST(FakeApiserverList, ExpiredContinueIsGoneWithAnInconsistentContinuation) {
  fake_apiserver srv;
  for (const char* n : {"a", "b", "c"}) srv.create(pods, pod(n));
  client c(srv);
  auto page1 = c.request("GET", std::string(pods) + "?limit=1").j();
  const std::string token = page1["metadata"]["continue"];
  srv.create(pods, pod("d"));
  srv.compact();
  auto r = c.request("GET", std::string(pods) + "?limit=1&continue=" + q(token));
  expect_status(r, 410, "Expired");
  EXPECT_EQ(
      r.j()["message"].get<std::string>().rfind(
          "The provided continue parameter is too old to display a consistent list result.", 0),
      0u);
  ASSERT_TRUE(r.j()["metadata"].contains("continue"));
  // The continuation from the error goes on at the latest resourceVersion (and sees d).
  auto rest = c.request("GET", std::string(pods) + "?limit=10&continue=" +
                                   q(r.j()["metadata"]["continue"].get<std::string>()))
                  .j();
  EXPECT_EQ(names(rest), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(rest["metadata"]["resourceVersion"], srv.resource_version());

  // The same through a history limit rather than compact().
  srv.set_history_limit(1);
  page1 = c.request("GET", std::string(pods) + "?limit=1").j();
  srv.create(pods, pod("e"));
  srv.create(pods, pod("f"));
  expect_status(c.request("GET", std::string(pods) + "?limit=1&continue=" +
                                     q(page1["metadata"]["continue"].get<std::string>())),
                410, "Expired");
}

TEST(FakeApiserverList, ResourceVersionParameters) {
  fake_apiserver srv;
  const json a = srv.create(pods, pod("a"));
  srv.create(pods, pod("b"));
  client c(srv);
  const auto rva = a["metadata"]["resourceVersion"].get<std::string>();
  EXPECT_EQ(names(c.request("GET", std::string(pods) + "?resourceVersion=0").j()),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(c.request("GET", std::string(pods) + "?resourceVersion=" + rva).j()).size(), 2u);
  auto exact =
      c.request("GET", std::string(pods) + "?resourceVersionMatch=Exact&resourceVersion=" + rva)
          .j();
  EXPECT_EQ(names(exact), (std::vector<std::string>{"a"}));
  EXPECT_EQ(exact["metadata"]["resourceVersion"], rva);

  // kube-apiserver answers 500 (no reason) for a resourceVersion that is not a number.
  auto r = c.request("GET", std::string(pods) + "?resourceVersion=abc");
  expect_status(r, 500, "",
                "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": "
                "invalid syntax");
  r = c.request("GET", std::string(pods) + "?resourceVersion=999999");
  expect_status(r, 504, "Timeout");
  EXPECT_EQ(r.j()["details"]["causes"][0]["reason"], "ResourceVersionTooLarge");
  expect_status(c.request("GET", std::string(pods) + "?resourceVersionMatch=Exact"), 422, "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                "resourceVersionMatch is forbidden unless resourceVersion is provided");
  srv.compact();
  expect_status(
      c.request("GET", std::string(pods) + "?resourceVersionMatch=Exact&resourceVersion=" + rva),
      410, "Expired", "The resourceVersion for the provided list is too old.");

  fake_apiserver strict({.invalid_resource_version_as_400 = true});
  client c2(strict);
  expect_status(c2.request("GET", std::string(pods) + "?resourceVersion=-1"), 400, "BadRequest");
  expect_status(c2.request("GET", std::string(pods) + "?watch=1&resourceVersion=x"), 400,
                "BadRequest");
}

TEST(FakeApiserverList, LabelSelectorsEveryOperator) {
  fake_apiserver srv;
  srv.create(pods, pod("a", {{"app", "web"}, {"tier", "fe"}, {"n", "3"}}));
  srv.create(pods, pod("b", {{"app", "db"}, {"tier", "be"}, {"n", "1"}}));
  srv.create(pods, pod("c", {{"app", "web"}}));
  srv.create(pods, pod("d"));
  client c(srv);
  const auto sel = [&](const std::string& s) {
    auto r = c.request("GET", std::string(pods) + "?labelSelector=" + q(s));
    EXPECT_EQ(r.status, 200u) << s << ": " << r.body;
    return r.status == 200 ? names(r.j()) : std::vector<std::string>{"<error>"};
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(sel(""), (v{"a", "b", "c", "d"}));
  EXPECT_EQ(sel("app=web"), (v{"a", "c"}));
  EXPECT_EQ(sel("app==web"), (v{"a", "c"}));
  EXPECT_EQ(sel("app!=web"), (v{"b", "d"}));
  EXPECT_EQ(sel("app in (web, db)"), (v{"a", "b", "c"}));
  EXPECT_EQ(sel("app notin (web)"), (v{"b", "d"}));
  EXPECT_EQ(sel("tier"), (v{"a", "b"}));
  EXPECT_EQ(sel("!tier"), (v{"c", "d"}));
  EXPECT_EQ(sel("app=web,tier"), (v{"a"}));
  EXPECT_EQ(sel(" app = web , !tier "), (v{"c"}));
  EXPECT_EQ(sel("n>2"), (v{"a"}));
  EXPECT_EQ(sel("n<2"), (v{"b"}));
  EXPECT_EQ(sel("app=nothing"), (v{}));
  // remainingItemCount is only given without selectors, as etcd3 does.
  auto r = c.request("GET", std::string(pods) + "?limit=1&labelSelector=" + q("app=web"));
  EXPECT_EQ(names(r.j()), (v{"a"}));
  EXPECT_TRUE(r.j()["metadata"].contains("continue"));
  EXPECT_FALSE(r.j()["metadata"].contains("remainingItemCount"));

  for (const char* bad : {"app in web", "=web", "app=(", "app in ()", "a b", "app=web,",
                          "app in (web", "bad key=x", "n>x", "-app=x", "app=-x"}) {
    r = c.request("GET", std::string(pods) + "?labelSelector=" + q(bad));
    SCOPED_TRACE(bad);
    expect_status(r, 400, "BadRequest");
  }
  expect_status(
      c.request("GET", std::string(pods) + "?labelSelector=" + q("app in ()")), 400, "BadRequest",
      "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty");
}

TEST(FakeApiserverList, FieldSelectors) {
  fake_apiserver srv;
  srv.create(pods, pod("a", {}, "node-1"));
  srv.create(pods, pod("b", {}, "node-2"));
  srv.create("/api/v1/namespaces/other/pods", pod("c"));
  client c(srv);
  const auto sel = [&](const std::string& path, const std::string& s) {
    auto r = c.request("GET", path + "?fieldSelector=" + q(s));
    EXPECT_EQ(r.status, 200u) << s << ": " << r.body;
    return r.status == 200 ? names(r.j()) : std::vector<std::string>{"<error>"};
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(sel(pods, "metadata.name=a"), (v{"a"}));
  EXPECT_EQ(sel(pods, "metadata.name==b"), (v{"b"}));
  EXPECT_EQ(sel(pods, "metadata.name!=a"), (v{"b"}));
  EXPECT_EQ(sel("/api/v1/pods", "metadata.namespace=other"), (v{"c"}));
  EXPECT_EQ(sel("/api/v1/pods", "metadata.namespace!=other,metadata.name!=b"), (v{"a"}));
  EXPECT_EQ(sel(pods, "spec.nodeName=node-2"), (v{"b"}));
  EXPECT_EQ(sel("/api/v1/pods", "spec.nodeName="), (v{"c"}));
  expect_status(c.request("GET", std::string(pods) + "?fieldSelector=" + q("spec.foo=x")), 400,
                "BadRequest", "field label not supported: spec.foo");
  expect_status(c.request("GET", std::string(pods) + "?fieldSelector=garbage"), 400, "BadRequest");
}

// ---- WATCH -------------------------------------------------------------------------------------

TEST(FakeApiserverWatch, FromAResourceVersionDeliversExactlyTheLaterEventsInOrder) {
  fake_apiserver srv;
  const json a = srv.create(pods, pod("a"));
  const json b = srv.create(pods, pod("b"));
  client w(srv);
  auto r = w.open_watch(std::string(pods) + "?watch=1&resourceVersion=" +
                        a["metadata"]["resourceVersion"].get<std::string>());
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(lower(r.header("transfer-encoding")), "chunked");
  ASSERT_TRUE(srv.wait_for_watches(1));
  srv.update(std::string(pods) + "/a", pod("a", {{"x", "1"}}));
  srv.create("/api/v1/namespaces/default/configmaps", {{"metadata", {{"name", "noise"}}}});
  srv.remove(std::string(pods) + "/b");

  auto e1 = w.next(), e2 = w.next(), e3 = w.next();
  ASSERT_TRUE(e1 && e2 && e3);
  EXPECT_EQ(e1->type, "ADDED");
  EXPECT_EQ(e1->name(), "b");
  EXPECT_EQ(e1->rv(), b["metadata"]["resourceVersion"]);
  EXPECT_EQ(e1->object["kind"], "Pod");
  EXPECT_EQ(e1->object["apiVersion"], "v1");
  EXPECT_EQ(e2->type, "MODIFIED");
  EXPECT_EQ(e2->name(), "a");
  EXPECT_EQ(e2->object["metadata"]["labels"]["x"], "1");
  EXPECT_EQ(e3->type, "DELETED");
  EXPECT_EQ(e3->name(), "b");
  EXPECT_EQ(e3->rv(), srv.resource_version());  // the deletion's version, not b's last
  EXPECT_EQ(e3->object["metadata"]["uid"], b["metadata"]["uid"]);
  EXPECT_LT(std::stoull(e1->rv()), std::stoull(e2->rv()));
  EXPECT_LT(std::stoull(e2->rv()), std::stoull(e3->rv()));

  srv.end_watches();
  EXPECT_TRUE(w.drain().empty());
  EXPECT_TRUE(w.clean_end());
  EXPECT_TRUE(srv.wait_for_watches(0));
  const auto log = srv.requests();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().verb, "watch");
  EXPECT_EQ(log.back().query.at("resourceVersion"), a["metadata"]["resourceVersion"]);
}

TEST(FakeApiserverWatch, FromZeroOrUnsetStartsWithSyntheticAddedEvents) {
  fake_apiserver srv;
  srv.create(pods, pod("b"));
  srv.create(pods, pod("a"));
  srv.create("/api/v1/namespaces/other/pods", pod("c"));
  for (const std::string rv : {"&resourceVersion=0", ""}) {
    client w(srv);
    ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=true" + rv).status, 200u);
    auto e1 = w.next(), e2 = w.next();
    ASSERT_TRUE(e1 && e2);
    EXPECT_EQ(e1->type, "ADDED");
    EXPECT_EQ(e1->name(), "a");
    EXPECT_EQ(e2->name(), "b");
    ASSERT_TRUE(srv.wait_for_watches(1));
    srv.create(pods, pod("z"));
    auto e3 = w.next();
    ASSERT_TRUE(e3);
    EXPECT_EQ(e3->type, "ADDED");
    EXPECT_EQ(e3->name(), "z");
    srv.remove(std::string(pods) + "/z");
    ASSERT_TRUE(w.next());
  }
  // The legacy /watch/ prefix and a watch of one named object.
  client w(srv);
  ASSERT_EQ(w.open_watch("/api/v1/watch/namespaces/default/pods/a").status, 200u);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name(), "a");
  ASSERT_TRUE(srv.wait_for_watches(1));
  srv.patch(std::string(pods) + "/b", {{"metadata", {{"labels", {{"k", "v"}}}}}});
  srv.patch(std::string(pods) + "/a", {{"metadata", {{"labels", {{"k", "v"}}}}}});
  e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "MODIFIED");
  EXPECT_EQ(e->name(), "a");
}

TEST(FakeApiserverWatch, SendInitialEventsEndsWithTheAnnotatedBookmark) {
  fake_apiserver srv({.bookmark_interval = std::chrono::hours(1)});
  srv.create(pods, pod("a"));
  srv.create(pods, pod("b"));
  client w(srv);
  ASSERT_EQ(w.open_watch(std::string(pods) +
                         "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&"
                         "allowWatchBookmarks=true")
                .status,
            200u);
  auto e1 = w.next(), e2 = w.next(), e3 = w.next();
  ASSERT_TRUE(e1 && e2 && e3);
  EXPECT_EQ(e1->type, "ADDED");
  EXPECT_EQ(e2->type, "ADDED");
  EXPECT_EQ(e3->type, "BOOKMARK");
  EXPECT_EQ(e3->rv(), srv.resource_version());
  EXPECT_EQ(e3->object["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  client bad(srv);
  expect_status(bad.open_watch(std::string(pods) + "?watch=1&sendInitialEvents=true"), 422,
                "Invalid");
}

TEST(FakeApiserverWatch, BookmarksWhenAllowedAndNeverOtherwise) {
  fake_apiserver srv({.bookmark_interval = 10ms});
  const std::string rv = srv.create(pods, pod("a"))["metadata"]["resourceVersion"];
  client with(srv), without(srv);
  ASSERT_EQ(
      with.open_watch(std::string(pods) + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv)
          .status,
      200u);
  ASSERT_EQ(without.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + rv).status, 200u);
  ASSERT_TRUE(srv.wait_for_watches(2));
  // Periodic bookmarks: the current version, an empty object of the watched kind.
  for (int i = 0; i < 3; ++i) {
    auto e = with.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type, "BOOKMARK");
    EXPECT_EQ(
        e->object,
        (json{{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}}));
  }
  srv.send_bookmarks_now();
  const json b = srv.create(pods, pod("b"));
  auto added = with.next_object();
  ASSERT_TRUE(added);
  EXPECT_EQ(added->name(), "b");
  for (;;) {  // bookmarks after the event carry its version (or later)
    auto e = with.next();
    ASSERT_TRUE(e);
    ASSERT_EQ(e->type, "BOOKMARK");
    if (e->rv() == b["metadata"]["resourceVersion"]) break;
  }
  srv.end_watches();
  const auto events = without.drain();
  EXPECT_TRUE(without.clean_end());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "ADDED");
}

TEST(FakeApiserverWatch, CompactedResourceVersionIsAnErrorEventOrA410) {
  fake_apiserver srv;
  const std::string old = srv.create(pods, pod("a"))["metadata"]["resourceVersion"];
  srv.create(pods, pod("b"));
  srv.compact();
  client w(srv);
  ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + old).status, 200u);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "ERROR");
  EXPECT_EQ(
      e->object,
      (json{{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Failure"},
            {"message", "too old resource version: " + old + " (" + srv.resource_version() + ")"},
            {"reason", "Expired"},
            {"code", 410}}));
  EXPECT_FALSE(w.next());
  EXPECT_TRUE(w.clean_end());
  EXPECT_EQ(srv.open_watches(), 0u);

  // A history limit compacts the same way; a version still in the history works.
  fake_apiserver limited({.history_limit = 2});
  std::vector<std::string> rvs;
  for (const char* n : {"a", "b", "c", "d", "e"})
    rvs.push_back(limited.create(pods, pod(n))["metadata"]["resourceVersion"]);
  client old_watch(limited), ok_watch(limited);
  ASSERT_EQ(old_watch.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + rvs[1]).status,
            200u);
  auto err = old_watch.next();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->type, "ERROR");
  ASSERT_EQ(ok_watch.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + rvs[2]).status,
            200u);
  auto d = ok_watch.next(), ee = ok_watch.next();
  ASSERT_TRUE(d && ee);
  EXPECT_EQ(d->name(), "d");
  EXPECT_EQ(ee->name(), "e");

  fake_apiserver plain_410({.watch_expired_as_http_410 = true});
  const std::string o = plain_410.create(pods, pod("a"))["metadata"]["resourceVersion"];
  plain_410.create(pods, pod("b"));
  plain_410.compact();
  client w410(plain_410);
  expect_status(w410.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + o), 410,
                "Expired");

  // Not a number: rejected before the stream starts (500, as kube-apiserver).
  client bad(srv);
  expect_status(bad.open_watch(std::string(pods) + "?watch=1&resourceVersion=abc"), 500, "");
}

TEST(FakeApiserverWatch, SelectorTransitionsBecomeAddedAndDeleted) {
  fake_apiserver srv;
  const std::string rv = srv.create(pods, pod("p", {{"app", "db"}}))["metadata"]["resourceVersion"];
  client w(srv);
  ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1&labelSelector=" + q("app=web") +
                         "&resourceVersion=" + rv)
                .status,
            200u);
  ASSERT_TRUE(srv.wait_for_watches(1));
  const std::string url = std::string(pods) + "/p";
  srv.patch(url, {{"metadata", {{"annotations", {{"n", "1"}}}}}});                 // not matching
  const json in = srv.patch(url, {{"metadata", {{"labels", {{"app", "web"}}}}}});  // starts
  srv.patch(url, {{"metadata", {{"annotations", {{"n", "2"}}}}}});                 // still
  const json out = srv.patch(url, {{"metadata", {{"labels", {{"app", "db"}}}}}});  // stops
  srv.patch(url, {{"metadata", {{"annotations", {{"n", "3"}}}}}});                 // not
  srv.remove(url);                                                                 // not
  srv.end_watches();
  const auto events = w.drain();
  ASSERT_TRUE(w.clean_end());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[0].rv(), in["metadata"]["resourceVersion"]);
  EXPECT_EQ(events[1].type, "MODIFIED");
  EXPECT_EQ(events[1].object["metadata"]["annotations"]["n"], "2");
  EXPECT_EQ(events[2].type, "DELETED");  // the previous content, the event's version
  EXPECT_EQ(events[2].rv(), out["metadata"]["resourceVersion"]);
  EXPECT_EQ(events[2].object["metadata"]["labels"]["app"], "web");

  // Field selectors in watches.
  client f(srv);
  ASSERT_EQ(
      f.open_watch(std::string(pods) + "?watch=1&fieldSelector=" + q("metadata.name=x")).status,
      200u);
  ASSERT_TRUE(srv.wait_for_watches(1));
  srv.create(pods, pod("y"));
  srv.create(pods, pod("x"));
  auto e = f.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name(), "x");
}

TEST(FakeApiserverWatch, SplitLinesArriveInSeveralChunksAndReassemble) {
  fake_apiserver srv;
  srv.create(pods, pod("a", {{"k", "v"}}));
  srv.create(pods, pod("b"));
  srv.split_watch_lines(3);
  client w(srv);
  ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1").status, 200u);
  for (const char* n : {"a", "b"}) {
    auto e = w.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->chunks, 3u);
    EXPECT_EQ(e->object, *srv.get(std::string(pods) + "/" + n));
  }
  ASSERT_TRUE(srv.wait_for_watches(1));
  srv.split_watch_lines(5, true, 1ms);
  srv.create(pods, pod("c"));
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->chunks, 5u);
  EXPECT_EQ(e->object, *srv.get(std::string(pods) + "/c"));
  // Given offsets: the first byte alone and the newline alone. The MODIFIED line of a label
  // patch is predictable: the object as it will be, one resourceVersion later.
  json next_c = *srv.get(std::string(pods) + "/c");
  next_c["metadata"]["labels"]["k"] = "v";
  next_c["metadata"]["resourceVersion"] = std::to_string(std::stoull(srv.resource_version()) + 1);
  const std::size_t len = (R"({"type":"MODIFIED","object":)" + next_c.dump() + "}\n").size();
  srv.split_watch_lines_at({1, len - 1});
  srv.patch(std::string(pods) + "/c", {{"metadata", {{"labels", {{"k", "v"}}}}}});
  e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "MODIFIED");
  EXPECT_EQ(e->chunks, 3u);
  EXPECT_EQ(e->object, next_c);
  srv.split_watch_lines(1);
  srv.create(pods, pod("d"));
  e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->chunks, 1u);
  EXPECT_EQ(e->name(), "d");
}

TEST(FakeApiserverWatch, AbruptCloseNowOrAfterEventsAndCleanTimeout) {
  fake_apiserver srv;
  {
    client w(srv);
    ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1").status, 200u);
    ASSERT_TRUE(srv.wait_for_watches(1));
    srv.close_watches();
    EXPECT_FALSE(w.next());
    EXPECT_TRUE(w.aborted());
    EXPECT_FALSE(w.clean_end());
  }
  {
    client w(srv);
    ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + srv.resource_version())
                  .status,
              200u);
    ASSERT_TRUE(srv.wait_for_watches(1));
    srv.close_watches(2);
    for (const char* n : {"a", "b", "c"}) srv.create(pods, pod(n));
    const auto events = w.drain();
    EXPECT_TRUE(w.aborted());
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].name(), "b");
  }
  EXPECT_TRUE(srv.wait_for_watches(0));
  {
    client w(srv);
    ASSERT_EQ(w.open_watch(std::string(pods) +
                           "?watch=1&timeoutSeconds=1&resourceVersion=" + srv.resource_version())
                  .status,
              200u);
    EXPECT_TRUE(w.drain().empty());
    EXPECT_TRUE(w.clean_end());
    // The connection stays usable after a cleanly ended watch.
    EXPECT_EQ(w.request("GET", pods).status, 200u);
  }
  {  // A client that goes away is noticed without any event.
    client w(srv);
    ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + srv.resource_version())
                  .status,
              200u);
    ASSERT_TRUE(srv.wait_for_watches(1));
  }
  EXPECT_TRUE(srv.wait_for_watches(0));
}

// ---- faults, authentication, server --------------------------------------------------------

TEST(FakeApiserverFaults, InjectedErrorsAndDelay) {
  fake_apiserver srv;
  client c(srv);
  srv.fail_next(2, 500);
  auto r = c.request("GET", pods);
  expect_status(r, 500, "InternalError");
  expect_status(c.request("GET", pods), 500, "InternalError");
  EXPECT_EQ(c.request("GET", pods).status, 200u);

  srv.fail_next(1, 429, "configmaps", 3);
  EXPECT_EQ(c.request("GET", pods).status, 200u);  // does not match
  r = c.request("GET", "/api/v1/namespaces/default/configmaps");
  expect_status(r, 429, "TooManyRequests", "Too many requests, please try again later.");
  EXPECT_EQ(r.header("retry-after"), "3");
  EXPECT_EQ(r.j()["details"]["retryAfterSeconds"], 3);
  EXPECT_EQ(c.request("GET", "/api/v1/namespaces/default/configmaps").status, 200u);

  srv.fail_next(1, 503, "watch=1");
  client w(srv);
  expect_status(w.open_watch(std::string(pods) + "?watch=1"), 503, "ServiceUnavailable");

  srv.set_delay(20ms);
  EXPECT_EQ(c.request("GET", pods).status, 200u);
  srv.set_delay(0ms);
  const auto log = srv.requests();
  EXPECT_EQ(log[0].status, 500u);
  EXPECT_EQ(log[2].status, 200u);
}

TEST(FakeApiserverAuth, BearerTokensAndBasicAuth) {
  fake_apiserver srv({.tokens = {"t0k3n"}, .basic_users = {{"admin", "secret"}}});
  {
    client anon(srv);
    expect_status(anon.request("GET", pods), 401, "Unauthorized", "Unauthorized");
    expect_status(anon.request("GET", "/version"), 401, "Unauthorized");
  }
  {
    client wrong(srv, {.token = "nope"});
    expect_status(wrong.request("GET", pods), 401, "Unauthorized");
  }
  client good(srv, {.token = "t0k3n"});
  EXPECT_EQ(good.request("GET", pods).status, 200u);
  client basic(srv, {.basic = "admin:secret"});
  EXPECT_EQ(basic.request("GET", pods).status, 200u);
  client bad_basic(srv, {.basic = "admin:guess"});
  EXPECT_EQ(bad_basic.request("GET", pods).status, 401u);

  const auto log = srv.requests();
  ASSERT_EQ(log.size(), 6u);
  EXPECT_EQ(log[0].auth, "");
  EXPECT_EQ(log[0].status, 401u);
  EXPECT_EQ(log[2].authorization, "Bearer <redacted>");
  EXPECT_EQ(log[3].auth, "token");
  EXPECT_EQ(log[3].user, "t0k3n");
  EXPECT_EQ(log[3].authorization, "Bearer <redacted>");
  EXPECT_EQ(log[4].auth, "basic");
  EXPECT_EQ(log[4].user, "admin");
  EXPECT_EQ(log[4].authorization, "Basic <redacted>");
}

TEST(FakeApiserverAuth, ClientCertificates) {
  fake_apiserver srv({.tokens = {"t"}, .client_cert_auth = true});
  client alice(srv, {.cert = srv.client_certificate("alice", {"devs", "ops"})});
  EXPECT_EQ(alice.request("GET", pods).status, 200u);
  client token_only(srv, {.token = "t"});  // no certificate: still connects
  EXPECT_EQ(token_only.request("GET", pods).status, 200u);
  client none(srv);
  EXPECT_EQ(none.request("GET", pods).status, 401u);
  test_ca other("other-ca");
  client rogue(srv, {.cert = other.issue_client("mallory")});      // the handshake succeeds...
  expect_status(rogue.request("GET", pods), 401, "Unauthorized");  // ...the request does not
  client rogue_with_token(srv, {.token = "t", .cert = other.issue_client("mallory")});
  EXPECT_EQ(rogue_with_token.request("GET", pods).status, 200u);

  const auto log = srv.requests();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0].auth, "client-cert");
  EXPECT_EQ(log[0].user, "alice");
  EXPECT_EQ(log[0].groups, (std::vector<std::string>{"devs", "ops"}));
  EXPECT_EQ(log[0].authorization, "");
  EXPECT_EQ(log[1].auth, "token");
  EXPECT_EQ(log[4].auth, "token");

  // A client CA of the test's own.
  test_ca mine("mine");
  fake_apiserver own({.client_cert_auth = true, .client_ca_pem = mine.cert_pem()});
  client bob(own, {.cert = mine.issue_client("bob")});
  EXPECT_EQ(bob.request("GET", pods).status, 200u);
  client stranger(own, {.cert = own.client_certificate("eve")});
  EXPECT_EQ(stranger.request("GET", pods).status, 401u);
}

TEST(FakeApiserverAuth, AnonymousRequestsAndTheAuthorizer) {
  fake_apiserver srv(
      {.tokens = {"reader"}, .anonymous_auth = true, .authorize = [](const request_record& r) {
         return r.user == "reader" && (r.verb == "get" || r.verb == "list" || r.verb == "watch");
       }});
  client anon(srv);
  EXPECT_EQ(anon.request("GET", "/version").status, 200u);
  EXPECT_EQ(anon.request("GET", "/healthz").body, "ok");
  auto r = anon.request("GET", pods);
  expect_status(r, 403, "Forbidden",
                "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API "
                "group \"\" in the namespace \"default\"");
  EXPECT_EQ(r.j()["details"], (json{{"kind", "pods"}}));
  client reader(srv, {.token = "reader"});
  EXPECT_EQ(reader.request("GET", pods).status, 200u);
  r = reader.request("DELETE", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l");
  expect_status(r, 403, "Forbidden",
                "leases.coordination.k8s.io \"l\" is forbidden: User \"reader\" cannot delete "
                "resource \"leases\" in API group \"coordination.k8s.io\" in the namespace "
                "\"kube-system\"");
  r = reader.request("PUT", "/api/v1/nodes/n1/status", "{}");
  expect_status(
      r, 403, "Forbidden",
      "nodes \"n1\" is forbidden: User \"reader\" cannot update resource \"nodes/status\" "
      "in API group \"\" at the cluster scope");
  const auto log = srv.requests();
  EXPECT_EQ(log[0].auth, "anonymous");
  EXPECT_EQ(log[0].user, "system:anonymous");
}

TEST(FakeApiserverServer, DiscoveryVersionAndHealth) {
  fake_apiserver srv({.git_version = "v1.29.4"});
  client c(srv);
  const json v = c.request("GET", "/version").j();
  EXPECT_EQ(v["major"], "1");
  EXPECT_EQ(v["minor"], "29");
  EXPECT_EQ(v["gitVersion"], "v1.29.4");
  for (const char* p : {"/healthz", "/livez", "/readyz"}) {
    auto r = c.request("GET", p);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "ok");
  }
  EXPECT_EQ(c.request("GET", "/api").j()["versions"], json::array({"v1"}));
  const json core = c.request("GET", "/api/v1").j();
  EXPECT_EQ(core["kind"], "APIResourceList");
  bool has_pods = false;
  for (const auto& res : core["resources"]) has_pods = has_pods || res["name"] == "pods";
  EXPECT_TRUE(has_pods);
  const json groups = c.request("GET", "/apis").j();
  EXPECT_EQ(groups["kind"], "APIGroupList");
  std::set<std::string> group_names;
  for (const auto& g : groups["groups"]) group_names.insert(g["name"]);
  EXPECT_EQ(group_names.count("coordination.k8s.io"), 1u);
  EXPECT_EQ(c.request("GET", "/apis/coordination.k8s.io/v1").j()["groupVersion"],
            "coordination.k8s.io/v1");
  expect_status(c.request("GET", "/nothing/here"), 404, "NotFound",
                "the server could not find the requested resource");
  expect_status(c.request("GET", pods, {}, {{"Accept", "application/vnd.kubernetes.protobuf"}}),
                406, "NotAcceptable");
}

TEST(FakeApiserverServer, PlainHttp) {
  fake_apiserver srv({.tls = false});
  EXPECT_EQ(srv.url().rfind("http://127.0.0.1:", 0), 0u);
  client c(srv);
  EXPECT_EQ(c.request("POST", pods, pod("a").dump()).status, 201u);
  client w(srv);
  ASSERT_EQ(w.open_watch(std::string(pods) + "?watch=1").status, 200u);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name(), "a");
}

TEST(FakeApiserverServer, TestApiMirrorsTheHttpApi) {
  fake_apiserver srv;
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  const json cm = srv.create(cms, {{"metadata", {{"name", "cm"}}}, {"data", {{"a", "1"}}}});
  EXPECT_EQ(cm["kind"], "ConfigMap");
  EXPECT_EQ(srv.get(cms + "/cm"), cm);
  EXPECT_FALSE(srv.get(cms + "/nope"));
  try {
    srv.create(cms, {{"metadata", {{"name", "cm"}}}});
    FAIL() << "no status_error";
  } catch (const status_error& e) {
    EXPECT_EQ(e.code(), 409u);
    EXPECT_EQ(e.reason(), "AlreadyExists");
    EXPECT_STREQ(e.what(), "configmaps \"cm\" already exists");
  }
  json stale = cm;
  stale["data"]["a"] = "2";
  const json updated = srv.update(cms + "/cm", stale);
  EXPECT_EQ(updated["data"]["a"], "2");
  EXPECT_THROW(srv.update(cms + "/cm", stale), status_error);  // cm's version is stale now
  EXPECT_EQ(srv.patch(cms + "/cm", {{"data", {{"b", "3"}}}})["data"]["b"], "3");
  EXPECT_EQ(srv.list(cms).size(), 1u);
  const json removed = srv.remove(cms + "/cm");
  EXPECT_EQ(removed["data"]["b"], "3");  // the object, although HTTP answers with a Status
  EXPECT_TRUE(srv.list(cms).empty());
  EXPECT_THROW(srv.remove(cms + "/cm"), status_error);
  EXPECT_THROW(srv.get("/not/a/resource/path/at/all/really"), std::invalid_argument);
}

TEST(FakeApiserverServer, StopWithOpenWatchesAndIdleConnectionsReturns) {
  auto srv = std::make_unique<fake_apiserver>();
  std::vector<std::unique_ptr<client>> watches;
  for (int i = 0; i < 3; ++i) {
    watches.push_back(std::make_unique<client>(*srv));
    ASSERT_EQ(
        watches.back()->open_watch(std::string(pods) + "?watch=1&allowWatchBookmarks=1").status,
        200u);
  }
  client idle(*srv);
  EXPECT_EQ(idle.request("GET", pods).status, 200u);  // keep-alive, now idle
  client half(*srv);                                  // connected, never asks
  ASSERT_TRUE(srv->wait_for_watches(3));
  srv->stop();
  EXPECT_EQ(srv->open_watches(), 0u);
  for (auto& w : watches) {
    w->drain();
    EXPECT_TRUE(w->aborted());
  }
  srv->stop();  // idempotent
  srv.reset();
}

TEST(FakeApiserverServer, ConcurrentWritersAndWatchersSeeEveryEventOnce) {
  fake_apiserver srv;
  client w(srv);
  ASSERT_EQ(
      w.open_watch(std::string(pods) + "?watch=1&resourceVersion=" + srv.resource_version()).status,
      200u);
  ASSERT_TRUE(srv.wait_for_watches(1));
  constexpr int writers = 4, per_writer = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < writers; ++t)
    threads.emplace_back([&, t] {
      client c(srv);
      for (int i = 0; i < per_writer; ++i) {
        const std::string name = "w" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_EQ(c.request("POST", pods, pod(name).dump()).status, 201u);
      }
    });
  std::set<std::string> seen;
  std::uint64_t last = 0;
  while (seen.size() < std::size_t(writers * per_writer)) {
    auto e = w.next();
    ASSERT_TRUE(e);
    EXPECT_TRUE(seen.insert(e->name()).second) << e->name();
    EXPECT_GT(std::stoull(e->rv()), last);
    last = std::stoull(e->rv());
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(srv.list(pods).size(), std::size_t(writers * per_writer));
}

}  // namespace

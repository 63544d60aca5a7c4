#include "operant/kube/client.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>

#include "operant/metrics/counter.h"
#include "operant/metrics/family.h"
#include "operant/metrics/histogram.h"
#include "rate_limiter.h"

namespace operant::kube {

using json = nlohmann::json;

// ---- resource ----------------------------------------------------------------------------------

std::string resource::group_version() const {
  return group.empty() ? version : group + "/" + version;
}

namespace {

void check_segment(std::string_view what, std::string_view s) {
  if (s == "." || s == ".." || s.find_first_of("/%?#") != std::string_view::npos ||
      std::any_of(s.begin(), s.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20; })) {
    throw std::invalid_argument(std::string(what) + " \"" + std::string(s) +
                                "\" is not a valid path segment (no '/', '%', '?', '#', spaces, "
                                "\".\" or \"..\")");
  }
}

bool well_known_cluster_scoped(std::string_view plural) {
  static constexpr std::array<std::string_view, 16> names = {"namespaces",
                                                             "nodes",
                                                             "persistentvolumes",
                                                             "customresourcedefinitions",
                                                             "clusterroles",
                                                             "clusterrolebindings",
                                                             "storageclasses",
                                                             "priorityclasses",
                                                             "csidrivers",
                                                             "csinodes",
                                                             "volumeattachments",
                                                             "mutatingwebhookconfigurations",
                                                             "validatingwebhookconfigurations",
                                                             "apiservices",
                                                             "runtimeclasses",
                                                             "ingressclasses"};
  return std::find(names.begin(), names.end(), plural) != names.end();
}

}  // namespace

std::string resource::path(std::string_view ns, std::string_view name) const {
  if (version.empty() || plural.empty()) {
    throw std::invalid_argument("resource without a version or plural name: \"" + group_version() +
                                "/" + plural + "\"");
  }
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) {
    check_segment("namespace", ns);
    p.append("/namespaces/").append(ns);
  }
  p.append("/").append(plural);
  if (!name.empty()) {
    check_segment("name", name);
    p.append("/").append(name);
  }
  return p;
}

resource resource::parse(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return std::invalid_argument("resource \"" + std::string(text) + "\": " + std::string(why) +
                                 "; expected pods, v1/pods, apps/v1/deployments or "
                                 "leases.v1.coordination.k8s.io");
  };
  if (text.empty()) throw bad("empty");
  resource r;
  std::vector<std::string_view> parts;
  const char sep = text.find('/') != std::string_view::npos ? '/' : '.';
  for (std::size_t start = 0;;) {
    const std::size_t end =
        sep == '.' && parts.size() == 2 ? std::string_view::npos : text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  for (const auto p : parts) {
    if (p.empty()) throw bad("an empty part");
  }
  if (sep == '/') {
    if (parts.size() == 2) {
      r.version = parts[0];
      r.plural = parts[1];
    } else if (parts.size() == 3) {
      r.group = parts[0];
      r.version = parts[1];
      r.plural = parts[2];
    } else {
      throw bad("too many parts");
    }
  } else if (parts.size() == 1) {
    r.version = "v1";
    r.plural = parts[0];
  } else if (parts.size() == 3) {
    r.plural = parts[0];
    r.version = parts[1];
    r.group = parts[2];
  } else {
    throw bad("expected resource.version.group");
  }
  for (const char c : r.plural) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      throw bad("the plural name must be lower-case letters, digits and '-'");
    }
  }
  r.namespaced = !well_known_cluster_scoped(r.plural);
  return r;
}

// ---- errors ------------------------------------------------------------------------------------

api_error::api_error(unsigned code, std::string reason, std::string message, json status)
    : std::runtime_error("the API server answered " + std::to_string(code) +
                         (reason.empty() ? "" : " " + reason) + ": " + message),
      code_(code),
      reason_(std::move(reason)),
      message_(std::move(message)),
      status_(std::move(status)) {}

namespace {

std::string reason_for(unsigned code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

std::string excerpt(std::string_view s, std::size_t n = 200) {
  std::string out(s.substr(0, n));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (s.size() > n) out += "...";
  return out;
}

api_error error_from_status(unsigned fallback_code, const json& st) {
  unsigned code = fallback_code;
  if (const auto it = st.find("code"); it != st.end() && it->is_number_unsigned()) {
    code = it->get<unsigned>();
  }
  std::string reason, message;
  if (const auto it = st.find("reason"); it != st.end() && it->is_string())
    reason = it->get<std::string>();
  if (const auto it = st.find("message"); it != st.end() && it->is_string())
    message = it->get<std::string>();
  if (reason.empty()) reason = reason_for(code);
  return api_error(code, std::move(reason), std::move(message), st);
}

}  // namespace

api_error error_from_response(unsigned http_status, std::string_view body) {
  json st = json::parse(body, nullptr, false);
  if (st.is_object() && st.value("kind", "") == "Status") return error_from_status(http_status, st);
  std::string message = body.empty() ? "(empty body)" : excerpt(body);
  json made = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason_for(http_status)},
               {"code", http_status}};
  return api_error(http_status, reason_for(http_status), std::move(message), std::move(made));
}

// ---- watch_decoder -----------------------------------------------------------------------------

watch_decoder::watch_decoder(std::size_t max_event_bytes) : max_(max_event_bytes) {}

void watch_decoder::feed(std::string_view data,
                         const std::function<void(const watch_event&)>& on_event) {
  std::size_t start = 0;  // first byte of `data` not yet copied into frame_
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (depth_ == 0) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
        start = i + 1;
        continue;
      }
      if (c != '{') {
        throw watch_error("malformed watch stream: expected a JSON object, found '" +
                          excerpt(data.substr(i, 40)) + "'");
      }
      depth_ = 1;
      start = i;
      continue;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        frame_.append(data.substr(start, i + 1 - start));
        start = i + 1;
        finish_frame(on_event);
      }
    }
    if (depth_ > 0 && frame_.size() + (i + 1 - start) > max_) {
      throw watch_error("watch event larger than the limit of " + std::to_string(max_) + " bytes");
    }
  }
  if (depth_ > 0 && start < data.size()) frame_.append(data.substr(start));
}

void watch_decoder::finish_frame(const std::function<void(const watch_event&)>& on_event) {
  json doc = json::parse(frame_, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw watch_error("malformed watch event (not valid JSON): " + excerpt(frame_));
  }
  frame_.clear();
  const auto type = doc.find("type");
  const auto object = doc.find("object");
  if (type == doc.end() || !type->is_string()) {
    throw watch_error("malformed watch event: expected a string \"type\"");
  }
  if (object == doc.end() || !object->is_object()) {
    throw watch_error("malformed watch event: expected an object \"object\" in a " +
                      type->get<std::string>() + " event");
  }
  const std::string& t = type->get_ref<const std::string&>();
  event_type et;
  if (t == "ADDED") {
    et = event_type::added;
  } else if (t == "MODIFIED") {
    et = event_type::modified;
  } else if (t == "DELETED") {
    et = event_type::deleted;
  } else if (t == "BOOKMARK") {
    et = event_type::bookmark;
  } else if (t == "ERROR") {
    throw error_from_status(500, *object);
  } else {
    throw watch_error("malformed watch event: unknown type \"" + excerpt(t, 40) +
                      "\"; expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR");
  }
  on_event({et, std::make_shared<const controller::object>(std::move(*object))});
}

// ---- rest_client -------------------------------------------------------------------------------

namespace {

// Registers a family, or shares the one another client registered (client_golang's
// AlreadyRegisteredError.ExistingCollector pattern).
template <class F>
std::shared_ptr<F> shared_family(metrics::registerer& reg, const metrics::metric_opts& o) {
  auto f = std::make_shared<F>(o);
  try {
    reg.register_collector(f);
  } catch (const metrics::already_registered_error& e) {
    auto existing = std::dynamic_pointer_cast<F>(e.existing());
    if (!existing) throw;
    f = std::move(existing);
  }
  return f;
}

const std::vector<double>& rest_buckets() {
  static const std::vector<double> b = {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
  return b;
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

class query {
 public:
  query& add(std::string_view key, std::string_view value) {
    if (value.empty()) return *this;
    q_.push_back(q_.empty() ? '?' : '&');
    q_.append(key).push_back('=');
    q_.append(url_encode(value));
    return *this;
  }
  const std::string& str() const noexcept { return q_; }

 private:
  std::string q_;
};

}  // namespace

struct rest_client::impl {
  config cfg;
  rest_options opts;
  credentials creds;
  std::unique_ptr<http::client> http;
  detail::token_bucket limiter;
  std::string host;  // for the metrics' host label: "127.0.0.1:6443"
  std::shared_ptr<metrics::family<metrics::counter>> requests;
  std::shared_ptr<metrics::family<metrics::histogram>> duration;
  std::shared_ptr<metrics::family<metrics::histogram>> limiter_duration;
  std::mutex tls_mu;
  std::string exec_cert;  // the exec plugin's client certificate in use, if any

  impl(config c, rest_options o)
      : cfg(std::move(c)),
        opts(std::move(o)),
        creds(cfg),
        limiter(cfg.qps == 0 ? 5.0 : cfg.qps, cfg.burst <= 0 ? 10 : cfg.burst) {
    http::client_options h = opts.http;
    h.tls = tls_from_config();
    if (!cfg.user_agent.empty()) h.user_agent = cfg.user_agent;
    http = std::make_unique<http::client>(h);
    const http::url_parts u = http::parse_url(cfg.server);
    host = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" + u.port;
    if (opts.registry) {
      requests = shared_family<metrics::family<metrics::counter>>(
          *opts.registry,
          {.name = "rest_client_requests_total",
           .help = "Number of HTTP requests, partitioned by status code, method, and host.",
           .label_names = {"code", "method", "host"}});
      duration = shared_family<metrics::family<metrics::histogram>>(
          *opts.registry, {.name = "rest_client_request_duration_seconds",
                           .help = "Request latency in seconds. Broken down by verb, and host.",
                           .label_names = {"verb", "host"},
                           .buckets = rest_buckets()});
      limiter_duration = shared_family<metrics::family<metrics::histogram>>(
          *opts.registry,
          {.name = "rest_client_rate_limiter_duration_seconds",
           .help = "Client side rate limiter latency in seconds. Broken down by verb, and host.",
           .label_names = {"verb", "host"},
           .buckets = rest_buckets()});
    }
  }

  http::client_tls tls_from_config() const {
    http::client_tls t;
    t.ca_pem = cfg.ca_pem;
    t.insecure_skip_verify = cfg.insecure_skip_tls_verify;
    t.server_name = cfg.tls_server_name;
    t.cert_pem = cfg.client_cert_pem;
    t.key_pem = cfg.client_key_pem;
    return t;
  }

  // An exec plugin may hand out (and rotate) a client certificate.
  void refresh_exec_certificate() {
    if (!cfg.exec) return;
    const auto cert = creds.exec_client_certificate();
    if (!cert) return;
    std::lock_guard lock(tls_mu);
    if (cert->cert_pem == exec_cert) return;
    http::client_tls t = tls_from_config();
    t.cert_pem = cert->cert_pem;
    t.key_pem = cert->key_pem;
    http->set_tls(t);
    exec_cert = cert->cert_pem;
  }

  http::client_request make(std::string_view method, std::string url, std::string body,
                            std::string_view content_type, std::string_view accept) {
    http::client_request req;
    req.method = std::string(method);
    req.url = std::move(url);
    req.body = std::move(body);
    req.timeout = opts.timeout;
    if (!accept.empty()) req.headers.push_back({"Accept", std::string(accept)});
    if (!content_type.empty()) req.headers.push_back({"Content-Type", std::string(content_type)});
    refresh_exec_certificate();
    const std::string auth = creds.authorization();
    if (!auth.empty()) req.headers.push_back({"Authorization", auth});
    return req;
  }

  void throttle(std::string_view verb, const std::stop_token& stop) {
    const auto waited = limiter.wait(stop);
    if (limiter_duration) limiter_duration->labels(verb, host).observe(waited);
    if (stop.stop_requested()) {
      throw http::client_error(http::client_error::kind::cancelled, "request cancelled");
    }
  }

  void count(std::string_view method, std::string_view verb, std::string_view code,
             double seconds) {
    if (requests) requests->labels(code, method, host).inc();
    if (duration) duration->labels(verb, host).observe(seconds);
  }

  // One rate-limited, counted request; on 401 with an exec plugin, the credential is refreshed
  // and the request sent once more (client-go does the same).
  http::client_response send(std::string_view method, std::string_view verb,
                             const std::string& path, std::string body,
                             std::string_view content_type, const std::stop_token& stop) {
    for (int attempt = 0;; ++attempt) {
      throttle(verb, stop);
      auto req = make(method, cfg.server + path, body, content_type, "application/json");
      const auto start = std::chrono::steady_clock::now();
      http::client_response resp;
      try {
        resp = http->send(req, stop);
      } catch (const http::client_error&) {
        count(method, verb, "<error>", seconds_since(start));
        throw;
      }
      count(method, verb, std::to_string(resp.status), seconds_since(start));
      if (resp.status == 401 && attempt == 0 && cfg.exec) {
        creds.invalidate();
        continue;
      }
      return resp;
    }
  }

  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  static controller::object decode(const http::client_response& resp, std::string_view what) {
    if (resp.status < 200 || resp.status > 299) throw error_from_response(resp.status, resp.body);
    json doc = json::parse(resp.body, nullptr, false);
    if (!doc.is_object()) {
      throw std::runtime_error(std::string(what) + ": the API server answered " +
                               std::to_string(resp.status) +
                               " with a body that is not a JSON object: " + excerpt(resp.body));
    }
    return controller::object(std::move(doc));
  }
};

rest_client::rest_client(config cfg, rest_options options)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(options))) {}
rest_client::~rest_client() = default;

const config& rest_client::cfg() const noexcept { return impl_->cfg; }

controller::object rest_client::get(const resource& r, std::string_view ns, std::string_view name,
                                    std::stop_token stop) {
  const std::string path = r.path(ns, name);
  return impl::decode(impl_->send("GET", "GET", path, {}, {}, stop), "GET " + path);
}

list_page rest_client::list(const resource& r, std::string_view ns, const list_options& o,
                            std::stop_token stop) {
  query q;
  q.add("labelSelector", o.label_selector).add("fieldSelector", o.field_selector);
  if (o.limit > 0) q.add("limit", std::to_string(o.limit));
  q.add("continue", o.continue_token).add("resourceVersion", o.resource_version);
  const std::string path = r.path(ns) + q.str();
  auto doc = impl::decode(impl_->send("GET", "LIST", path, {}, {}, stop), "GET " + path);
  json& d = doc.json();
  list_page page;
  const auto meta = d.find("metadata");
  if (meta != d.end() && meta->is_object()) {
    page.resource_version = meta->value("resourceVersion", "");
    page.continue_token = meta->value("continue", "");
  }
  const auto items = d.find("items");
  if (items == d.end() || !(items->is_array() || items->is_null())) {
    throw std::runtime_error("GET " + path +
                             ": the answer has no \"items\" array: " + excerpt(d.dump()));
  }
  if (items->is_array()) {
    // Items of a list carry no kind/apiVersion; fill them in from the list's, as client-go's
    // decoders do, so an object means the same whether it came from a list or a watch.
    std::string kind = d.value("kind", "");
    if (kind.ends_with("List")) kind.resize(kind.size() - 4);
    const std::string api_version = d.value("apiVersion", r.group_version());
    page.items.reserve(items->size());
    for (json& item : *items) {
      if (!item.is_object())
        throw std::runtime_error("GET " + path + ": an item is not a JSON object");
      if (!item.contains("kind") && !kind.empty()) item["kind"] = kind;
      if (!item.contains("apiVersion")) item["apiVersion"] = api_version;
      page.items.push_back(std::make_shared<const controller::object>(std::move(item)));
    }
  }
  return page;
}

list_page rest_client::list_all(const resource& r, std::string_view ns, list_options o,
                                std::stop_token stop) {
  list_page all = list(r, ns, o, stop);
  const std::string rv = all.resource_version;
  while (!all.continue_token.empty()) {
    o.continue_token = all.continue_token;
    o.resource_version.clear();  // the continue token carries it
    list_page page = list(r, ns, o, stop);
    all.items.insert(all.items.end(), std::make_move_iterator(page.items.begin()),
                     std::make_move_iterator(page.items.end()));
    all.continue_token = std::move(page.continue_token);
  }
  all.resource_version = rv;
  return all;
}

controller::object rest_client::create(const resource& r, std::string_view ns, const json& obj,
                                       std::stop_token stop) {
  const std::string path = r.path(ns);
  return impl::decode(impl_->send("POST", "POST", path, obj.dump(), "application/json", stop),
                      "POST " + path);
}

controller::object rest_client::update(const resource& r, std::string_view ns, const json& obj,
                                       std::stop_token stop) {
  const auto meta = obj.find("metadata");
  const std::string name = meta != obj.end() && meta->is_object() ? meta->value("name", "") : "";
  if (name.empty()) throw std::invalid_argument("update: the object has no metadata.name");
  const std::string path = r.path(ns, name);
  return impl::decode(impl_->send("PUT", "PUT", path, obj.dump(), "application/json", stop),
                      "PUT " + path);
}

controller::object rest_client::patch(const resource& r, std::string_view ns, std::string_view name,
                                      patch_type type, std::string_view patch,
                                      std::stop_token stop) {
  const char* ct = type == patch_type::merge             ? "application/merge-patch+json"
                   : type == patch_type::strategic_merge ? "application/strategic-merge-patch+json"
                                                         : "application/json-patch+json";
  const std::string path = r.path(ns, name);
  return impl::decode(impl_->send("PATCH", "PATCH", path, std::string(patch), ct, stop),
                      "PATCH " + path);
}

void rest_client::remove(const resource& r, std::string_view ns, std::string_view name,
                         std::string_view precondition_resource_version, std::stop_token stop) {
  std::string body;
  if (!precondition_resource_version.empty()) {
    body = json{{"kind", "DeleteOptions"},
                {"apiVersion", "v1"},
                {"preconditions", {{"resourceVersion", precondition_resource_version}}}}
               .dump();
  }
  const std::string path = r.path(ns, name);
  const auto resp =
      impl_->send("DELETE", "DELETE", path, std::move(body),
                  precondition_resource_version.empty() ? "" : "application/json", stop);
  if (resp.status < 200 || resp.status > 299) throw error_from_response(resp.status, resp.body);
}

void rest_client::watch(const resource& r, std::string_view ns, const watch_options& o,
                        const std::function<void(const watch_event&)>& on_event,
                        std::stop_token stop) {
  query q;
  q.add("watch", "true")
      .add("labelSelector", o.label_selector)
      .add("fieldSelector", o.field_selector);
  q.add("resourceVersion", o.resource_version);
  if (o.allow_bookmarks) q.add("allowWatchBookmarks", "true");
  if (o.timeout.count() > 0) q.add("timeoutSeconds", std::to_string(o.timeout.count()));
  const std::string path = r.path(ns) + q.str();
  impl& d = *impl_;
  d.throttle("WATCH", stop);
  auto req = d.make("GET", d.cfg.server + path, {}, {}, "application/json");
  req.timeout = std::chrono::milliseconds(0);  // a watch lasts as long as the server keeps it
  watch_decoder decoder;
  const auto start = std::chrono::steady_clock::now();
  http::client_response resp;
  try {
    resp = d.http->stream(
        req, [&](std::string_view piece) { decoder.feed(piece, on_event); }, stop);
  } catch (const http::client_error&) {
    d.count("GET", "WATCH", "<error>", impl::seconds_since(start));
    throw;
  }
  d.count("GET", "WATCH", std::to_string(resp.status), impl::seconds_since(start));
  if (resp.status == 401 && d.cfg.exec) d.creds.invalidate();
  if (resp.status < 200 || resp.status > 299) throw error_from_response(resp.status, resp.body);
}

http::client_response rest_client::request(std::string_view method, std::string_view path,
                                           std::string body, std::string_view content_type,
                                           std::stop_token stop) {
  if (!path.starts_with('/')) {
    throw std::invalid_argument("request path \"" + std::string(path) + "\" must start with '/'");
  }
  return impl_->send(method, method, std::string(path), std::move(body), content_type, stop);
}

}  // namespace operant::kube

#include "operant/http/metrics_handler.h"

#include <zlib.h>

#include <boost/beast/core/string.hpp>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "operant/http/server.h"
#include "operant/metrics/counter.h"
#include "operant/metrics/family.h"
#include "operant/metrics/gauge.h"

namespace operant::http {

namespace m = operant::metrics;
using boost::beast::iequals;

// ---- Accept-Encoding ---------------------------------------------------------------------------

namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// q-value of one Accept-Encoding element's parameters; 1 when absent, -1 when malformed.
double qvalue(std::string_view params) noexcept {
  double q = 1;
  while (!params.empty()) {
    const std::size_t semi = params.find(';');
    const std::string_view p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    const std::size_t eq = p.find('=');
    if (eq == std::string_view::npos || !iequals(trim(p.substr(0, eq)), "q")) continue;
    const std::string_view v = trim(p.substr(eq + 1));
    // RFC 9110 qvalue: 0[.ddd] or 1[.000]
    if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
    double val = v[0] - '0';
    if (v.size() > 1) {
      if (v[1] != '.') return -1;
      double scale = 0.1;
      for (std::size_t i = 2; i < v.size(); ++i) {
        if (v[i] < '0' || v[i] > '9') return -1;
        val += (v[i] - '0') * scale;
        scale /= 10;
      }
    }
    if (val > 1) return -1;
    q = val;
  }
  return q;
}

}  // namespace

bool accepts_gzip(std::string_view accept_encoding) noexcept {
  double gzip = -1, star = -1;
  while (!accept_encoding.empty()) {
    const std::size_t comma = accept_encoding.find(',');
    std::string_view elem = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view()
                                                      : accept_encoding.substr(comma + 1);
    const std::size_t semi = elem.find(';');
    const std::string_view coding = trim(elem.substr(0, semi));
    const double q = qvalue(semi == std::string_view::npos ? std::string_view() : elem.substr(semi + 1));
    if (q < 0) continue;  // malformed element: ignored
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
      gzip = std::max(gzip, q);
    } else if (coding == "*") {
      star = std::max(star, q);
    }
  }
  if (gzip >= 0) return gzip > 0;
  return star > 0;
}

// ---- the handler -------------------------------------------------------------------------------

namespace {

constexpr std::size_t chunk_bytes = 64 * 1024;

// Compresses into gzip members chunk by chunk and forwards full chunks.
class gzip_sink final : public m::output_sink {
 public:
  gzip_sink(m::output_sink& next, int level) : next_(next) {
    zs_.zalloc = Z_NULL;
    zs_.zfree = Z_NULL;
    zs_.opaque = Z_NULL;
    // windowBits 15 + 16: gzip wrapper. memLevel 8 is zlib's default.
    if (deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("gzip: deflateInit2 failed");
    }
    out_.resize(chunk_bytes);
  }
  ~gzip_sink() override { deflateEnd(&zs_); }
  gzip_sink(const gzip_sink&) = delete;
  gzip_sink& operator=(const gzip_sink&) = delete;

  void write(std::string_view chunk) override { deflate_some(chunk, Z_NO_FLUSH); }
  void finish() { deflate_some({}, Z_FINISH); }

 private:
  void deflate_some(std::string_view in, int flush) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data() + used_);
      zs_.avail_out = static_cast<uInt>(out_.size() - used_);
      const int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
      used_ = out_.size() - zs_.avail_out;
      if (used_ == out_.size()) {
        next_.write(std::string_view(out_.data(), used_));
        used_ = 0;
        continue;
      }
      if (flush == Z_FINISH) {
        if (rc == Z_STREAM_END) break;
        continue;
      }
      if (zs_.avail_in == 0) break;
    }
    if (flush == Z_FINISH && used_ > 0) {
      next_.write(std::string_view(out_.data(), used_));
      used_ = 0;
    }
  }

  m::output_sink& next_;
  z_stream zs_{};
  std::string out_;
  std::size_t used_ = 0;
};

// Holds the first chunk back so the head can still change until it is full; then starts the
// response and passes chunks through.
class committing_sink final : public m::output_sink {
 public:
  committing_sink(metrics_handler::response_stream& out, metrics_handler::head h)
      : out_(out), head_(h) {}
  void write(std::string_view chunk) override {
    if (started_) {
      out_.write(chunk);
      return;
    }
    held_.append(chunk);
    if (held_.size() >= chunk_bytes) flush();
  }
  void flush() {
    if (!started_) {
      started_ = true;
      out_.start(head_);
    }
    if (!held_.empty()) {
      out_.write(held_);
      held_.clear();
    }
  }
  bool started() const noexcept { return started_; }
  void discard() noexcept { held_.clear(); }

 private:
  metrics_handler::response_stream& out_;
  metrics_handler::head head_;
  std::string held_;
  bool started_ = false;
};

constexpr std::string_view plain_text = "text/plain; charset=utf-8";

}  // namespace

struct metrics_handler::impl {
  metrics_handler_options opts;
  std::vector<const m::registry*> registries;
  std::unique_ptr<m::gatherers> gather;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> last_body_size{0};  // to size the next buffered body
  // Self-metrics (null when disabled).
  m::counter* code_200 = nullptr;
  m::counter* code_500 = nullptr;
  m::counter* code_503 = nullptr;
  m::family<m::counter>* codes = nullptr;
  m::gauge* in_flight_gauge = nullptr;
  m::counter* errors_gathering = nullptr;
  m::counter* errors_encoding = nullptr;
  // Background (timed-out) gathers still running.
  std::mutex bg_mu;
  std::condition_variable bg_cv;
  std::size_t bg_running = 0;

  void log(std::string_view line) const {
    if (opts.error_log) {
      opts.error_log(line);
    } else {
      std::fprintf(stderr, "operant/http: %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }

  void count(unsigned status) const {
    if (codes == nullptr) return;
    switch (status) {
      case 200: code_200->inc(); break;
      case 500: code_500->inc(); break;
      case 503: code_503->inc(); break;
      default: codes->labels(std::to_string(status)).inc(); break;
    }
  }

  // In-flight accounting: the slot is taken for the whole gather.
  bool acquire() {
    const std::size_t n = in_flight.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (in_flight_gauge != nullptr) in_flight_gauge->inc();
    if (opts.max_requests_in_flight != 0 && n > opts.max_requests_in_flight) {
      release();
      return false;
    }
    return true;
  }
  void release() {
    in_flight.fetch_sub(1, std::memory_order_acq_rel);
    if (in_flight_gauge != nullptr) in_flight_gauge->dec();
  }

  // client_golang's text for a request over MaxRequestsInFlight.
  std::string limit_message() const {
    return "Limit of concurrent requests reached (" + std::to_string(opts.max_requests_in_flight) +
           "), try again later.\n";
  }

  void refuse(response_stream& out, unsigned status, const std::string& message) const {
    out.start({status, plain_text, {}});
    out.write(message);
  }

  // Gathers and encodes; returns the status sent. The caller holds an in-flight slot.
  unsigned serve(std::string_view accept, std::string_view accept_encoding,
                 response_stream& out) const {
    const m::negotiation n = opts.enable_openmetrics ? m::negotiate(accept)
                                                     : m::negotiation{m::format::text,
                                                                      m::content_type(m::format::text)};
    const bool gzip = !opts.disable_compression && accepts_gzip(accept_encoding);
    committing_sink commit(out, {200, n.content_type, gzip ? "gzip" : ""});
    std::optional<gzip_sink> gz;
    if (gzip) gz.emplace(commit, opts.gzip_level);
    m::output_sink& sink = gzip ? static_cast<m::output_sink&>(*gz) : commit;
    std::string error;
    bool encoding_error = false;
    m::encoder enc(n.format, sink, {.emit_created = opts.emit_created});
    try {
      gather->gather(enc);
    } catch (const std::exception& e) {
      error = e.what();
    }
    try {
      if (error.empty() || opts.on_error == error_handling::continue_on_error) enc.finish();
      if (gz && (error.empty() || opts.on_error == error_handling::continue_on_error)) gz->finish();
    } catch (const std::exception& e) {
      if (error.empty()) {
        error = e.what();
        encoding_error = true;
      }
    }
    if (error.empty()) {
      commit.flush();
      return 200;
    }
    if (m::counter* c = encoding_error ? errors_encoding : errors_gathering; c != nullptr) c->inc();
    log(std::string(encoding_error ? "error encoding metrics: " : "error gathering metrics: ") + error);
    if (commit.started()) {
      // Too late for a status: the body ends here.
      if (opts.on_error == error_handling::continue_on_error) commit.flush();
      return 200;
    }
    if (opts.on_error == error_handling::continue_on_error && !encoding_error) {
      commit.flush();  // what was gathered before the error, closed with # EOF
      return 200;
    }
    commit.discard();
    refuse(out, 500,
           std::string("An error has occurred while serving metrics:\n\n") + error + "\n");
    return 500;
  }
};

metrics_handler::metrics_handler(metrics_handler_options opts) : impl_(std::make_shared<impl>()) {
  if (opts.gzip_level < 1 || opts.gzip_level > 9) {
    throw std::invalid_argument("metrics_handler_options.gzip_level " + std::to_string(opts.gzip_level) +
                                " is out of range: expected 1 (fastest) to 9 (smallest)");
  }
  if (opts.timeout.count() < 0) {
    throw std::invalid_argument("metrics_handler_options.timeout " + std::to_string(opts.timeout.count()) +
                                "ms is negative: expected 0 (none) or a positive duration");
  }
  for (m::registry* r : opts.registries) {
    if (r == nullptr) throw std::invalid_argument("metrics_handler_options.registries holds a null registry");
  }
  impl& d = *impl_;
  if (opts.registries.empty()) opts.registries.push_back(&m::default_registry());
  d.registries.assign(opts.registries.begin(), opts.registries.end());
  d.gather = std::make_unique<m::gatherers>(d.registries);
  if (opts.self_metrics) {
    m::registerer& reg = opts.self_metrics_registry != nullptr ? *opts.self_metrics_registry
                                                               : *opts.registries.front();
    // Reuse what another handler registered already (client_golang does the same).
    auto reuse = [&reg]<class M>(std::shared_ptr<M> fresh) -> M& {
      try {
        reg.register_collector(fresh);
        return *fresh;
      } catch (const m::already_registered_error& e) {
        auto existing = std::dynamic_pointer_cast<M>(e.existing());
        if (!existing) throw;
        return *existing;
      }
    };
    auto& codes = reuse(std::make_shared<m::family<m::counter>>(m::metric_opts{
        .name = "promhttp_metric_handler_requests_total",
        .help = "Total number of scrapes by HTTP status code.",
        .label_names = {"code"}}));
    d.codes = &codes;
    d.code_200 = &codes.labels("200");
    d.code_500 = &codes.labels("500");
    d.code_503 = &codes.labels("503");
    auto& inflight = reuse(std::make_shared<m::family<m::gauge>>(m::metric_opts{
        .name = "promhttp_metric_handler_requests_in_flight",
        .help = "Current number of scrapes being served."}));
    d.in_flight_gauge = &inflight.labels();
    auto& errors = reuse(std::make_shared<m::family<m::counter>>(m::metric_opts{
        .name = "promhttp_metric_handler_errors_total",
        .help = "Total number of internal errors encountered by the promhttp metric handler.",
        .label_names = {"cause"}}));
    d.errors_gathering = &errors.labels("gathering");
    d.errors_encoding = &errors.labels("encoding");
  }
  d.opts = std::move(opts);
}

metrics_handler::~metrics_handler() {
  // Timed-out gathers still read the registries: wait for them before the caller may destroy
  // what they read.
  std::unique_lock lock(impl_->bg_mu);
  impl_->bg_cv.wait(lock, [this] { return impl_->bg_running == 0; });
}

std::size_t metrics_handler::in_flight() const noexcept {
  return impl_->in_flight.load(std::memory_order_acquire);
}

void metrics_handler::serve(std::string_view accept, std::string_view accept_encoding,
                            response_stream& out) const {
  impl& d = *impl_;
  if (!d.acquire()) {
    d.refuse(out, 503, d.limit_message());
    d.count(503);
    return;
  }
  unsigned status = 500;
  try {
    status = d.serve(accept, accept_encoding, out);
  } catch (...) {
    d.release();
    d.count(500);
    throw;
  }
  d.release();
  d.count(status);
}

namespace {

// Buffers a whole response.
class buffer_stream final : public metrics_handler::response_stream {
 public:
  explicit buffer_stream(std::size_t expected = 0) : expected_(expected) {}
  void start(const metrics_handler::head& h) override {
    r.status = h.status;
    r.headers.clear();
    r.body.clear();
    // The previous scrape's size: one allocation instead of a doubling series of copies.
    if (h.status == 200) r.body.reserve(expected_);
    r.headers.push_back({"Content-Type", std::string(h.content_type)});
    if (!h.content_encoding.empty()) {
      r.headers.push_back({"Content-Encoding", std::string(h.content_encoding)});
    }
    r.headers.push_back({"Vary", "Accept, Accept-Encoding"});
  }
  void write(std::string_view chunk) override { r.body.append(chunk); }
  response r;

 private:
  std::size_t expected_;
};

}  // namespace

response metrics_handler::serve(const request& req) const {
  const std::string_view accept = req.header("Accept");
  const std::string_view accept_encoding = req.header("Accept-Encoding");
  if (impl_->opts.timeout.count() == 0) {
    buffer_stream b(impl_->last_body_size.load(std::memory_order_relaxed));
    serve(accept, accept_encoding, b);
    if (b.r.status == 200) impl_->last_body_size.store(b.r.body.size(), std::memory_order_relaxed);
    return std::move(b.r);
  }
  // With a timeout the gather runs on its own thread; if it is late the client gets 503 now and
  // the gather's result is dropped when it ends (it keeps its in-flight slot until then).
  impl& d = *impl_;
  if (!d.acquire()) {
    d.count(503);
    return response::text(503, d.limit_message());
  }
  struct shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool abandoned = false;
    unsigned status = 500;
    buffer_stream out;
  };
  auto s = std::make_shared<shared>();
  {
    std::lock_guard lock(d.bg_mu);
    ++d.bg_running;
  }
  std::thread([impl = impl_, s, accept = std::string(accept),
               accept_encoding = std::string(accept_encoding)] {
    unsigned status = 500;
    try {
      status = impl->serve(accept, accept_encoding, s->out);
    } catch (const std::exception& e) {
      s->out.r = response::text(500, std::string("An error has occurred while serving metrics:\n\n") +
                                         e.what() + "\n");
    }
    impl->release();
    bool abandoned;
    {
      std::lock_guard lock(s->mu);
      s->done = true;
      s->status = status;
      abandoned = s->abandoned;
    }
    s->cv.notify_one();
    if (abandoned) impl->log("a timed-out scrape finished; its result was discarded");
    std::lock_guard lock(impl->bg_mu);
    if (--impl->bg_running == 0) impl->bg_cv.notify_all();
  }).detach();
  std::unique_lock lock(s->mu);
  if (!s->cv.wait_for(lock, d.opts.timeout, [&] { return s->done; })) {
    s->abandoned = true;
    lock.unlock();
    d.count(503);
    return response::text(503, "Exceeded configured timeout of " +
                                   std::to_string(d.opts.timeout.count()) + "ms.\n");
  }
  d.count(s->status);
  return std::move(s->out.r);
}

}  // namespace operant::http

#include "operant/metrics/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <vector>

namespace operant::metrics {

namespace {

constexpr std::string_view ct_text = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view ct_om_1 = "application/openmetrics-text; version=1.0.0; charset=utf-8";
constexpr std::string_view ct_om_0 = "application/openmetrics-text; version=0.0.1; charset=utf-8";
constexpr std::size_t flush_at = 64 * 1024;

char* write_uint(char* p, std::uint64_t v) noexcept { return std::to_chars(p, p + 20, v).ptr; }

// The encoder's output buffer. Unlike std::string it keeps no terminating NUL and lets a line be
// written through a raw pointer after one capacity check (reserve_tail + commit), which is most of
// what a 100k-series scrape costs beyond reading the cells.
class text_buffer {
 public:
  text_buffer() = default;
  text_buffer(const text_buffer&) = delete;
  text_buffer& operator=(const text_buffer&) = delete;
  ~text_buffer() { std::free(data_); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept { size_ = 0; }
  std::string_view view() const noexcept { return {data_, size_}; }
  void swap(text_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
  }
  void reserve(std::size_t n) {
    if (n > cap_) grow_to(n);
  }
  // A pointer with at least n writable bytes after the current end; commit(end) then sets the
  // size to end - data.
  char* reserve_tail(std::size_t n) {
    if (cap_ - size_ < n) [[unlikely]] grow_to(size_ + n);
    return data_ + size_;
  }
  void commit(char* end) noexcept { size_ = static_cast<std::size_t>(end - data_); }

  void append(const char* p, std::size_t n) {
    if (n == 0) return;  // p may be null then, which memcpy does not allow
    if (cap_ - size_ < n) [[unlikely]] grow_to(size_ + n);
    std::memcpy(data_ + size_, p, n);
    size_ += n;
  }
  text_buffer& operator+=(std::string_view s) {
    append(s.data(), s.size());
    return *this;
  }
  text_buffer& operator+=(char c) {
    if (size_ == cap_) [[unlikely]] grow_to(size_ + 1);
    data_[size_++] = c;
    return *this;
  }

 private:
  void grow_to(std::size_t n) {
    std::size_t cap = cap_ < 256 ? 256 : cap_ * 2;
    while (cap < n) cap *= 2;
    auto* p = static_cast<char*>(std::realloc(data_, cap));
    if (p == nullptr) throw std::bad_alloc();
    data_ = p;
    cap_ = cap;
  }
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

// (memcpy with an empty view's null data() is undefined behaviour, hence the test.)
inline char* put(char* w, std::string_view s) noexcept {
  if (!s.empty()) std::memcpy(w, s.data(), s.size());
  return w + s.size();
}

// Writes s with \\, \n and (when quote) \" escaped; needs room for 2 * s.size() bytes.
inline char* put_escaped(char* w, std::string_view s, bool quote) noexcept {
  for (const char c : s) {
    if (c == '\\' || c == '\n' || (c == '"' && quote)) [[unlikely]] {
      *w++ = '\\';
      *w++ = c == '\n' ? 'n' : c;
    } else {
      *w++ = c;
    }
  }
  return w;
}

}  // namespace

std::size_t format_double(double v, char* out) noexcept {
  if (std::isnan(v)) {
    std::memcpy(out, "NaN", 3);
    return 3;
  }
  if (std::isinf(v)) {
    std::memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
    return 4;
  }
  // Whole numbers below 1e6 print the same in Go's 'g' format as in decimal.
  if (v > -1e6 && v < 1e6 && v == static_cast<double>(static_cast<std::int64_t>(v))) {
    char* p = out;
    if (std::signbit(v)) *p++ = '-';
    const auto a = static_cast<std::uint64_t>(std::fabs(v));
    return static_cast<std::size_t>(write_uint(p, a) - out);
  }
  // Shortest round-trip digits, once; Go uses exponent form when the exponent is < -4 or >= 6
  // (the "precision 6" rule of FormatFloat(f, 'g', -1, 64)), and so do we. Like Go, the fixed
  // form is laid out from the same digits instead of converting a second time.
  char sci[32];
  char* end = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific).ptr;
  const char* e = std::find(static_cast<const char*>(sci), static_cast<const char*>(end), 'e');
  int exp = 0;
  std::from_chars(e + 1 + (e[1] == '+' ? 1 : 0), end, exp);
  if (exp < -4 || exp >= 6) {
    const auto n = static_cast<std::size_t>(end - sci);
    std::memcpy(out, sci, n);
    return n;
  }
  const char* m = sci;
  char* p = out;
  if (*m == '-') *p++ = *m++;
  char digits[20];
  std::size_t nd = 0;
  for (; m < e; ++m) {
    if (*m != '.') digits[nd++] = *m;
  }
  if (exp < 0) {
    *p++ = '0';
    *p++ = '.';
    for (int z = -1; z > exp; --z) *p++ = '0';
    std::memcpy(p, digits, nd);
    p += nd;
  } else {
    const auto int_digits = static_cast<std::size_t>(exp) + 1;
    for (std::size_t k = 0; k < int_digits; ++k) *p++ = k < nd ? digits[k] : '0';
    if (nd > int_digits) {
      *p++ = '.';
      std::memcpy(p, digits + int_digits, nd - int_digits);
      p += nd - int_digits;
    }
  }
  return static_cast<std::size_t>(p - out);
}

std::string_view content_type(format f) noexcept { return f == format::text ? ct_text : ct_om_1; }

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

}  // namespace

negotiation negotiate(std::string_view accept) noexcept {
  negotiation best{format::text, ct_text};
  double best_q = -1;
  while (!accept.empty()) {
    const std::size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const std::size_t semi = range.find(';');
    const std::string_view type = trim(range.substr(0, semi));
    std::string_view params = semi == std::string_view::npos ? std::string_view() : range.substr(semi + 1);
    double q = 1;
    std::string_view version;
    bool bad = false;
    while (!params.empty()) {
      const std::size_t next = params.find(';');
      const std::string_view kv = params.substr(0, next);
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      const std::size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = trim(kv.substr(0, eq));
      std::string_view val = trim(kv.substr(eq + 1));
      if (val.size() >= 2 && val.front() == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
      if (iequals(key, "q")) {
        const auto r = std::from_chars(val.data(), val.data() + val.size(), q);
        if (r.ec != std::errc() || r.ptr != val.data() + val.size() || q < 0 || q > 1) bad = true;
      } else if (iequals(key, "version")) {
        version = val;
      }
    }
    if (bad || q <= 0) continue;
    negotiation n;
    if (iequals(type, "application/openmetrics-text")) {
      if (version.empty() || version == "1.0.0") {
        n = {format::openmetrics, ct_om_1};
      } else if (version == "0.0.1") {
        n = {format::openmetrics, ct_om_0};
      } else {
        continue;
      }
    } else if (iequals(type, "text/plain")) {
      if (!version.empty() && version != "0.0.4") continue;
      n = {format::text, ct_text};
    } else if (iequals(type, "*/*") || iequals(type, "text/*")) {
      n = {format::text, ct_text};
    } else if (iequals(type, "application/*")) {
      n = {format::openmetrics, ct_om_1};
    } else {
      continue;
    }
    if (q > best_q) {
      best = n;
      best_q = q;
    }
  }
  return best;
}

// ---- encoder ------------------------------------------------------------------------------------

struct encoder::impl {
  format fmt;
  output_sink* sink;
  encode_options opts;
  text_buffer buf{};

  const family_desc* desc = nullptr;
  std::string family_name{};  // of the previous family, to merge consecutive parts
  std::string sample{};       // sample name: the family's, plus _info or _total where due
  std::string base{};         // the family name in this format (OpenMetrics: without _total)
  bool om_counter_total = false;  // OpenMetrics counter named *_total: samples get _total back
  // Label output order (sorted by name): a fragment `name="` per variable label, `name="value"`
  // per constant label.
  struct part {
    std::string fragment;
    int variable;  // index into values, or -1 for a constant label
  };
  std::vector<part> parts{};
  std::size_t parts_bytes = 0;  // fragment bytes plus a comma and a quote per part

  // Histogram buckets: the bounds seen last and their rendered `value"} ` tails (same bounds for
  // every series of a family, so they are formatted once per family, not once per series).
  std::vector<double> le_bounds{};
  std::vector<std::string> le_tails{};
  text_buffer bucket_prefix{};  // `<name>_bucket{<labels>,le="` of the current series

  void render_le(std::span<const double> bounds) {
    if (std::equal(bounds.begin(), bounds.end(), le_bounds.begin(), le_bounds.end())) return;
    le_bounds.assign(bounds.begin(), bounds.end());
    le_tails.clear();
    text_buffer saved;
    saved.swap(buf);
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
      buf.clear();
      value(i < bounds.size() ? bounds[i] : HUGE_VAL);
      buf += "\"} ";
      le_tails.emplace_back(buf.view());
    }
    buf.swap(saved);
  }

  void flush_if_full() {
    if (buf.size() >= flush_at) {
      sink->write(buf.view());
      buf.clear();
    }
  }

  void escape(std::string_view s, bool quote) {
    buf.commit(put_escaped(buf.reserve_tail(2 * s.size()), s, quote));
  }

  void number(double v) {
    char tmp[32];
    buf.append(tmp, format_double(v, tmp));
  }
  // OpenMetrics floats: Go's writeOpenMetricsFloat adds ".0" to whole numbers.
  void om_number(double v) {
    char tmp[34];
    std::size_t n = format_double(v, tmp);
    if (std::isfinite(v) && std::find_if(tmp, tmp + n, [](char c) { return c == '.' || c == 'e'; }) == tmp + n) {
      tmp[n++] = '.';
      tmp[n++] = '0';
    }
    buf.append(tmp, n);
  }
  void value(double v) { fmt == format::openmetrics ? om_number(v) : number(v); }
  void integer(std::uint64_t v) {
    char tmp[24];
    buf.append(tmp, static_cast<std::size_t>(write_uint(tmp, v) - tmp));
  }

  // Writes the series' labels, `a="x",b="y"`, without braces: one capacity check, then raw
  // writes.
  void label_pairs(label_values values) {
    std::size_t bound = parts_bytes;
    for (const std::string_view v : values) bound += 2 * v.size();
    char* w = buf.reserve_tail(bound);
    bool first = true;
    for (const part& p : parts) {
      if (!first) *w++ = ',';
      first = false;
      w = put(w, p.fragment);
      if (p.variable >= 0) {
        w = put_escaped(w, values[static_cast<std::size_t>(p.variable)], true);
        *w++ = '"';
      }
    }
    buf.commit(w);
  }

  // Writes `<sample><suffix>{labels[,extra="..."]} `.
  void start_line(std::string_view suffix, label_values values, std::string_view extra_name = {},
                  double extra_value = 0, bool base_name = false) {
    const std::string& name = base_name ? base : sample;
    char* w = buf.reserve_tail(name.size() + suffix.size() + 1);
    w = put(put(w, name), suffix);
    if (parts.empty() && extra_name.empty()) {
      *w++ = ' ';
      buf.commit(w);
      return;
    }
    *w++ = '{';
    buf.commit(w);
    label_pairs(values);
    if (!extra_name.empty()) {
      if (!parts.empty()) buf += ',';
      buf += extra_name;
      buf += "=\"";
      value(extra_value);
      buf += '"';
    }
    buf += "} ";
  }

  void sum_and_count(label_values values, double sum, std::uint64_t count) {
    start_line("_sum", values);
    value(sum);
    buf += '\n';
    start_line("_count", values);
    integer(count);
    buf += '\n';
  }

  void write_exemplar(const exemplar* ex) {
    // OpenMetrics 1.0 allows exemplars on counter _total and histogram _bucket samples only, so a
    // counter exposed as unknown (its name lacks _total) cannot carry one.
    if (ex == nullptr || fmt != format::openmetrics) return;
    if (desc->type == metric_type::counter && !om_counter_total) return;
    buf += " # {";
    bool first = true;
    for (const label& l : ex->labels) {
      if (!first) buf += ',';
      first = false;
      buf += l.name;
      buf += "=\"";
      escape(l.value, true);
      buf += '"';
    }
    buf += "} ";
    om_number(ex->value);
    if (ex->has_timestamp) {
      buf += ' ';
      om_number(ex->timestamp);
    }
  }

  void created(label_values values, double ts) {
    if (fmt != format::openmetrics || !opts.emit_created || ts == 0) return;
    if (desc->type == metric_type::counter && !om_counter_total) return;
    start_line("_created", values, {}, 0, true);
    om_number(ts);
    buf += '\n';
  }

  void begin(const family_desc& d) {
    desc = &d;
    const bool om = fmt == format::openmetrics;
    std::string_view name = d.name;
    om_counter_total = false;
    if (om && d.type == metric_type::counter && name.size() > 6 &&
        name.substr(name.size() - 6) == "_total") {
      name.remove_suffix(6);
      om_counter_total = true;
    }
    sample.assign(name);
    base.assign(name);
    if (d.type == metric_type::info) sample += "_info";
    if (om_counter_total) sample += "_total";

    parts.clear();
    std::vector<std::pair<std::string_view, int>> order;
    for (std::size_t i = 0; i < d.const_labels.size(); ++i) {
      order.emplace_back(d.const_labels[i].name, -1 - static_cast<int>(i));
    }
    for (std::size_t i = 0; i < d.label_names.size(); ++i) {
      order.emplace_back(d.label_names[i], static_cast<int>(i));
    }
    std::sort(order.begin(), order.end());
    parts_bytes = 0;
    for (const auto& [lname, idx] : order) {
      part p;
      p.fragment.assign(lname);
      p.fragment += "=\"";
      if (idx < 0) {
        text_buffer saved;
        saved.swap(buf);
        escape(d.const_labels[static_cast<std::size_t>(-1 - idx)].value, true);
        p.fragment += buf.view();
        p.fragment += '"';
        buf.swap(saved);
        p.variable = -1;
      } else {
        p.variable = idx;
      }
      parts_bytes += p.fragment.size() + 2;
      parts.push_back(std::move(p));
    }

    if (family_name == d.name) return;  // continuation of the same family: metadata once
    family_name = d.name;
    std::string_view meta_name = name;
    std::string_view type_word;
    switch (d.type) {
      case metric_type::counter: type_word = om && !om_counter_total ? "unknown" : "counter"; break;
      case metric_type::gauge: type_word = "gauge"; break;
      case metric_type::histogram: type_word = "histogram"; break;
      case metric_type::summary: type_word = "summary"; break;
      case metric_type::info: type_word = om ? "info" : "gauge"; break;
      case metric_type::unknown: type_word = om ? "unknown" : "untyped"; break;
    }
    std::string text_info_name;
    if (!om && d.type == metric_type::info) {
      text_info_name = d.name + "_info";
      meta_name = text_info_name;
    }
    if (om) {
      buf += "# TYPE ";
      buf += meta_name;
      buf += ' ';
      buf += type_word;
      buf += '\n';
      if (!d.unit.empty()) {
        buf += "# UNIT ";
        buf += meta_name;
        buf += ' ';
        buf += d.unit;
        buf += '\n';
      }
      if (!d.help.empty()) {
        buf += "# HELP ";
        buf += meta_name;
        buf += ' ';
        escape(d.help, true);
        buf += '\n';
      }
    } else {
      if (!d.help.empty()) {
        buf += "# HELP ";
        buf += meta_name;
        buf += ' ';
        escape(d.help, false);
        buf += '\n';
      }
      buf += "# TYPE ";
      buf += meta_name;
      buf += ' ';
      buf += type_word;
      buf += '\n';
    }
  }
};

encoder::encoder(format f, output_sink& sink, encode_options opts) : impl_(new impl{.fmt = f, .sink = &sink, .opts = opts}) {
  impl_->buf.reserve(flush_at + 4096);
}

encoder::~encoder() { delete impl_; }

void encoder::begin_family(const family_desc& desc) { impl_->begin(desc); }

void encoder::counter(label_values values, double value, double created, const exemplar* ex) {
  impl& m = *impl_;
  m.start_line({}, values);
  m.value(value);
  m.write_exemplar(ex);
  m.buf += '\n';
  m.created(values, created);
  m.flush_if_full();
}

void encoder::gauge(label_values values, double value) {
  impl& m = *impl_;
  m.start_line({}, values);
  m.value(value);
  m.buf += '\n';
  m.flush_if_full();
}

void encoder::histogram(label_values values, const histogram_sample& h) {
  impl& m = *impl_;
  m.render_le(h.upper_bounds);
  // `<name>_bucket{<labels>,le="` once per series; each bucket line is then three appends.
  m.bucket_prefix.clear();
  m.buf.swap(m.bucket_prefix);  // render into bucket_prefix (label_pairs writes to buf)
  m.buf += m.sample;
  m.buf += "_bucket{";
  m.label_pairs(values);
  m.buf += m.parts.empty() ? "le=\"" : ",le=\"";
  m.buf.swap(m.bucket_prefix);
  for (std::size_t i = 0; i < h.cumulative_counts.size(); ++i) {
    m.buf += m.bucket_prefix.view();
    m.buf += m.le_tails[i];
    m.integer(h.cumulative_counts[i]);
    if (i < h.exemplars.size()) m.write_exemplar(h.exemplars[i]);
    m.buf += '\n';
  }
  // OpenMetrics treats a histogram's _sum as counter-like and wants _count and _sum together: both
  // are left out when the sum could go down (negative bucket bounds) or is negative or NaN.
  // Text 0.0.4 has no such rule.
  const bool om = m.fmt == format::openmetrics;
  if (!om || (!(h.sum < 0) && h.sum == h.sum &&
              (h.upper_bounds.empty() || h.upper_bounds.front() >= 0))) {
    m.sum_and_count(values, h.sum, h.count);
  }
  m.created(values, h.created);
  m.flush_if_full();
}

void encoder::summary(label_values values, const summary_sample& s) {
  impl& m = *impl_;
  // OpenMetrics forbids negative quantile values and a negative or NaN _sum (counter-like); such
  // samples are left out of OpenMetrics output only. Text 0.0.4 carries them all.
  const bool om = m.fmt == format::openmetrics;
  for (const quantile_value& q : s.quantiles) {
    if (om && q.value < 0) continue;
    m.start_line({}, values, "quantile", q.quantile);
    m.value(q.value);
    m.buf += '\n';
  }
  if (!om || (s.sum >= 0)) m.sum_and_count(values, s.sum, s.count);  // together, as for histograms
  m.created(values, s.created);
  m.flush_if_full();
}

void encoder::finish() {
  if (impl_->fmt == format::openmetrics) impl_->buf += "# EOF\n";
  if (!impl_->buf.empty()) impl_->sink->write(impl_->buf.view());
  impl_->buf.clear();
}

namespace {
class string_sink final : public output_sink {
 public:
  explicit string_sink(std::string& s) : s_(&s) {}
  void write(std::string_view chunk) override { s_->append(chunk); }

 private:
  std::string* s_;
};
}  // namespace

void encode(const gatherer& g, format f, output_sink& sink, encode_options opts) {
  encoder e(f, sink, opts);
  g.gather(e);
  e.finish();
}

void encode(const collector& c, format f, output_sink& sink, encode_options opts) {
  encoder e(f, sink, opts);
  c.collect(e);
  e.finish();
}

std::string encode_to_string(const gatherer& g, format f, encode_options opts) {
  std::string out;
  string_sink s(out);
  encode(g, f, s, opts);
  return out;
}

std::string encode_to_string(const collector& c, format f, encode_options opts) {
  std::string out;
  string_sink s(out);
  encode(c, f, s, opts);
  return out;
}

}  // namespace operant::metrics

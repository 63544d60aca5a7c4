// libFuzzer target for registration, updates and both encoders.
//
// The input is decoded (FuzzedDataProvider) into a sequence of operations on a registry:
// creating metric families of every type with arbitrary names, help, units, label names, constant
// labels, buckets and objectives; registering them directly or through wrapping registerers;
// updating series with arbitrary label values (any bytes) and arbitrary doubles (any bit
// pattern: NaN, infinities, denormals, negatives); exemplars; removals and unregistrations.
// Every operation must either succeed or throw operant::metrics::error; anything else escapes
// and crashes the fuzzer.
//
// Then the registry is encoded as text 0.0.4 and as OpenMetrics 1.0, and both must parse back
// (parse_text / parse_openmetrics) with one family per registered name and every sample (name,
// labels, value, le/quantile, exemplar) equal to what a snapshot of the registry holds. Any
// violation prints a description and aborts.
//
// Set FUZZ_ENCODE_AVOID_KNOWN=1 (or =all) in the environment to stop generating inputs that hit
// the library bugs already known (see avoid() below), so that a run can look for new ones; or list
// the ones to avoid, e.g. FUZZ_ENCODE_AVOID_KNOWN=negative_sum,exemplar_unknown.
//
// Build and run:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I include \
//       fuzz/fuzz_encode.cpp src/metrics/*.cpp -o /tmp/fe && /tmp/fe -max_total_time=180
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "operant/metrics/exposition.h"
#include "operant/metrics/family.h"
#include "operant/metrics/parse.h"
#include "operant/metrics/registry.h"
#include "operant/metrics/snapshot.h"

namespace {

namespace m = operant::metrics;

// Known library bugs the fuzzer finds at once; avoid(name) is true when FUZZ_ENCODE_AVOID_KNOWN
// asks not to generate inputs that hit that one:
//   om_name_clash     the registry accepts families whose OpenMetrics names clash (counter
//                     `a_total` and gauge `a`; histogram `a` and gauge `a_created`; ...)
//   negative_sum      histogram/summary _sum (and summary quantiles) negative or NaN in OpenMetrics
//   negative_bucket   histogram with a negative bucket bound still exposes _sum in OpenMetrics
//   info_unit         info family with a unit: OpenMetrics forbids a UNIT line on info
//   exemplar_dup      exemplar labels with a repeated name are accepted
//   exemplar_unknown  exemplar on a counter without `_total`, exposed as `unknown` in OpenMetrics
bool avoid(std::string_view bug) {
  static const std::string list = [] {
    const char* v = std::getenv("FUZZ_ENCODE_AVOID_KNOWN");
    return std::string(v == nullptr ? "" : v);
  }();
  if (list == "1" || list == "all") return true;
  std::string_view rest = list;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    if (rest.substr(0, comma) == bug) return true;
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return false;
}

[[noreturn]] void fail(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "\n==== fuzz_encode: %s\n%s\n====\n", what.c_str(), detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// With FUZZ_ENCODE_TRACE set, every decoded operation is printed to stderr (to read a reproducer).
bool tracing() {
  static const bool on = std::getenv("FUZZ_ENCODE_TRACE") != nullptr;
  return on;
}

std::string show(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

std::string show(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string show(const m::labels& l) {
  std::string out = "{";
  for (const auto& x : l) out += (out.size() > 1 ? "," : "") + show(x.name) + "=" + show(x.value);
  return out + "}";
}

std::string show(const std::vector<std::string>& v) {
  std::string out = "(";
  for (const auto& x : v) out += (out.size() > 1 ? "," : "") + show(x);
  return out + ")";
}

void trace(const std::string& line) {
  if (tracing()) std::fprintf(stderr, "op: %s\n", line.c_str());
}

template <class Fn>
bool attempt(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const m::error& e) {
    // Rejected, as documented.
    if (tracing()) std::fprintf(stderr, "    -> error: %s\n", e.what());
    return false;
  }
}

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

double consume_double(FuzzedDataProvider& p) {
  static constexpr double special[] = {0.0,  -0.0, 1.0,    -1.0,  0.5,    2.5,     0.1,    1e6,
                                       1e21, -1e-5, nan_v, inf_v, -inf_v, 5e-324,  1e-300, 123456.7,
                                       std::numeric_limits<double>::max(),
                                       std::numeric_limits<double>::lowest(), 9007199254740992.0};
  switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return special[p.ConsumeIntegralInRange<std::size_t>(0, std::size(special) - 1)];
    case 1: return static_cast<double>(p.ConsumeIntegral<std::int16_t>()) / 4;
    case 2: return std::bit_cast<double>(p.ConsumeIntegral<std::uint64_t>());
    default: return p.ConsumeFloatingPoint<double>();
  }
}

template <std::size_t N>
std::string consume_from(FuzzedDataProvider& p, const char* const (&pool)[N], std::size_t max_random) {
  if (p.ConsumeBool()) return pool[p.ConsumeIntegralInRange<std::size_t>(0, N - 1)];
  return p.ConsumeRandomLengthString(max_random);
}

constexpr const char* name_pool[] = {"a",       "a_total", "a_count",  "a_sum",      "a_bucket",
                                     "a_created", "a_info", "b",       "b_seconds",  "b_seconds_total",
                                     "_total",  "x:y",     "c_bytes",  "a_total_total", "b_info"};
constexpr const char* label_pool[] = {"a", "b", "le", "quantile", "__x", "code", "path", "a-b", "", "c"};
constexpr const char* unit_pool[] = {"", "seconds", "bytes", "total", "info", "Bytes", "x-y"};
constexpr const char* prefix_pool[] = {"", "p_", "a_", "x:", "a"};

m::labels consume_labels(FuzzedDataProvider& p, std::size_t max) {
  m::labels l;
  const std::size_t n = p.ConsumeIntegralInRange<std::size_t>(0, max);
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = consume_from(p, label_pool, 8);
    std::string value = p.ConsumeRandomLengthString(8);
    l.push_back({std::move(name), std::move(value)});
  }
  return l;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// ---- the model --------------------------------------------------------------------------------------

struct entry {
  m::metric_type type = m::metric_type::unknown;
  std::shared_ptr<m::collector> coll;
  std::shared_ptr<m::family<m::counter>> counter;
  std::shared_ptr<m::family<m::gauge>> gauge;
  std::shared_ptr<m::family<m::histogram>> histogram;
  std::shared_ptr<m::family<m::summary>> summary;
  std::shared_ptr<m::family<m::info>> info;
  std::shared_ptr<double> callback_value;  // for callback metrics
  bool callback_counter = false;
  std::string name;  // the family name (desc().name)
  std::size_t nlabels = 0;
};

struct wrapper {
  std::unique_ptr<m::wrapping_registerer> reg;
  std::string prefix;
};

struct registration {
  std::size_t entry;
  m::registerer* via;
  std::string exposed;  // prefix + name
};

// The names a family takes in OpenMetrics (family name and the sample names it may write), for
// avoiding the om_name_clash bug.
std::set<std::string> om_names(m::metric_type t, const std::string& name) {
  switch (t) {
    case m::metric_type::counter:
      if (name.size() > 6 && ends_with(name, "_total")) {
        const std::string base = name.substr(0, name.size() - 6);
        return {base, base + "_total", base + "_created", name};
      }
      return {name};
    case m::metric_type::histogram:
      return {name, name + "_bucket", name + "_count", name + "_sum", name + "_created"};
    case m::metric_type::summary: return {name, name + "_count", name + "_sum", name + "_created"};
    case m::metric_type::info: return {name, name + "_info"};
    default: return {name};
  }
}

class fuzz_run {
 public:
  explicit fuzz_run(FuzzedDataProvider& p) : p_(p) {}

  void run() {
    emit_created_ = p_.ConsumeBool();
    for (int ops = 0; ops < 48 && p_.remaining_bytes() > 0; ++ops) {
      switch (p_.ConsumeIntegralInRange<int>(0, 9)) {
        case 0:
        case 1: create(); break;
        case 2: do_register(); break;
        case 3:
        case 4:
        case 5: update(); break;
        case 6: unregister(); break;
        case 7: remove(); break;
        case 8: make_wrapper(); break;
        case 9: attempt([&] { check(); }); break;
      }
    }
    check();
  }

 private:
  // ---- operations ---------------------------------------------------------------------------------

  void create() {
    m::metric_opts o;
    if (p_.ConsumeIntegralInRange<int>(0, 7) == 0) o.ns = consume_from(p_, prefix_pool, 4);
    if (p_.ConsumeIntegralInRange<int>(0, 7) == 0) o.subsystem = consume_from(p_, prefix_pool, 4);
    o.name = consume_from(p_, name_pool, 12);
    o.help = p_.ConsumeIntegralInRange<int>(0, 7) == 0 ? std::string() : p_.ConsumeRandomLengthString(16);
    if (p_.ConsumeIntegralInRange<int>(0, 3) == 0) o.unit = consume_from(p_, unit_pool, 6);
    const std::size_t nlabels = p_.ConsumeIntegralInRange<std::size_t>(0, 3);
    for (std::size_t i = 0; i < nlabels; ++i) o.label_names.push_back(consume_from(p_, label_pool, 6));
    if (p_.ConsumeIntegralInRange<int>(0, 3) == 0) o.const_labels = consume_labels(p_, 2);
    if (p_.ConsumeIntegralInRange<int>(0, 3) == 0) {
      const std::size_t n = p_.ConsumeIntegralInRange<std::size_t>(0, 5);
      for (std::size_t i = 0; i < n; ++i) {
        double b = consume_double(p_);
        if (avoid("negative_bucket") && b < 0) b = -b;
        o.buckets.push_back(b);
      }
    }
    if (p_.ConsumeIntegralInRange<int>(0, 3) == 0) {
      const std::size_t n = p_.ConsumeIntegralInRange<std::size_t>(0, 3);
      for (std::size_t i = 0; i < n; ++i) {
        const double q = p_.ConsumeBool() ? p_.ConsumeProbability<double>() : consume_double(p_);
        const double e = p_.ConsumeBool() ? p_.ConsumeProbability<double>() / 10 : consume_double(p_);
        o.objectives.push_back({q, e});
      }
      o.age_buckets = p_.ConsumeIntegralInRange<unsigned>(0, 6);
      o.buffer_cap = p_.ConsumeIntegralInRange<unsigned>(0, 8);
    }
    entry e;
    const int kind = p_.ConsumeIntegralInRange<int>(0, 7);
    if (avoid("info_unit") && kind == 4) o.unit.clear();
    if (tracing()) {
      static constexpr const char* kinds[] = {"counter", "gauge", "histogram", "summary",
                                              "info", "gauge_func", "counter_func", "untyped_func"};
      std::string d = std::string("create #") + std::to_string(entries_.size()) + " " + kinds[kind] +
                      " ns=" + show(o.ns) + " subsystem=" + show(o.subsystem) + " name=" + show(o.name) +
                      " help=" + show(o.help) + " unit=" + show(o.unit) + " label_names=" + show(o.label_names) +
                      " const_labels=" + show(o.const_labels);
      if (!o.buckets.empty()) {
        d += " buckets=(";
        for (double b : o.buckets) d += show(b) + " ";
        d += ")";
      }
      if (!o.objectives.empty()) {
        d += " objectives=(";
        for (const auto& ob : o.objectives) d += show(ob.quantile) + ":" + show(ob.error) + " ";
        d += ") age_buckets=" + std::to_string(o.age_buckets) + " buffer_cap=" + std::to_string(o.buffer_cap);
      }
      trace(d);
    }
    attempt([&] {
      switch (kind) {
        case 0: e.coll = e.counter = std::make_shared<m::family<m::counter>>(o); break;
        case 1: e.coll = e.gauge = std::make_shared<m::family<m::gauge>>(o); break;
        case 2: e.coll = e.histogram = std::make_shared<m::family<m::histogram>>(o); break;
        case 3: e.coll = e.summary = std::make_shared<m::family<m::summary>>(o); break;
        case 4: e.coll = e.info = std::make_shared<m::family<m::info>>(o); break;
        default: {
          const m::metric_type t = kind == 5   ? m::metric_type::gauge
                                   : kind == 6 ? m::metric_type::counter
                                               : m::metric_type::unknown;
          auto value = std::make_shared<double>(0);
          e.coll = std::make_shared<m::callback_metric>(o, t, [value] { return *value; });
          e.callback_value = value;
          e.callback_counter = t == m::metric_type::counter;
          break;
        }
      }
    });
    if (!e.coll) return;
    const std::span<const m::family_desc> d = e.coll->describe();
    if (d.size() != 1) fail("a metric describes " + std::to_string(d.size()) + " families", o.name);
    e.type = d[0].type;
    e.name = d[0].name;
    e.nlabels = d[0].label_names.size();
    entries_.push_back(std::move(e));
    if (p_.ConsumeBool()) do_register(entries_.size() - 1);
  }

  void make_wrapper() {
    if (wrappers_.size() >= 3) return;
    std::string prefix = consume_from(p_, prefix_pool, 4);
    m::labels extra = consume_labels(p_, 1);
    trace("wrapper #" + std::to_string(wrappers_.size()) + " prefix=" + show(prefix) + " extra=" + show(extra));
    attempt([&] {
      wrappers_.push_back({std::make_unique<m::wrapping_registerer>(reg_, prefix, extra), prefix});
    });
  }

  void do_register() {
    if (entries_.empty()) return;
    do_register(p_.ConsumeIntegralInRange<std::size_t>(0, entries_.size() - 1));
  }

  void do_register(std::size_t i) {
    const entry& e = entries_[i];
    m::registerer* via = &reg_;
    std::string prefix;
    if (!wrappers_.empty() && p_.ConsumeBool()) {
      const wrapper& w = wrappers_[p_.ConsumeIntegralInRange<std::size_t>(0, wrappers_.size() - 1)];
      via = w.reg.get();
      prefix = w.prefix;
    }
    const std::string exposed = prefix + e.name;
    if (avoid("om_name_clash")) {
      const std::set<std::string> mine = om_names(e.type, exposed);
      for (const registration& r : registrations_) {
        if (r.exposed == exposed) continue;
        for (const std::string& n : om_names(entries_[r.entry].type, r.exposed)) {
          if (mine.count(n) != 0) return;
        }
      }
    }
    trace("register #" + std::to_string(i) + " " + show(e.name) + (via == &reg_ ? " directly" : " via wrapper") +
          " as " + show(exposed));
    attempt([&] {
      via->register_collector(e.coll);
      registrations_.push_back({i, via, exposed});
    });
  }

  void unregister() {
    if (registrations_.empty()) {
      if (!entries_.empty()) {  // unregistering what is not registered returns false
        const entry& e = entries_[p_.ConsumeIntegralInRange<std::size_t>(0, entries_.size() - 1)];
        const bool registered = std::any_of(registrations_.begin(), registrations_.end(),
                                            [&](const registration& r) { return entries_[r.entry].coll == e.coll; });
        if (!registered && reg_.unregister(*e.coll)) fail("unregister of an unregistered collector returned true", e.name);
      }
      return;
    }
    const std::size_t r = p_.ConsumeIntegralInRange<std::size_t>(0, registrations_.size() - 1);
    const registration reg = registrations_[r];
    trace("unregister #" + std::to_string(reg.entry) + " " + show(reg.exposed));
    if (!reg.via->unregister(*entries_[reg.entry].coll)) {
      fail("unregister of a registered collector returned false", reg.exposed);
    }
    registrations_.erase(registrations_.begin() + static_cast<std::ptrdiff_t>(r));
  }

  std::vector<std::string> consume_values(std::size_t n) {
    if (p_.ConsumeIntegralInRange<int>(0, 15) == 0) n = p_.ConsumeIntegralInRange<std::size_t>(0, 4);
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(p_.ConsumeRandomLengthString(8));
    return v;
  }

  m::labels consume_exemplar_labels() {
    m::labels l = consume_labels(p_, 3);
    if (avoid("exemplar_dup")) {
      std::set<std::string> seen;
      std::erase_if(l, [&](const m::label& x) { return !seen.insert(x.name).second; });
    }
    return l;
  }

  void update() {
    if (entries_.empty()) return;
    const std::size_t index = p_.ConsumeIntegralInRange<std::size_t>(0, entries_.size() - 1);
    entry& e = entries_[index];
    const std::string who = "#" + std::to_string(index) + " " + show(e.name);
    if (e.callback_value) {
      double v = consume_double(p_);
      // A CounterFunc must return a valid counter value; that is the caller's promise.
      if (e.callback_counter && !(v >= 0)) v = std::isnan(v) ? 0 : -v;
      trace("callback " + who + " returns " + show(v));
      *e.callback_value = v;
      return;
    }
    const std::vector<std::string> values = consume_values(e.nlabels);
    const std::vector<std::string_view> views(values.begin(), values.end());
    const std::span<const std::string_view> lv(views);
    const int action = p_.ConsumeIntegralInRange<int>(0, 5);
    double v = consume_double(p_);
    const bool total = e.name.size() > 6 && ends_with(e.name, "_total");
    bool with_exemplar = (e.counter && action % 3 == 2) || (e.histogram && action % 2 == 1);
    if (e.counter && with_exemplar && !total && avoid("exemplar_unknown")) with_exemplar = false;
    m::labels ex;
    if (with_exemplar) ex = consume_exemplar_labels();
    if ((e.histogram || e.summary) && avoid("negative_sum") && !(v >= 0)) v = std::isnan(v) ? 0 : -v;
    const std::string series = who + show(values);
    attempt([&] {
      if (e.counter) {
        m::counter& c = e.counter->labels(lv);
        if (with_exemplar) {
          trace("counter " + series + " add_with_exemplar(" + show(v) + ", " + show(ex) + ")");
          c.add_with_exemplar(v, ex);
        } else if (action % 3 == 0) {
          trace("counter " + series + " inc()");
          c.inc();
        } else {
          trace("counter " + series + " add(" + show(v) + ")");
          c.add(v);
        }
      } else if (e.gauge) {
        m::gauge& g = e.gauge->labels(lv);
        static constexpr const char* ops[] = {"set", "inc", "dec", "add", "sub", "set_to_current_time"};
        trace("gauge " + series + " " + ops[action] + "(" + show(v) + ")");
        switch (action) {
          case 0: g.set(v); break;
          case 1: g.inc(); break;
          case 2: g.dec(); break;
          case 3: g.add(v); break;
          case 4: g.sub(v); break;
          default: g.set_to_current_time();
        }
      } else if (e.histogram) {
        m::histogram& h = e.histogram->labels(lv);
        if (with_exemplar) {
          trace("histogram " + series + " observe_with_exemplar(" + show(v) + ", " + show(ex) + ")");
          h.observe_with_exemplar(v, ex);
        } else {
          trace("histogram " + series + " observe(" + show(v) + ")");
          h.observe(v);
        }
      } else if (e.summary) {
        trace("summary " + series + " observe(" + show(v) + ")");
        e.summary->labels(lv).observe(v);
      } else if (e.info) {
        trace("info " + series + " labels()");
        e.info->labels(lv);
      }
    });
  }

  void remove() {
    if (entries_.empty()) return;
    entry& e = entries_[p_.ConsumeIntegralInRange<std::size_t>(0, entries_.size() - 1)];
    const bool all = p_.ConsumeBool();
    const std::vector<std::string> values = consume_values(e.nlabels);
    const std::vector<std::string_view> views(values.begin(), values.end());
    trace((all ? "clear " : "remove ") + show(e.name) + (all ? std::string() : show(values)));
    attempt([&] {
      if (e.counter) all ? e.counter->clear() : static_cast<void>(e.counter->remove(std::span<const std::string_view>(views)));
      if (e.gauge) all ? e.gauge->clear() : static_cast<void>(e.gauge->remove(std::span<const std::string_view>(views)));
      if (e.histogram) all ? e.histogram->clear() : static_cast<void>(e.histogram->remove(std::span<const std::string_view>(views)));
      if (e.summary) all ? e.summary->clear() : static_cast<void>(e.summary->remove(std::span<const std::string_view>(views)));
      if (e.info) all ? e.info->clear() : static_cast<void>(e.info->remove(std::span<const std::string_view>(views)));
    });
  }

  // ---- the check ----------------------------------------------------------------------------------

  struct expected_sample {
    std::string name;
    m::labels labels;  // sorted, without le/quantile
    double value = 0;
    std::optional<double> le;
    std::optional<double> quantile;
    const m::exemplar* ex = nullptr;
  };

  static bool same(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
  }

  static std::string describe(const expected_sample& s) {
    std::string out = s.name + "{";
    for (const auto& l : s.labels) out += l.name + "=\"" + l.value + "\",";
    char buf[64];
    std::snprintf(buf, sizeof buf, "} %.17g", s.value);
    return out + buf;
  }
  static std::string describe(const m::parsed_sample& s) {
    std::string out = s.name + "{";
    for (const auto& l : s.labels) out += l.name + "=\"" + l.value + "\",";
    char buf[64];
    std::snprintf(buf, sizeof buf, "} %.17g", s.value);
    return out + buf;
  }

  std::vector<expected_sample> expected(const std::vector<m::family_snapshot>& fams, bool om) const {
    std::vector<expected_sample> out;
    for (const m::family_snapshot& f : fams) {
      const m::family_desc& d = f.desc;
      for (const m::series_snapshot& s : f.series) {
        m::labels base = d.const_labels;
        for (std::size_t i = 0; i < d.label_names.size() && i < s.values.size(); ++i) {
          base.push_back({d.label_names[i], s.values[i]});
        }
        std::sort(base.begin(), base.end());
        auto add = [&](std::string name, double v) -> expected_sample& {
          expected_sample& e = out.emplace_back();
          e.name = std::move(name);
          e.labels = base;
          e.value = v;
          return e;
        };
        const bool created = om && emit_created_ && s.created != 0;
        switch (d.type) {
          case m::metric_type::counter:
            if (om && d.name.size() > 6 && ends_with(d.name, "_total")) {
              const std::string b = d.name.substr(0, d.name.size() - 6);
              add(d.name, s.value).ex = s.ex ? &*s.ex : nullptr;
              if (created) add(b + "_created", s.created);
            } else {
              add(d.name, s.value);  // exposed as unknown in OpenMetrics: no exemplar allowed
            }
            break;
          case m::metric_type::info: add(d.name + "_info", s.value); break;
          case m::metric_type::histogram:
            for (std::size_t i = 0; i < s.cumulative_counts.size(); ++i) {
              expected_sample& e = add(d.name + "_bucket", static_cast<double>(s.cumulative_counts[i]));
              e.le = i < s.upper_bounds.size() ? s.upper_bounds[i] : inf_v;
              if (om && i < s.exemplars.size() && s.exemplars[i]) e.ex = &*s.exemplars[i];
            }
            // OpenMetrics: _sum and _count only where the sum is counter-like (exposition.h).
            if (!om || (!(s.sum < 0) && s.sum == s.sum &&
                        (s.upper_bounds.empty() || s.upper_bounds.front() >= 0))) {
              add(d.name + "_sum", s.sum);
              add(d.name + "_count", static_cast<double>(s.count));
            }
            if (created) add(d.name + "_created", s.created);
            break;
          case m::metric_type::summary:
            for (const m::quantile_value& q : s.quantiles) {
              if (!om || !(q.value < 0)) add(d.name, q.value).quantile = q.quantile;
            }
            if (!om || s.sum >= 0) {
              add(d.name + "_sum", s.sum);
              add(d.name + "_count", static_cast<double>(s.count));
            }
            if (created) add(d.name + "_created", s.created);
            break;
          default: add(d.name, s.value);
        }
      }
    }
    return out;
  }

  static double label_number(const std::string& s) {
    return std::strtod(s.c_str(), nullptr);
  }

  void compare(const std::vector<expected_sample>& want, const std::vector<m::parsed_family>& got,
               const std::string& body, const char* format) const {
    std::vector<const m::parsed_sample*> flat;
    for (const auto& f : got) {
      for (const auto& s : f.samples) flat.push_back(&s);
    }
    auto mismatch = [&](std::size_t i, const std::string& what) {
      fail(std::string(format) + " sample " + std::to_string(i) + " differs: " + what,
           "expected " + (i < want.size() ? describe(want[i]) : std::string("(none)")) + "\ngot      " +
               (i < flat.size() ? describe(*flat[i]) : std::string("(none)")) + "\n--- body ---\n" + body);
    };
    if (flat.size() != want.size()) mismatch(std::min(flat.size(), want.size()), "sample count");
    for (std::size_t i = 0; i < want.size(); ++i) {
      const expected_sample& w = want[i];
      const m::parsed_sample& g = *flat[i];
      if (g.name != w.name) mismatch(i, "name");
      if (!same(g.value, w.value)) mismatch(i, "value");
      m::labels rest;
      std::optional<double> le, quantile;
      for (const m::label& l : g.labels) {
        if (w.le && l.name == "le") {
          le = label_number(l.value);
        } else if (w.quantile && l.name == "quantile") {
          quantile = label_number(l.value);
        } else {
          rest.push_back(l);
        }
      }
      std::sort(rest.begin(), rest.end());
      if (rest != w.labels) mismatch(i, "labels");
      if (w.le && !(le && same(*le, *w.le))) mismatch(i, "le");
      if (w.quantile && !(quantile && same(*quantile, *w.quantile))) mismatch(i, "quantile");
      if ((w.ex != nullptr) != g.exemplar.has_value()) mismatch(i, "exemplar presence");
      if (w.ex != nullptr) {
        if (g.exemplar->labels != w.ex->labels) mismatch(i, "exemplar labels");
        if (!same(g.exemplar->value, w.ex->value)) mismatch(i, "exemplar value");
        if (g.exemplar->has_timestamp != w.ex->has_timestamp ||
            (w.ex->has_timestamp && !same(g.exemplar->timestamp, w.ex->timestamp))) {
          mismatch(i, "exemplar timestamp");
        }
      }
    }
  }

  void check() const {
    std::string text, om;
    std::vector<m::family_snapshot> snap;
    try {
      text = m::encode_to_string(reg_, m::format::text);
      om = m::encode_to_string(reg_, m::format::openmetrics, {.emit_created = emit_created_});
      snap = m::snapshot(reg_);
    } catch (const m::error& e) {
      fail("gathering a registry of operant's own metrics failed", e.what());
    }
    // The registry holds exactly the registered names.
    std::set<std::string> want_names;
    for (const registration& r : registrations_) want_names.insert(r.exposed);
    std::set<std::string> got_names;
    std::map<std::string, std::size_t> series;
    for (const auto& f : snap) {
      got_names.insert(f.desc.name);
      series[f.desc.name] += f.series.size();
    }
    if (want_names != got_names) {
      std::string d = "registered:";
      for (const auto& n : want_names) d += " " + n;
      d += "\ngathered:";
      for (const auto& n : got_names) d += " " + n;
      fail("gathered families differ from the registered ones", d);
    }
    std::size_t with_series = 0;
    for (const auto& [name, n] : series) with_series += n > 0 ? 1 : 0;

    std::vector<m::parsed_family> pt, po;
    try {
      pt = m::parse_text(text);
    } catch (const m::parse_error& e) {
      fail("text 0.0.4 output does not parse", std::string(e.what()) + "\n--- body ---\n" + text);
    }
    try {
      po = m::parse_openmetrics(om);
    } catch (const m::parse_error& e) {
      fail("OpenMetrics output does not parse", std::string(e.what()) + "\n--- body ---\n" + om);
    }
    if (pt.size() != with_series) {
      fail("text 0.0.4 output has " + std::to_string(pt.size()) + " families, expected " +
               std::to_string(with_series),
           text);
    }
    if (po.size() != want_names.size()) {
      fail("OpenMetrics output has " + std::to_string(po.size()) + " families, expected " +
               std::to_string(want_names.size()),
           om);
    }
    compare(expected(snap, false), pt, text, "text 0.0.4");
    compare(expected(snap, true), po, om, "OpenMetrics");
  }

  FuzzedDataProvider& p_;
  bool emit_created_ = false;
  // Declared before the collectors so that it is destroyed after them (wrappers refer to it).
  m::registry reg_;
  std::vector<wrapper> wrappers_;
  std::vector<entry> entries_;
  std::vector<registration> registrations_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  fuzz_run run(p);
  run.run();
  return 0;
}

// expose_all — a registry holding every metric type operant has, with hostile label values and
// extreme numbers, written in one exposition format, so that other implementations (promtool,
// prometheus_client's parsers) can be run over it.
//
//   expose_all --format text                       text 0.0.4 on stdout
//   expose_all --format openmetrics                OpenMetrics 1.0 (with _created) on stdout
//   expose_all --format F --values                 the JSON description of what F's output holds
//   expose_all --format F --values-out FILE        the exposition on stdout and, from the same
//                                                  run, its JSON description in FILE
//
// The JSON says what the program put into the metrics, computed from its own inputs (the numbers
// it set and observed, label values it used), not from the encoder's output:
//
//   {"format": "openmetrics", "start": <unix s>, "end": <unix s>,
//    "families": [{"name", "type", "help", "unit"}, ...],       as the format names them
//    "samples": [{"name", "labels": {sorted}, "value", "exemplar"?}, ...]}
//
// A value is a number, or one of the strings "NaN", "+Inf", "-Inf", or "now" (a time stamp taken
// while the program ran: between start and end). Numbers are written with the shortest digits that
// read back as the same double, so a reader compares them with ==. The `le` and `quantile` labels
// are numbers written the same way, to be compared as numbers. Created time stamps that the API
// exposes (counter::created() etc.) are exact, so two separate runs give different ones: use
// --values-out to get the exposition and its description from one run.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operant/metrics/exposition.h"
#include "operant/metrics/registry.h"

namespace om = operant::metrics;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---- JSON ---------------------------------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;  // UTF-8 passes through as it is
        }
    }
  }
  out += '"';
  return out;
}

// The shortest decimal that reads back as v (what Python's float() and json read exactly).
std::string shortest(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A JSON number that reads back as a float, -0 included ("-0.0", not "-0", which is an integer).
std::string json_number(double v) {
  if (!std::isfinite(v)) return json_string(shortest(v));
  std::string s = shortest(v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// ---- what the program wrote ---------------------------------------------------------------------

struct expected_exemplar {
  std::map<std::string, std::string> labels;
  double value;
};

struct expected_sample {
  std::string name;
  std::map<std::string, std::string> labels;  // sorted by name
  std::optional<double> value;                // nullopt: "now" (a time stamp taken while running)
  std::optional<expected_exemplar> exemplar;
};

struct expected_family {
  std::string name;
  std::string type;
  std::string help;
  std::string unit;
};

struct expectations {
  bool om = false;
  std::vector<expected_family> families;
  std::vector<expected_sample> samples;

  void family(std::string name, std::string_view type, std::string help, std::string unit = {}) {
    families.push_back({std::move(name), std::string(type), std::move(help), std::move(unit)});
  }
  void sample(std::string name, std::map<std::string, std::string> labels,
              std::optional<double> value, std::optional<expected_exemplar> ex = std::nullopt) {
    samples.push_back({std::move(name), std::move(labels), value, std::move(ex)});
  }

  std::string to_json(double start, double end) const {
    std::string out = "{\n  \"format\": ";
    out += json_string(om ? "openmetrics" : "text");
    out += ",\n  \"start\": " + json_number(start) + ",\n  \"end\": " + json_number(end);
    out += ",\n  \"families\": [";
    for (std::size_t i = 0; i < families.size(); ++i) {
      const expected_family& f = families[i];
      out += i == 0 ? "\n    " : ",\n    ";
      out += "{\"name\": " + json_string(f.name) + ", \"type\": " + json_string(f.type) +
             ", \"help\": " + json_string(f.help) + ", \"unit\": " + json_string(f.unit) + "}";
    }
    out += "\n  ],\n  \"samples\": [";
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const expected_sample& s = samples[i];
      out += i == 0 ? "\n    " : ",\n    ";
      out += "{\"name\": " + json_string(s.name) + ", \"labels\": " + labels_json(s.labels) +
             ", \"value\": " + (s.value ? json_number(*s.value) : json_string("now"));
      if (s.exemplar) {
        out += R"(, "exemplar": {"labels": )" + labels_json(s.exemplar->labels) + R"(, "value": )" +
               json_number(s.exemplar->value) + R"(, "timestamp": "now"})";
      }
      out += "}";
    }
    out += "\n  ]\n}\n";
    return out;
  }

  static std::string labels_json(const std::map<std::string, std::string>& labels) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out += ", ";
      first = false;
      out += json_string(k) + ": " + json_string(v);
    }
    return out + "}";
  }
};

std::map<std::string, std::string> with_label(std::map<std::string, std::string> l,
                                              const std::string& name, double v) {
  l[name] = shortest(v);
  return l;
}

// Histogram expectations from the observations themselves: cumulative buckets (le inclusive),
// sum, count, the latest exemplar per bucket.
struct observation {
  double value;
  std::optional<om::labels> exemplar;
};

void expect_histogram(expectations& e, const std::string& name,
                      const std::map<std::string, std::string>& labels,
                      const std::vector<double>& bounds, const std::vector<observation>& obs,
                      double created) {
  std::vector<std::uint64_t> per_bucket(bounds.size() + 1, 0);
  std::vector<std::optional<expected_exemplar>> exemplars(bounds.size() + 1);
  double sum = 0;
  for (const observation& o : obs) {
    std::size_t i = 0;
    while (i < bounds.size() && o.value > bounds[i]) ++i;
    ++per_bucket[i];
    sum += o.value;
    if (o.exemplar) {
      expected_exemplar ex{{}, o.value};
      for (const om::label& l : *o.exemplar) ex.labels[l.name] = l.value;
      exemplars[i] = ex;
    }
  }
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += per_bucket[i];
    const double le = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
    e.sample(name + "_bucket", with_label(labels, "le", le), static_cast<double>(cumulative),
             e.om ? exemplars[i] : std::nullopt);
  }
  e.sample(name + "_sum", labels, sum);
  e.sample(name + "_count", labels, static_cast<double>(cumulative));
  if (e.om) e.sample(name + "_created", labels, created);
}

void expect_summary(expectations& e, const std::string& name,
                    const std::map<std::string, std::string>& labels, const om::summary& s,
                    std::uint64_t count, double sum) {
  for (const om::quantile_value& q : s.quantiles()) {
    e.sample(name, with_label(labels, "quantile", q.quantile), q.value);
  }
  e.sample(name + "_sum", labels, sum);
  e.sample(name + "_count", labels, static_cast<double>(count));
  if (e.om) e.sample(name + "_created", labels, s.created());
}

// ---- the registry -------------------------------------------------------------------------------

// Label values that an encoder has to escape or pass through untouched.
const std::vector<std::pair<std::string, std::string>> hostile_values = {
    {"plain", "GET"},
    {"quote", "say \"hi\""},
    {"backslash", "C:\\temp\\"},
    {"backslash_n", "not a newline: \\n"},  // a backslash followed by the letter n
    {"newline", "line one\nline two"},
    {"all", "\"\\\n\"\\\n"},
    {"latin", "caf\xc3\xa9 \xc3\xa9t\xc3\xa9"},  // "café été"
    {"cjk", "\xe6\x97\xa5\xe6\x9c\xac"},         // "日本"
    {"emoji", "\xf0\x9f\x9a\x80 launch"},        // "🚀 launch"
    {"empty", ""},
    {"braces", R"({a="b",c="d"} # not an exemplar)"},
    {"spaces", "  leading and trailing  "},
};

const std::string help_hostile =
    "Requests served.\nA second line with a backslash \\ and \\n (not a newline), \"quoted\".";

void build(om::registry& reg, expectations& e) {
  const bool om = e.om;
  auto f = om::with(reg);

  // Counter: whole and fractional increments, help with a newline, backslash and quotes.
  {
    auto& c = f.new_counter({.name = "operant_test_requests_total", .help = help_hostile});
    c.inc();
    c.inc();
    c.add(2.5);
    c.add(0.125);
    const double v = 4.625;
    e.family("operant_test_requests", "counter", help_hostile);
    e.sample("operant_test_requests_total", {}, v);
    if (om) e.sample("operant_test_requests_created", {}, c.created());
  }

  // Counter with an exemplar (OpenMetrics only writes exemplars).
  {
    auto& c = f.new_counter({.name = "operant_test_jobs_total", .help = "Jobs run."});
    c.add(3);
    const om::labels ex = {{"trace_id", "0af7651916cd43dd8448eb211c80319c"},
                           {"span", "\"\\\n\xe6\x97\xa5"}};
    c.add_with_exemplar(2, ex);
    e.family("operant_test_jobs", "counter", "Jobs run.");
    std::optional<expected_exemplar> want;
    if (om) {
      want = expected_exemplar{{}, 2};
      for (const auto& l : ex) want->labels[l.name] = l.value;
    }
    e.sample("operant_test_jobs_total", {}, 5, want);
    if (om) e.sample("operant_test_jobs_created", {}, c.created());
  }

  // Counter family with hostile label values; label names given out of order.
  {
    auto& fam = f.new_counter_family({.name = "operant_test_hostile_total",
                                      .help = "Label values that need escaping.",
                                      .label_names = {"value", "kind"}});
    e.family("operant_test_hostile", "counter", "Label values that need escaping.");
    double n = 1;
    for (const auto& [kind, value] : hostile_values) {
      auto& c = fam.labels(value, kind);
      c.add(n);
      e.sample("operant_test_hostile_total", {{"kind", kind}, {"value", value}}, n);
      if (om)
        e.sample("operant_test_hostile_created", {{"kind", kind}, {"value", value}}, c.created());
      n += 1;
    }
  }

  // Gauges: extreme values in separate series; a unit; a constant label.
  {
    auto& fam = f.new_gauge_family({.name = "operant_test_temperature_celsius",
                                    .help = "Extreme values.",
                                    .unit = "celsius",
                                    .label_names = {"case"},
                                    .const_labels = {{"zone", "eu-west-1"}}});
    const std::vector<std::pair<std::string, double>> cases = {
        {"tiny", 1e-300},
        {"huge", 1e300},
        {"nan", std::numeric_limits<double>::quiet_NaN()},
        {"pos_inf", std::numeric_limits<double>::infinity()},
        {"neg_inf", -std::numeric_limits<double>::infinity()},
        {"zero", 0.0},
        {"negative_zero", -0.0},
        {"negative", -42.5},
        {"tenth", 0.1},
        {"third", 1.0 / 3.0},
        {"million", 1e6},
        {"big_whole", 123456789012.0},
        {"max", std::numeric_limits<double>::max()},
        {"min_normal", std::numeric_limits<double>::min()},
        {"denormal", std::numeric_limits<double>::denorm_min()},
        {"small", 0.0001},
        {"smaller", 0.00001},
    };
    e.family("operant_test_temperature_celsius", "gauge", "Extreme values.", om ? "celsius" : "");
    for (const auto& [name, v] : cases) {
      fam.labels(name).set(v);
      e.sample("operant_test_temperature_celsius", {{"case", name}, {"zone", "eu-west-1"}}, v);
    }
  }

  // A plain gauge moved up and down.
  {
    auto& g = f.new_gauge({.name = "operant_test_in_flight", .help = "In flight."});
    g.inc();
    g.inc();
    g.add(10.5);
    g.dec();
    g.sub(0.25);
    e.family("operant_test_in_flight", "gauge", "In flight.");
    e.sample("operant_test_in_flight", {}, 11.25);
  }

  // Histogram with default buckets and exemplars, a unit, and a label.
  {
    const std::vector<double> defaults = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
    auto& fam = f.new_histogram_family({.name = "operant_test_request_duration_seconds",
                                        .help = "Request latency.",
                                        .unit = "seconds",
                                        .label_names = {"route"}});
    e.family("operant_test_request_duration_seconds", "histogram", "Request latency.",
             om ? "seconds" : "");
    const std::vector<observation> api = {
        {0.001, std::nullopt},
        {0.005, om::labels{{"trace_id", "aaa"}}},  // exactly on a bound: counts in le=0.005
        {0.0625, std::nullopt},
        {0.0625, om::labels{{"trace_id", "bbb"}, {"note", "caf\xc3\xa9 \"x\""}}},
        {0.75, std::nullopt},
        {2.5, std::nullopt},
        {20, om::labels{{"trace_id", "ccc"}}},  // beyond the last bound: +Inf bucket
    };
    auto& h = fam.labels("/api");
    for (const observation& o : api) {
      if (o.exemplar) {
        h.observe_with_exemplar(o.value, *o.exemplar);
      } else {
        h.observe(o.value);
      }
    }
    expect_histogram(e, "operant_test_request_duration_seconds", {{"route", "/api"}}, defaults, api,
                     h.created());
    // A series that saw nothing.
    auto& idle = fam.labels("/idle \"quiet\"");
    expect_histogram(e, "operant_test_request_duration_seconds", {{"route", "/idle \"quiet\""}},
                     defaults, {}, idle.created());
  }

  // Histogram with custom buckets.
  {
    const std::vector<double> bounds = {100, 1000, 1e4, 1e5, 1e6, 1e7};
    auto& h = f.new_histogram({.name = "operant_test_payload_bytes",
                               .help = "Payload sizes.",
                               .unit = "bytes",
                               .buckets = bounds});
    e.family("operant_test_payload_bytes", "histogram", "Payload sizes.", om ? "bytes" : "");
    const std::vector<observation> obs = {
        {-5, std::nullopt},   {0, std::nullopt},   {100, std::nullopt}, {100.5, std::nullopt},
        {4096, std::nullopt}, {1e6, std::nullopt}, {5e7, std::nullopt}};
    for (const observation& o : obs) h.observe(o.value);
    expect_histogram(e, "operant_test_payload_bytes", {}, bounds, obs, h.created());
  }

  // Summary without objectives.
  {
    auto& s = f.new_summary(
        {.name = "operant_test_job_duration_seconds", .help = "Job durations.", .unit = "seconds"});
    e.family("operant_test_job_duration_seconds", "summary", "Job durations.", om ? "seconds" : "");
    s.observe(1.5);
    s.observe(0.25);
    s.observe(8);
    expect_summary(e, "operant_test_job_duration_seconds", {}, s, 3, 9.75);
  }

  // Summary with objectives, labelled; one series never observed (NaN quantiles).
  {
    auto& fam = f.new_summary_family({.name = "operant_test_response_size_bytes",
                                      .help = "Response sizes.",
                                      .unit = "bytes",
                                      .label_names = {"handler"},
                                      .objectives = {{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}}});
    e.family("operant_test_response_size_bytes", "summary", "Response sizes.", om ? "bytes" : "");
    auto& s = fam.labels("/metrics");
    double sum = 0;
    for (int i = 1; i <= 1000; ++i) {
      s.observe(i);
      sum += i;
    }
    expect_summary(e, "operant_test_response_size_bytes", {{"handler", "/metrics"}}, s, 1000, sum);
    auto& idle = fam.labels("\xe6\x97\xa5\xe6\x9c\xac");
    expect_summary(e, "operant_test_response_size_bytes", {{"handler", "\xe6\x97\xa5\xe6\x9c\xac"}},
                   idle, 0, 0);
  }

  // Info.
  {
    auto& fam = f.new_info({.name = "operant_test_build",
                            .help = "Build information.",
                            .label_names = {"version", "revision"}});
    fam.labels("1.2.3", "abc\"def\\");
    e.family(om ? "operant_test_build" : "operant_test_build_info", om ? "info" : "gauge",
             "Build information.");
    e.sample("operant_test_build_info", {{"revision", "abc\"def\\"}, {"version", "1.2.3"}}, 1);
  }

  // Callbacks.
  {
    f.new_gauge_func({.name = "operant_test_queue_depth", .help = "Queue depth (callback)."},
                     [] { return 7.25; });
    e.family("operant_test_queue_depth", "gauge", "Queue depth (callback).");
    e.sample("operant_test_queue_depth", {}, 7.25);

    f.new_counter_func(
        {.name = "operant_test_callbacks_total", .help = "Callbacks (callback counter)."},
        [] { return 42.0; });
    e.family("operant_test_callbacks", "counter", "Callbacks (callback counter).");
    e.sample("operant_test_callbacks_total", {}, 42);
    if (om) e.sample("operant_test_callbacks_created", {}, std::nullopt);  // not exposed: "now"

    f.add(std::make_shared<om::callback_metric>(
        om::metric_opts{.name = "operant_test_untyped", .help = "An untyped value (callback)."},
        om::metric_type::unknown, [] { return -3.5; }));
    // prometheus_client's text parser reports text 0.0.4's `untyped` as "unknown" too.
    e.family("operant_test_untyped", "unknown", "An untyped value (callback).");
    e.sample("operant_test_untyped", {}, -3.5);
  }
}

int usage(int code) {
  (code == 0 ? std::cout : std::cerr)
      << "usage: expose_all [--format text|openmetrics] [--values | --values-out FILE]\n"
         "Writes a registry holding every metric type in the given format (default text);\n"
         "--values writes the JSON description of that output instead, --values-out FILE\n"
         "writes it to FILE as well.\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  om::format fmt = om::format::text;
  bool values = false;
  std::string values_out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") return usage(0);
    if (a == "--values") {
      values = true;
    } else if (a == "--format" && i + 1 < argc) {
      const std::string_view v = argv[++i];
      if (v == "text") {
        fmt = om::format::text;
      } else if (v == "openmetrics") {
        fmt = om::format::openmetrics;
      } else {
        std::cerr << "expose_all: unknown format \"" << v << "\"\n";
        return usage(2);
      }
    } else if (a == "--values-out" && i + 1 < argc) {
      values_out = argv[++i];
    } else {
      std::cerr << "expose_all: unexpected argument \"" << a << "\"\n";
      return usage(2);
    }
  }

  try {
    expectations e;
    e.om = fmt == om::format::openmetrics;
    const double start = unix_now();
    om::registry reg;
    build(reg, e);
    const std::string body =
        om::encode_to_string(reg, fmt, om::encode_options{.emit_created = true});
    const double end = unix_now();
    const std::string json = e.to_json(start, end);
    if (!values_out.empty()) {
      std::ofstream out(values_out, std::ios::binary);
      out << json;
      if (!out.flush()) {
        std::cerr << "expose_all: cannot write " << values_out << "\n";
        return 1;
      }
    }
    std::cout << (values ? json : body) << std::flush;
    return std::cout ? 0 : 1;
  } catch (const std::exception& ex) {
    std::cerr << "expose_all: " << ex.what() << "\n";
    return 1;
  }
}

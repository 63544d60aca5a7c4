// Tests of the text 0.0.4 and OpenMetrics 1.0 encoders, format_double (Go's
// strconv.FormatFloat(f, 'g', -1, 64)), content negotiation and streaming to a sink.
#include "operant/metrics/exposition.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "operant/metrics/family.h"
#include "operant/metrics/parse.h"
#include "operant/metrics/registry.h"
#include "operant/metrics/snapshot.h"

namespace {

namespace m = operant::metrics;

std::string fmt(double v) {
  char buf[40];
  const std::size_t n = m::format_double(v, buf);
  EXPECT_LE(n, 32u);
  return std::string(buf, n);
}

std::string text(const m::gatherer& g) { return m::encode_to_string(g, m::format::text); }
std::string om(const m::gatherer& g, bool created = false) {
  return m::encode_to_string(g, m::format::openmetrics, {.emit_created = created});
}

// ---- a re-renderer for parsed samples, to check that what was encoded parses back exactly ----------

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// OpenMetrics float: Go's writeOpenMetricsFloat appends ".0" to whole numbers.
std::string om_number(double v) {
  std::string s = fmt(v);
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string render_labels(const m::labels& l) {
  if (l.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (i > 0) out += ',';
    out += l[i].name + "=\"" + escape(l[i].value) + "\"";
  }
  return out + "}";
}

// One sample line as the encoders write it: values of histogram/summary _count and _bucket
// samples are integers in both formats.
std::string render(const m::parsed_sample& s, bool openmetrics) {
  std::string out = s.name + render_labels(s.labels) + " ";
  const bool integer = ends_with(s.name, "_bucket") || ends_with(s.name, "_count");
  out += (openmetrics && !integer) ? om_number(s.value) : fmt(s.value);
  if (s.exemplar) {
    out += " # " + (s.exemplar->labels.empty() ? std::string("{}") : render_labels(s.exemplar->labels));
    out += " " + om_number(s.exemplar->value);
    if (s.exemplar->has_timestamp) out += " " + om_number(s.exemplar->timestamp);
  }
  return out;
}

// The sample lines (not comments) of an exposition.
std::vector<std::string> sample_lines(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

std::vector<std::string> rendered(const std::vector<m::parsed_family>& fams, bool openmetrics) {
  std::vector<std::string> out;
  for (const auto& f : fams) {
    for (const auto& s : f.samples) out.push_back(render(s, openmetrics));
  }
  return out;
}

// Parses `body` and checks that every sample comes back with the exact name, labels and value.
std::vector<m::parsed_family> parse_back(const std::string& body, m::format f) {
  std::vector<m::parsed_family> fams;
  try {
    fams = f == m::format::text ? m::parse_text(body) : m::parse_openmetrics(body);
  } catch (const m::parse_error& e) {
    ADD_FAILURE() << "does not parse: " << e.what() << "\n" << body;
    return fams;
  }
  EXPECT_EQ(rendered(fams, f == m::format::openmetrics), sample_lines(body));
  return fams;
}

// ---- collectors for exact values (created timestamps, exemplars, quantiles) ------------------------

class fixed_collector final : public m::collector {
 public:
  explicit fixed_collector(std::vector<m::family_snapshot> families) : families_(std::move(families)) {
    for (const auto& f : families_) descs_.push_back(f.desc);
  }
  std::span<const m::family_desc> describe() const override { return descs_; }
  void collect(m::metric_writer& out) const override {
    for (const auto& f : families_) m::replay(f, out);
  }

 private:
  std::vector<m::family_snapshot> families_;
  std::vector<m::family_desc> descs_;
};

m::family_desc desc(std::string name, m::metric_type type, std::vector<std::string> label_names = {},
                    std::string help = "Help.") {
  m::family_desc d;
  d.name = std::move(name);
  d.help = std::move(help);
  d.type = type;
  d.label_names = std::move(label_names);
  return d;
}

m::exemplar make_exemplar(m::labels l, double value, std::optional<double> ts) {
  m::exemplar e;
  e.labels = std::move(l);
  e.value = value;
  if (ts) {
    e.timestamp = *ts;
    e.has_timestamp = true;
  }
  return e;
}

// ---- format_double --------------------------------------------------------------------------------

TEST(ExpositionFormatDoubleTest, MatchesGoFormatFloatShortestG) {
  EXPECT_EQ(fmt(0), "0");
  EXPECT_EQ(fmt(-0.0), "-0");
  EXPECT_EQ(fmt(1), "1");
  EXPECT_EQ(fmt(-1), "-1");
  EXPECT_EQ(fmt(0.1), "0.1");
  EXPECT_EQ(fmt(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(fmt(1e-300), "1e-300");
  EXPECT_EQ(fmt(1e300), "1e+300");
  EXPECT_EQ(fmt(123456), "123456");
  EXPECT_EQ(fmt(1e6), "1e+06");
  EXPECT_EQ(fmt(1234567), "1.234567e+06");
  EXPECT_EQ(fmt(0.0001), "0.0001");
  EXPECT_EQ(fmt(0.00001), "1e-05");
  EXPECT_EQ(fmt(2.5e-05), "2.5e-05");
  EXPECT_EQ(fmt(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(fmt(5e-324), "5e-324");
  EXPECT_EQ(fmt(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(fmt(-std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(fmt(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(fmt(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(ExpositionFormatDoubleTest, ExponentThresholdsAndSignsMatchGo) {
  EXPECT_EQ(fmt(999999), "999999");
  EXPECT_EQ(fmt(-999999), "-999999");
  EXPECT_EQ(fmt(-1e6), "-1e+06");
  EXPECT_EQ(fmt(100000), "100000");
  EXPECT_EQ(fmt(123456.7), "123456.7");
  EXPECT_EQ(fmt(999999.5), "999999.5");
  EXPECT_EQ(fmt(1000000.5), "1.0000005e+06");
  EXPECT_EQ(fmt(-1234567.5), "-1.2345675e+06");
  EXPECT_EQ(fmt(1e21), "1e+21");
  EXPECT_EQ(fmt(9007199254740992.0), "9.007199254740992e+15");
  EXPECT_EQ(fmt(18446744073709551616.0), "1.8446744073709552e+19");
  EXPECT_EQ(fmt(0.001), "0.001");
  EXPECT_EQ(fmt(-0.0001), "-0.0001");
  EXPECT_EQ(fmt(0.00012345), "0.00012345");
  EXPECT_EQ(fmt(-2.5e-05), "-2.5e-05");
  EXPECT_EQ(fmt(0.5), "0.5");
  EXPECT_EQ(fmt(2.5), "2.5");
  EXPECT_EQ(fmt(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(fmt(2.2250738585072014e-308), "2.2250738585072014e-308");
  EXPECT_EQ(fmt(-2.2250738585072014e-308), "-2.2250738585072014e-308");
  EXPECT_EQ(fmt(100 * 5e-324), "4.94e-322");
  EXPECT_EQ(fmt(1700000000.25), "1.70000000025e+09");
}

// ---- text 0.0.4 -----------------------------------------------------------------------------------

// A registry with one family of every kind, hostile label values and help.
void fill_every_kind(m::registry& reg) {
  auto f = m::with(reg);
  f.new_counter({.name = "a_requests_total", .help = "Requests served."}).add(3);
  auto& hostile = f.new_counter_family({.name = "b_hostile_total",
                                        .help = "Hostile \\ help\nsecond line \"quoted\"",
                                        .label_names = {"code", "path"},
                                        .const_labels = {{"env", "prod"}}});
  hostile.labels("200", "q\"uote").inc();
  hostile.labels("200", "back\\slash").add(2);
  hostile.labels("500", "new\nline").add(0.5);
  hostile.labels("200", "\xc3\xa9").add(4);
  f.new_gauge({.name = "c_temperature_celsius", .help = "Temp.", .unit = "celsius"}).set(-12.5);
  m::histogram& h = f.new_histogram({.name = "d_latency_seconds", .help = "Latency."});
  for (double v : {0.00390625, 0.015625, 0.015625, 0.25, 7.0, 42.0}) h.observe(v);
  m::summary& s = f.new_summary({.name = "e_payload_bytes", .help = "Payload."});
  s.observe(100);
  s.observe(200.5);
  auto& q = f.new_summary_family({.name = "f_wait_seconds",
                                  .help = "Wait.",
                                  .label_names = {"zone"},
                                  .objectives = {{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}}});
  for (int i = 0; i < 10; ++i) q.labels("a").observe(2.5);
  f.new_info({.name = "g_build", .help = "Build.", .label_names = {"version"}}).labels("1.2.3");
  f.new_gauge({.name = "h_size_bytes", .help = "Size.", .unit = "bytes"}).set(1024);
  f.new_counter({.name = "i_events", .help = "Events."}).inc();
}

constexpr const char* every_kind_text =
    "# HELP a_requests_total Requests served.\n"
    "# TYPE a_requests_total counter\n"
    "a_requests_total 3\n"
    "# HELP b_hostile_total Hostile \\\\ help\\nsecond line \"quoted\"\n"
    "# TYPE b_hostile_total counter\n"
    "b_hostile_total{code=\"200\",env=\"prod\",path=\"back\\\\slash\"} 2\n"
    "b_hostile_total{code=\"200\",env=\"prod\",path=\"q\\\"uote\"} 1\n"
    "b_hostile_total{code=\"200\",env=\"prod\",path=\"\xc3\xa9\"} 4\n"
    "b_hostile_total{code=\"500\",env=\"prod\",path=\"new\\nline\"} 0.5\n"
    "# HELP c_temperature_celsius Temp.\n"
    "# TYPE c_temperature_celsius gauge\n"
    "c_temperature_celsius -12.5\n"
    "# HELP d_latency_seconds Latency.\n"
    "# TYPE d_latency_seconds histogram\n"
    "d_latency_seconds_bucket{le=\"0.005\"} 1\n"
    "d_latency_seconds_bucket{le=\"0.01\"} 1\n"
    "d_latency_seconds_bucket{le=\"0.025\"} 3\n"
    "d_latency_seconds_bucket{le=\"0.05\"} 3\n"
    "d_latency_seconds_bucket{le=\"0.1\"} 3\n"
    "d_latency_seconds_bucket{le=\"0.25\"} 4\n"
    "d_latency_seconds_bucket{le=\"0.5\"} 4\n"
    "d_latency_seconds_bucket{le=\"1\"} 4\n"
    "d_latency_seconds_bucket{le=\"2.5\"} 4\n"
    "d_latency_seconds_bucket{le=\"5\"} 4\n"
    "d_latency_seconds_bucket{le=\"10\"} 5\n"
    "d_latency_seconds_bucket{le=\"+Inf\"} 6\n"
    "d_latency_seconds_sum 49.28515625\n"
    "d_latency_seconds_count 6\n"
    "# HELP e_payload_bytes Payload.\n"
    "# TYPE e_payload_bytes summary\n"
    "e_payload_bytes_sum 300.5\n"
    "e_payload_bytes_count 2\n"
    "# HELP f_wait_seconds Wait.\n"
    "# TYPE f_wait_seconds summary\n"
    "f_wait_seconds{zone=\"a\",quantile=\"0.5\"} 2.5\n"
    "f_wait_seconds{zone=\"a\",quantile=\"0.9\"} 2.5\n"
    "f_wait_seconds{zone=\"a\",quantile=\"0.99\"} 2.5\n"
    "f_wait_seconds_sum{zone=\"a\"} 25\n"
    "f_wait_seconds_count{zone=\"a\"} 10\n"
    "# HELP g_build_info Build.\n"
    "# TYPE g_build_info gauge\n"
    "g_build_info{version=\"1.2.3\"} 1\n"
    "# HELP h_size_bytes Size.\n"
    "# TYPE h_size_bytes gauge\n"
    "h_size_bytes 1024\n"
    "# HELP i_events Events.\n"
    "# TYPE i_events counter\n"
    "i_events 1\n";

constexpr const char* every_kind_openmetrics =
    "# TYPE a_requests counter\n"
    "# HELP a_requests Requests served.\n"
    "a_requests_total 3.0\n"
    "# TYPE b_hostile counter\n"
    "# HELP b_hostile Hostile \\\\ help\\nsecond line \\\"quoted\\\"\n"
    "b_hostile_total{code=\"200\",env=\"prod\",path=\"back\\\\slash\"} 2.0\n"
    "b_hostile_total{code=\"200\",env=\"prod\",path=\"q\\\"uote\"} 1.0\n"
    "b_hostile_total{code=\"200\",env=\"prod\",path=\"\xc3\xa9\"} 4.0\n"
    "b_hostile_total{code=\"500\",env=\"prod\",path=\"new\\nline\"} 0.5\n"
    "# TYPE c_temperature_celsius gauge\n"
    "# UNIT c_temperature_celsius celsius\n"
    "# HELP c_temperature_celsius Temp.\n"
    "c_temperature_celsius -12.5\n"
    "# TYPE d_latency_seconds histogram\n"
    "# HELP d_latency_seconds Latency.\n"
    "d_latency_seconds_bucket{le=\"0.005\"} 1\n"
    "d_latency_seconds_bucket{le=\"0.01\"} 1\n"
    "d_latency_seconds_bucket{le=\"0.025\"} 3\n"
    "d_latency_seconds_bucket{le=\"0.05\"} 3\n"
    "d_latency_seconds_bucket{le=\"0.1\"} 3\n"
    "d_latency_seconds_bucket{le=\"0.25\"} 4\n"
    "d_latency_seconds_bucket{le=\"0.5\"} 4\n"
    "d_latency_seconds_bucket{le=\"1.0\"} 4\n"
    "d_latency_seconds_bucket{le=\"2.5\"} 4\n"
    "d_latency_seconds_bucket{le=\"5.0\"} 4\n"
    "d_latency_seconds_bucket{le=\"10.0\"} 5\n"
    "d_latency_seconds_bucket{le=\"+Inf\"} 6\n"
    "d_latency_seconds_sum 49.28515625\n"
    "d_latency_seconds_count 6\n"
    "# TYPE e_payload_bytes summary\n"
    "# HELP e_payload_bytes Payload.\n"
    "e_payload_bytes_sum 300.5\n"
    "e_payload_bytes_count 2\n"
    "# TYPE f_wait_seconds summary\n"
    "# HELP f_wait_seconds Wait.\n"
    "f_wait_seconds{zone=\"a\",quantile=\"0.5\"} 2.5\n"
    "f_wait_seconds{zone=\"a\",quantile=\"0.9\"} 2.5\n"
    "f_wait_seconds{zone=\"a\",quantile=\"0.99\"} 2.5\n"
    "f_wait_seconds_sum{zone=\"a\"} 25.0\n"
    "f_wait_seconds_count{zone=\"a\"} 10\n"
    "# TYPE g_build info\n"
    "# HELP g_build Build.\n"
    "g_build_info{version=\"1.2.3\"} 1.0\n"
    "# TYPE h_size_bytes gauge\n"
    "# UNIT h_size_bytes bytes\n"
    "# HELP h_size_bytes Size.\n"
    "h_size_bytes 1024.0\n"
    "# TYPE i_events unknown\n"
    "# HELP i_events Events.\n"
    "i_events 1.0\n"
    "# EOF\n";

TEST(ExpositionTextTest, EveryKindIsEncodedExactly) {
  m::registry reg;
  fill_every_kind(reg);
  EXPECT_EQ(text(reg), every_kind_text);
}

TEST(ExpositionTextTest, EveryKindParsesBackToTheExactValues) {
  m::registry reg;
  fill_every_kind(reg);
  const std::string body = text(reg);
  const std::vector<m::parsed_family> fams = parse_back(body, m::format::text);
  ASSERT_EQ(fams.size(), 9u);
  const std::vector<std::pair<std::string, m::metric_type>> want = {
      {"a_requests_total", m::metric_type::counter}, {"b_hostile_total", m::metric_type::counter},
      {"c_temperature_celsius", m::metric_type::gauge}, {"d_latency_seconds", m::metric_type::histogram},
      {"e_payload_bytes", m::metric_type::summary},  {"f_wait_seconds", m::metric_type::summary},
      {"g_build_info", m::metric_type::gauge},       {"h_size_bytes", m::metric_type::gauge},
      {"i_events", m::metric_type::counter}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(fams[i].name, want[i].first);
    EXPECT_EQ(fams[i].type, want[i].second) << fams[i].name;
  }
  EXPECT_EQ(fams[1].help, "Hostile \\ help\nsecond line \"quoted\"");
  ASSERT_EQ(fams[1].samples.size(), 4u);
  EXPECT_EQ(fams[1].samples[3].labels,
            (m::labels{{"code", "500"}, {"env", "prod"}, {"path", "new\nline"}}));
  EXPECT_EQ(fams[1].samples[3].value, 0.5);
  EXPECT_EQ(fams[3].samples.back().name, "d_latency_seconds_count");
  EXPECT_EQ(fams[3].samples.back().value, 6);
}

TEST(ExpositionTextTest, SpecialValuesAreWrittenAsGoDoes) {
  m::registry reg;
  auto& g = m::with(reg).new_gauge_family({.name = "v", .help = "V.", .label_names = {"k"}});
  g.labels("a").set(std::numeric_limits<double>::quiet_NaN());
  g.labels("b").set(std::numeric_limits<double>::infinity());
  g.labels("c").set(-std::numeric_limits<double>::infinity());
  g.labels("d").set(1e-05);
  g.labels("e").set(1234567);
  g.labels("f").set(5e-324);
  const std::string body = text(reg);
  EXPECT_EQ(body,
            "# HELP v V.\n# TYPE v gauge\n"
            "v{k=\"a\"} NaN\nv{k=\"b\"} +Inf\nv{k=\"c\"} -Inf\nv{k=\"d\"} 1e-05\n"
            "v{k=\"e\"} 1.234567e+06\nv{k=\"f\"} 5e-324\n");
  const auto fams = m::parse_text(body);
  ASSERT_EQ(fams.size(), 1u);
  ASSERT_EQ(fams[0].samples.size(), 6u);
  EXPECT_TRUE(std::isnan(fams[0].samples[0].value));
  EXPECT_EQ(fams[0].samples[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(fams[0].samples[5].value, 5e-324);
  EXPECT_EQ(om(reg),
            "# TYPE v gauge\n# HELP v V.\n"
            "v{k=\"a\"} NaN\nv{k=\"b\"} +Inf\nv{k=\"c\"} -Inf\nv{k=\"d\"} 1e-05\n"
            "v{k=\"e\"} 1.234567e+06\nv{k=\"f\"} 5e-324\n# EOF\n");
}

TEST(ExpositionTextTest, ConstAndVariableLabelsAreMergedInNameOrder) {
  m::registry reg;
  auto& f = m::with(reg).new_gauge_family(
      {.name = "merged", .help = "M.", .label_names = {"m", "b"}, .const_labels = {{"z", "1"}, {"a", "2"}}});
  f.labels("mv", "bv").set(1);
  EXPECT_EQ(text(reg), "# HELP merged M.\n# TYPE merged gauge\nmerged{a=\"2\",b=\"bv\",m=\"mv\",z=\"1\"} 1\n");
}

// client_golang sorts the series of a family by their labels in label-name order (the order they
// are written in), not in the order the label names were declared.
TEST(ExpositionTextTest, SeriesAreSortedByLabelValuesInLabelNameOrder) {
  m::registry reg;
  auto& f = m::with(reg).new_counter_family(
      {.name = "sorted_total", .help = "S.", .label_names = {"path", "code"}});
  f.labels("/a", "500").inc();
  f.labels("/b", "200").inc();
  EXPECT_EQ(text(reg),
            "# HELP sorted_total S.\n# TYPE sorted_total counter\n"
            "sorted_total{code=\"200\",path=\"/b\"} 1\n"
            "sorted_total{code=\"500\",path=\"/a\"} 1\n");
}

TEST(ExpositionTextTest, SeriesAreSortedByLabelValues) {
  m::registry reg;
  auto& f = m::with(reg).new_gauge_family({.name = "s", .help = "S.", .label_names = {"a", "b"}});
  f.labels("y", "1").set(4);
  f.labels("x", "2").set(2);
  f.labels("x", "10").set(1);
  f.labels("", "z").set(0);
  EXPECT_EQ(text(reg),
            "# HELP s S.\n# TYPE s gauge\n"
            "s{a=\"\",b=\"z\"} 0\ns{a=\"x\",b=\"10\"} 1\ns{a=\"x\",b=\"2\"} 2\ns{a=\"y\",b=\"1\"} 4\n");
}

TEST(ExpositionTextTest, FamilyWithoutSeriesWritesOnlyMetadata) {
  m::registry reg;
  m::with(reg).new_counter_family({.name = "empty_total", .help = "E.", .label_names = {"k"}});
  EXPECT_EQ(text(reg), "# HELP empty_total E.\n# TYPE empty_total counter\n");
  EXPECT_EQ(om(reg), "# TYPE empty counter\n# HELP empty E.\n# EOF\n");
  EXPECT_TRUE(m::parse_text(text(reg)).empty());
  const auto fams = m::parse_openmetrics(om(reg));
  ASSERT_EQ(fams.size(), 1u);
  EXPECT_TRUE(fams[0].samples.empty());
}

TEST(ExpositionTextTest, CustomHistogramBucketsAndSummaryQuantileLabels) {
  m::histogram_sample h;
  const double bounds[] = {-1, 0, 1e-05, 1e6};
  const std::uint64_t counts[] = {0, 1, 1, 2, 3};
  h.upper_bounds = bounds;
  h.cumulative_counts = counts;
  h.sum = 100;
  h.count = 3;
  std::vector<m::family_snapshot> fams;
  {
    m::snapshot_writer w;
    w.begin_family(desc("hist", m::metric_type::histogram));
    w.histogram({}, h);
    w.end_family();
    m::summary_sample s;
    const m::quantile_value q[] = {{0, 1}, {0.25, 2}, {1, 3}};
    s.quantiles = q;
    s.count = 3;
    s.sum = 6;
    w.begin_family(desc("summ", m::metric_type::summary));
    w.summary({}, s);
    w.end_family();
    fams = std::move(w.families());
  }
  const fixed_collector c(fams);
  EXPECT_EQ(m::encode_to_string(c, m::format::text),
            "# HELP hist Help.\n# TYPE hist histogram\n"
            "hist_bucket{le=\"-1\"} 0\nhist_bucket{le=\"0\"} 1\nhist_bucket{le=\"1e-05\"} 1\n"
            "hist_bucket{le=\"1e+06\"} 2\nhist_bucket{le=\"+Inf\"} 3\nhist_sum 100\nhist_count 3\n"
            "# HELP summ Help.\n# TYPE summ summary\n"
            "summ{quantile=\"0\"} 1\nsumm{quantile=\"0.25\"} 2\nsumm{quantile=\"1\"} 3\n"
            "summ_sum 6\nsumm_count 3\n");
  // OpenMetrics le/quantile are canonical: ".0" on whole numbers.
  m::family_snapshot positive = fams[0];
  positive.series[0].upper_bounds = {0, 1e-05, 1, 1e6};
  const fixed_collector c2({positive, fams[1]});
  EXPECT_EQ(m::encode_to_string(c2, m::format::openmetrics),
            "# TYPE hist histogram\n# HELP hist Help.\n"
            "hist_bucket{le=\"0.0\"} 0\nhist_bucket{le=\"1e-05\"} 1\nhist_bucket{le=\"1.0\"} 1\n"
            "hist_bucket{le=\"1e+06\"} 2\nhist_bucket{le=\"+Inf\"} 3\nhist_sum 100.0\nhist_count 3\n"
            "# TYPE summ summary\n# HELP summ Help.\n"
            "summ{quantile=\"0.0\"} 1.0\nsumm{quantile=\"0.25\"} 2.0\nsumm{quantile=\"1.0\"} 3.0\n"
            "summ_sum 6.0\nsumm_count 3\n# EOF\n");
  parse_back(m::encode_to_string(c2, m::format::openmetrics), m::format::openmetrics);
  parse_back(m::encode_to_string(c, m::format::text), m::format::text);
}

TEST(ExpositionTextTest, HistogramCumulativeBucketsEndWithCount) {
  m::registry reg;
  m::histogram& h = m::with(reg).new_histogram({.name = "h", .help = "H.", .buckets = {1, 2, 3}});
  for (double v : {0.5, 1.0, 1.5, 2.5, 3.0, 3.5, 100.0}) h.observe(v);
  EXPECT_EQ(text(reg),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 3\nh_bucket{le=\"3\"} 5\nh_bucket{le=\"+Inf\"} 7\n"
            "h_sum 112\nh_count 7\n");
}

// ---- OpenMetrics ----------------------------------------------------------------------------------

TEST(ExpositionOpenMetricsTest, EveryKindIsEncodedExactly) {
  m::registry reg;
  fill_every_kind(reg);
  EXPECT_EQ(om(reg), every_kind_openmetrics);
}

TEST(ExpositionOpenMetricsTest, EveryKindParsesBackToTheExactValues) {
  m::registry reg;
  fill_every_kind(reg);
  const std::string body = om(reg);
  const std::vector<m::parsed_family> fams = parse_back(body, m::format::openmetrics);
  ASSERT_EQ(fams.size(), 9u);
  const std::vector<std::pair<std::string, m::metric_type>> want = {
      {"a_requests", m::metric_type::counter}, {"b_hostile", m::metric_type::counter},
      {"c_temperature_celsius", m::metric_type::gauge}, {"d_latency_seconds", m::metric_type::histogram},
      {"e_payload_bytes", m::metric_type::summary},  {"f_wait_seconds", m::metric_type::summary},
      {"g_build", m::metric_type::info},             {"h_size_bytes", m::metric_type::gauge},
      {"i_events", m::metric_type::unknown}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(fams[i].name, want[i].first);
    EXPECT_EQ(fams[i].type, want[i].second) << fams[i].name;
  }
  EXPECT_EQ(fams[1].help, "Hostile \\ help\nsecond line \"quoted\"");
  EXPECT_EQ(fams[2].unit, "celsius");
  EXPECT_EQ(fams[7].unit, "bytes");
  EXPECT_EQ(fams[1].samples[2].labels[2].value, "\xc3\xa9");
}

TEST(ExpositionOpenMetricsTest, MetadataOrderIsTypeUnitHelp) {
  m::registry reg;
  m::with(reg).new_counter({.name = "io_seconds_total", .help = "IO.", .unit = "seconds"}).add(1.5);
  EXPECT_EQ(om(reg), "# TYPE io_seconds counter\n# UNIT io_seconds seconds\n# HELP io_seconds IO.\n"
                     "io_seconds_total 1.5\n# EOF\n");
  EXPECT_EQ(text(reg), "# HELP io_seconds_total IO.\n# TYPE io_seconds_total counter\nio_seconds_total 1.5\n");
  parse_back(om(reg), m::format::openmetrics);
}

TEST(ExpositionOpenMetricsTest, CreatedSamplesOnlyWithEmitCreated) {
  std::vector<m::family_snapshot> fams;
  {
    m::family_snapshot jobs{desc("j_jobs_total", m::metric_type::counter, {"k"}), {}};
    m::series_snapshot s;
    s.values = {"v"};
    s.value = 5;
    s.created = 1700000000.25;
    jobs.series.push_back(s);
    fams.push_back(jobs);
    m::family_snapshot plain{desc("k_plain", m::metric_type::counter), {}};
    m::series_snapshot p;
    p.value = 2;
    p.created = 1700000000.25;
    plain.series.push_back(p);
    fams.push_back(plain);
    m::family_snapshot hist{desc("l_hist", m::metric_type::histogram), {}};
    m::series_snapshot h;
    h.upper_bounds = {1};
    h.cumulative_counts = {1, 2};
    h.count = 2;
    h.sum = 3.5;
    h.created = 1700000001;
    hist.series.push_back(h);
    fams.push_back(hist);
    m::family_snapshot summ{desc("m_latency", m::metric_type::summary), {}};
    m::series_snapshot q;
    q.quantiles = {{0.5, 1.5}};
    q.count = 3;
    q.sum = 4.5;
    q.created = 1700000002;
    summ.series.push_back(q);
    fams.push_back(summ);
    m::family_snapshot zero{desc("n_zero_total", m::metric_type::counter), {}};
    zero.series.emplace_back();  // created 0 = unknown: no _created sample
    fams.push_back(zero);
  }
  const fixed_collector c(fams);
  const std::string with_created = m::encode_to_string(c, m::format::openmetrics, {.emit_created = true});
  EXPECT_EQ(with_created,
            "# TYPE j_jobs counter\n# HELP j_jobs Help.\n"
            "j_jobs_total{k=\"v\"} 5.0\n"
            "j_jobs_created{k=\"v\"} 1.70000000025e+09\n"
            "# TYPE k_plain unknown\n# HELP k_plain Help.\n"
            "k_plain 2.0\n"
            "# TYPE l_hist histogram\n# HELP l_hist Help.\n"
            "l_hist_bucket{le=\"1.0\"} 1\nl_hist_bucket{le=\"+Inf\"} 2\nl_hist_sum 3.5\nl_hist_count 2\n"
            "l_hist_created 1.700000001e+09\n"
            "# TYPE m_latency summary\n# HELP m_latency Help.\n"
            "m_latency{quantile=\"0.5\"} 1.5\nm_latency_sum 4.5\nm_latency_count 3\n"
            "m_latency_created 1.700000002e+09\n"
            "# TYPE n_zero counter\n# HELP n_zero Help.\n"
            "n_zero_total 0.0\n"
            "# EOF\n");
  const std::string without = m::encode_to_string(c, m::format::openmetrics);
  EXPECT_EQ(without.find("_created"), std::string::npos) << without;
  EXPECT_EQ(m::encode_to_string(c, m::format::text).find("_created"), std::string::npos);
  EXPECT_EQ(m::encode_to_string(c, m::format::text, {.emit_created = true}).find("_created"), std::string::npos);
  const auto parsed = parse_back(with_created, m::format::openmetrics);
  ASSERT_EQ(parsed.size(), 5u);
  ASSERT_EQ(parsed[0].samples.size(), 2u);
  EXPECT_EQ(parsed[0].samples[1].name, "j_jobs_created");
  EXPECT_EQ(parsed[0].samples[1].value, 1700000000.25);
  parse_back(without, m::format::openmetrics);
}

TEST(ExpositionOpenMetricsTest, RealMetricsGetCreatedTimestampsOfNow) {
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  m::registry reg;
  m::with(reg).new_counter({.name = "rc_total", .help = "C."}).inc();
  m::with(reg).new_histogram({.name = "rh", .help = "H.", .buckets = {1}}).observe(1);
  const auto fams = parse_back(om(reg, true), m::format::openmetrics);
  ASSERT_EQ(fams.size(), 2u);
  ASSERT_EQ(fams[0].samples.size(), 2u);
  EXPECT_EQ(fams[0].samples[1].name, "rc_created");
  EXPECT_GE(fams[0].samples[1].value, before - 1);
  EXPECT_LE(fams[0].samples[1].value, before + 600);
  EXPECT_EQ(fams[1].samples.back().name, "rh_created");
}

TEST(ExpositionOpenMetricsTest, ExemplarsOnCountersAndHistogramBuckets) {
  std::vector<m::family_snapshot> fams;
  {
    m::family_snapshot h{desc("ex_latency_seconds", m::metric_type::histogram), {}};
    m::series_snapshot s;
    s.upper_bounds = {0.1, 1};
    s.cumulative_counts = {0, 1, 2};
    s.count = 2;
    s.sum = 5.3;
    s.exemplars = {std::nullopt, make_exemplar({{"trace_id", "def"}, {"span_id", "1"}}, 0.3, 1700000000.5),
                   make_exemplar({{"trace_id", "inf"}}, 5, 1700000001)};
    h.series.push_back(s);
    fams.push_back(h);
    m::family_snapshot c{desc("ex_requests_total", m::metric_type::counter, {"k"}), {}};
    m::series_snapshot a;
    a.values = {"a"};
    a.value = 7;
    a.ex = make_exemplar({{"trace_id", "abc"}}, 0.3, 1700000000.5);
    c.series.push_back(a);
    m::series_snapshot b;
    b.values = {"b"};
    b.value = 1;
    b.ex = make_exemplar({{"trace_id", "q\"x"}}, 1, std::nullopt);
    c.series.push_back(b);
    fams.push_back(c);
  }
  const fixed_collector c(fams);
  const std::string body = m::encode_to_string(c, m::format::openmetrics);
  EXPECT_EQ(body,
            "# TYPE ex_latency_seconds histogram\n# HELP ex_latency_seconds Help.\n"
            "ex_latency_seconds_bucket{le=\"0.1\"} 0\n"
            "ex_latency_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"def\",span_id=\"1\"} 0.3 1.7000000005e+09\n"
            "ex_latency_seconds_bucket{le=\"+Inf\"} 2 # {trace_id=\"inf\"} 5.0 1.700000001e+09\n"
            "ex_latency_seconds_sum 5.3\nex_latency_seconds_count 2\n"
            "# TYPE ex_requests counter\n# HELP ex_requests Help.\n"
            "ex_requests_total{k=\"a\"} 7.0 # {trace_id=\"abc\"} 0.3 1.7000000005e+09\n"
            "ex_requests_total{k=\"b\"} 1.0 # {trace_id=\"q\\\"x\"} 1.0\n"
            "# EOF\n");
  const auto parsed = parse_back(body, m::format::openmetrics);
  ASSERT_EQ(parsed.size(), 2u);
  ASSERT_TRUE(parsed[1].samples[0].exemplar.has_value());
  EXPECT_EQ(parsed[1].samples[0].exemplar->labels, (m::labels{{"trace_id", "abc"}}));
  EXPECT_EQ(parsed[1].samples[0].exemplar->value, 0.3);
  EXPECT_EQ(parsed[1].samples[0].exemplar->timestamp, 1700000000.5);
  EXPECT_EQ(parsed[1].samples[1].exemplar->labels, (m::labels{{"trace_id", "q\"x"}}));
  // Text 0.0.4 has no exemplars.
  EXPECT_EQ(m::encode_to_string(c, m::format::text),
            "# HELP ex_latency_seconds Help.\n# TYPE ex_latency_seconds histogram\n"
            "ex_latency_seconds_bucket{le=\"0.1\"} 0\nex_latency_seconds_bucket{le=\"1\"} 1\n"
            "ex_latency_seconds_bucket{le=\"+Inf\"} 2\nex_latency_seconds_sum 5.3\nex_latency_seconds_count 2\n"
            "# HELP ex_requests_total Help.\n# TYPE ex_requests_total counter\n"
            "ex_requests_total{k=\"a\"} 7\nex_requests_total{k=\"b\"} 1\n");
}

TEST(ExpositionOpenMetricsTest, ExemplarsOfRealMetrics) {
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  m::registry reg;
  m::with(reg).new_counter({.name = "xr_total", .help = "C."}).add_with_exemplar(2, {{"trace_id", "abc"}});
  m::with(reg)
      .new_histogram({.name = "xh_seconds", .help = "H.", .buckets = {0.1, 1}})
      .observe_with_exemplar(0.3, {{"trace_id", "def"}});
  const std::string body = om(reg);
  EXPECT_NE(body.find("xh_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"def\"} 0.3 "), std::string::npos) << body;
  EXPECT_NE(body.find("xr_total 2.0 # {trace_id=\"abc\"} 2.0 "), std::string::npos) << body;
  const auto fams = parse_back(body, m::format::openmetrics);
  ASSERT_EQ(fams.size(), 2u);
  const m::parsed_sample& bucket = fams[0].samples[1];
  ASSERT_TRUE(bucket.exemplar.has_value());
  EXPECT_EQ(bucket.exemplar->value, 0.3);
  EXPECT_TRUE(bucket.exemplar->has_timestamp);
  EXPECT_GE(bucket.exemplar->timestamp, before - 1);
  EXPECT_FALSE(fams[0].samples[0].exemplar.has_value());
  EXPECT_FALSE(fams[0].samples[2].exemplar.has_value());
  ASSERT_TRUE(fams[1].samples[0].exemplar.has_value());
  EXPECT_EQ(fams[1].samples[0].exemplar->labels, (m::labels{{"trace_id", "abc"}}));
}

TEST(ExpositionOpenMetricsTest, WholeNumberFloatsGetPointZeroButIntegersDoNot) {
  m::registry reg;
  m::with(reg).new_gauge({.name = "g_a", .help = "G."}).set(0);
  m::with(reg).new_gauge({.name = "g_b", .help = "G."}).set(-1);
  m::with(reg).new_gauge({.name = "g_c", .help = "G."}).set(123456);
  m::with(reg).new_gauge({.name = "g_d", .help = "G."}).set(1e6);
  m::with(reg).new_gauge({.name = "g_e", .help = "G."}).set(0.25);
  m::summary& s = m::with(reg).new_summary({.name = "g_f", .help = "S."});
  s.observe(2);
  EXPECT_EQ(om(reg),
            "# TYPE g_a gauge\n# HELP g_a G.\ng_a 0.0\n"
            "# TYPE g_b gauge\n# HELP g_b G.\ng_b -1.0\n"
            "# TYPE g_c gauge\n# HELP g_c G.\ng_c 123456.0\n"
            "# TYPE g_d gauge\n# HELP g_d G.\ng_d 1e+06\n"
            "# TYPE g_e gauge\n# HELP g_e G.\ng_e 0.25\n"
            "# TYPE g_f summary\n# HELP g_f S.\ng_f_sum 2.0\ng_f_count 1\n"
            "# EOF\n");
}

TEST(ExpositionOpenMetricsTest, CounterNamedExactlyTotalKeepsItsName) {
  m::registry reg;
  m::with(reg).new_counter({.name = "_total", .help = "T."}).inc();
  const std::string body = om(reg);
  EXPECT_EQ(body, "# TYPE _total unknown\n# HELP _total T.\n_total 1.0\n# EOF\n");
  parse_back(body, m::format::openmetrics);
}

// ---- OpenMetrics validity -------------------------------------------------------------------------
//
// Whatever a program does with operant's own metrics, the OpenMetrics exposition must be valid
// (OpenMetrics 1.0: "Partial or invalid expositions MUST be considered erroneous in their
// entirety"), so each of these parses the output with parse_openmetrics. Where the library could
// instead reject the operation with an error, that is accepted too.

std::string om_parse_error(const m::registry& reg) {
  const std::string body = om(reg, true);
  try {
    m::parse_openmetrics(body);
  } catch (const m::parse_error& e) {
    return std::string(e.what()) + "\n--- body ---\n" + body;
  }
  return "";
}

// "Semantically, Sum, and buckets values are counters so MUST NOT be NaN or negative."
TEST(ExpositionOpenMetricsValidityTest, HistogramWithNegativeObservationIsValid) {
  m::registry reg;
  m::with(reg).new_histogram({.name = "neg_obs", .help = "H.", .buckets = {1}}).observe(-2);
  EXPECT_EQ(om_parse_error(reg), "");
}

TEST(ExpositionOpenMetricsValidityTest, HistogramWithNaNObservationIsValid) {
  m::registry reg;
  m::with(reg).new_histogram({.name = "nan_obs", .help = "H.", .buckets = {1}})
      .observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(om_parse_error(reg), "");
}

// "Negative threshold buckets MAY be used, but then the Histogram MetricPoint MUST NOT contain a
// sum value as it would no longer be a counter semantically."
TEST(ExpositionOpenMetricsValidityTest, HistogramWithNegativeBucketBoundIsValid) {
  m::registry reg;
  m::histogram* h = nullptr;
  try {
    h = &m::with(reg).new_histogram({.name = "neg_bounds", .help = "H.", .buckets = {-1, 0, 1}});
  } catch (const m::error&) {
    return;  // rejecting negative bounds would be valid too
  }
  h->observe(0.5);
  EXPECT_EQ(om_parse_error(reg), "");
}

// "Count and Sum values are counters so MUST NOT be NaN or negative." and "Quantile values MUST
// NOT be negative."
TEST(ExpositionOpenMetricsValidityTest, SummaryWithNegativeObservationIsValid) {
  m::registry reg;
  m::with(reg).new_summary({.name = "neg_summary", .help = "S.", .objectives = {{0.5, 0.05}}}).observe(-2);
  EXPECT_EQ(om_parse_error(reg), "");
}

// "MetricFamilies of type Info MUST have an empty Unit string."
TEST(ExpositionOpenMetricsValidityTest, InfoWithUnitIsRejectedOrValid) {
  m::registry reg;
  try {
    m::with(reg).new_info({.name = "disk_bytes", .help = "I.", .unit = "bytes", .label_names = {"dev"}}).labels("sda");
  } catch (const m::error&) {
    return;
  }
  EXPECT_EQ(om_parse_error(reg), "");
}

// OpenMetrics allows exemplars only on counter `_total` and histogram `_bucket` samples; a counter
// named without `_total` is exposed as `unknown`.
TEST(ExpositionOpenMetricsValidityTest, ExemplarOnCounterWithoutTotalSuffixIsRejectedOrValid) {
  m::registry reg;
  m::counter& c = m::with(reg).new_counter({.name = "events", .help = "E."});
  try {
    c.add_with_exemplar(1, {{"trace_id", "abc"}});
  } catch (const m::error&) {
    return;
  }
  EXPECT_EQ(om_parse_error(reg), "");
}

// An exemplar's label set, like any label set, has unique names.
TEST(ExpositionOpenMetricsValidityTest, ExemplarWithRepeatedLabelNameIsRejected) {
  m::registry reg;
  m::counter& c = m::with(reg).new_counter({.name = "dup_ex_total", .help = "E."});
  EXPECT_THROW(c.add_with_exemplar(1, {{"trace_id", "a"}, {"trace_id", "b"}}), m::error)
      << om_parse_error(reg);
  m::histogram& h = m::with(reg).new_histogram({.name = "dup_ex_hist", .help = "H.", .buckets = {1}});
  EXPECT_THROW(h.observe_with_exemplar(0.5, {{"span_id", "a"}, {"span_id", "b"}}), m::error);
  EXPECT_EQ(om_parse_error(reg), "");
}

// ---- negotiation ----------------------------------------------------------------------------------

constexpr std::string_view ct_text = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view ct_om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
constexpr std::string_view ct_om_001 = "application/openmetrics-text; version=0.0.1; charset=utf-8";

void expect_negotiates(std::string_view accept, m::format f, std::string_view ct) {
  const m::negotiation n = m::negotiate(accept);
  EXPECT_EQ(n.format, f) << accept;
  EXPECT_EQ(n.content_type, ct) << accept;
}

TEST(ExpositionNegotiateTest, ContentTypes) {
  EXPECT_EQ(m::content_type(m::format::text), ct_text);
  EXPECT_EQ(m::content_type(m::format::openmetrics), ct_om);
}

TEST(ExpositionNegotiateTest, PrometheusDefaultAcceptPicksOpenMetrics) {
  // Prometheus 2.42's scrape Accept header.
  expect_negotiates(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      m::format::openmetrics, ct_om);
  // Prometheus 3's, with escaping parameters and text/plain 1.0.0 (which operant does not speak).
  expect_negotiates(
      "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
      "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
      "text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
      m::format::openmetrics, ct_om);
}

TEST(ExpositionNegotiateTest, QValuesDecide) {
  expect_negotiates("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5",
                    m::format::text, ct_text);
  expect_negotiates("text/plain;q=0.5, application/openmetrics-text; version=1.0.0; q=0.6",
                    m::format::openmetrics, ct_om);
  expect_negotiates("application/openmetrics-text;version=0.0.1;q=0.8,application/openmetrics-text;version=1.0.0;q=0.7",
                    m::format::openmetrics, ct_om_001);
  // Ties go to the earlier entry.
  expect_negotiates("text/plain;q=0.5,application/openmetrics-text;q=0.5", m::format::text, ct_text);
  expect_negotiates("application/openmetrics-text;q=0.5,text/plain;q=0.5", m::format::openmetrics, ct_om);
  // Unsupported entries with a high q are skipped.
  expect_negotiates("application/json;q=1,text/plain;version=0.0.4;q=0.1", m::format::text, ct_text);
  expect_negotiates("application/json,application/openmetrics-text;q=0.2", m::format::openmetrics, ct_om);
}

TEST(ExpositionNegotiateTest, VersionsAreAnsweredAsAsked) {
  expect_negotiates("application/openmetrics-text;version=0.0.1", m::format::openmetrics, ct_om_001);
  expect_negotiates("application/openmetrics-text; version=\"1.0.0\"", m::format::openmetrics, ct_om);
  expect_negotiates("application/openmetrics-text;version=2.0.0", m::format::text, ct_text);
  expect_negotiates("text/plain", m::format::text, ct_text);
  expect_negotiates("text/plain;version=0.0.4", m::format::text, ct_text);
  expect_negotiates("text/plain;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.1",
                    m::format::openmetrics, ct_om_001);
  expect_negotiates("TEXT/PLAIN;VERSION=0.0.4", m::format::text, ct_text);
  expect_negotiates("Application/OpenMetrics-Text;Version=1.0.0", m::format::openmetrics, ct_om);
}

TEST(ExpositionNegotiateTest, QZeroRefuses) {
  expect_negotiates("application/openmetrics-text;version=1.0.0;q=0", m::format::text, ct_text);
  expect_negotiates("application/openmetrics-text;q=0,text/plain;q=0.1", m::format::text, ct_text);
  expect_negotiates("text/plain;q=0,application/openmetrics-text;q=0.1", m::format::openmetrics, ct_om);
}

TEST(ExpositionNegotiateTest, UnknownEmptyOrMalformedFallsBackToText) {
  expect_negotiates("", m::format::text, ct_text);
  expect_negotiates("application/json", m::format::text, ct_text);
  expect_negotiates("*/*", m::format::text, ct_text);
  expect_negotiates(",,,;;;", m::format::text, ct_text);
  expect_negotiates("application/openmetrics-text;q=abc", m::format::text, ct_text);
  expect_negotiates("application/openmetrics-text;q=2", m::format::text, ct_text);
  expect_negotiates("application/openmetrics-text;q=-1", m::format::text, ct_text);
  expect_negotiates("garbage\x01\xff", m::format::text, ct_text);
}

// ---- streaming ------------------------------------------------------------------------------------

class recording_sink final : public m::output_sink {
 public:
  void write(std::string_view chunk) override {
    sizes.push_back(chunk.size());
    body.append(chunk);
  }
  std::vector<std::size_t> sizes;
  std::string body;
};

TEST(ExpositionStreamingTest, LargeScrapeIsStreamedInBoundedChunks) {
  m::registry reg;
  auto& f = m::with(reg).new_gauge_family({.name = "stream_series", .help = "S.", .label_names = {"id"}});
  for (int i = 0; i < 100000; ++i) f.labels(std::to_string(i)).set(i);
  for (m::format fmt_ : {m::format::text, m::format::openmetrics}) {
    recording_sink sink;
    m::encode(reg, fmt_, sink);
    EXPECT_GT(sink.sizes.size(), 10u);
    for (std::size_t s : sink.sizes) {
      EXPECT_GT(s, 0u);
      EXPECT_LE(s, 70u * 1024u);
    }
    EXPECT_EQ(sink.body, m::encode_to_string(reg, fmt_));
    EXPECT_GT(sink.body.size(), 100000u * 20u);
  }
}

TEST(ExpositionStreamingTest, EncoderUsedDirectlyWritesOnFinish) {
  m::registry reg;
  m::with(reg).new_gauge({.name = "direct", .help = "D."}).set(1);
  recording_sink sink;
  {
    m::encoder e(m::format::openmetrics, sink);
    reg.gather(e);
    EXPECT_TRUE(sink.sizes.empty());  // small output is buffered until finish()
    e.finish();
  }
  EXPECT_EQ(sink.body, "# TYPE direct gauge\n# HELP direct D.\ndirect 1.0\n# EOF\n");
  EXPECT_EQ(sink.sizes.size(), 1u);
}

}  // namespace

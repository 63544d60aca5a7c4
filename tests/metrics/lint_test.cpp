#include "operant/metrics/lint.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace operant::metrics {

// Found by ADL: gtest prints problems as promtool does. (PrintTo is the name gtest looks for.)
// NOLINTNEXTLINE(readability-identifier-naming)
inline void PrintTo(const lint_problem& p, std::ostream* os) { *os << p.metric << " " << p.text; }

namespace {

using problems = std::vector<lint_problem>;

// One rule per input; every input is otherwise clean.
struct rule_case {
  const char* name;
  const char* input;
  problems want;
};

const std::vector<rule_case>& rule_cases() {
  static const std::vector<rule_case> cases = {
      {"no_help", "# TYPE foo gauge\nfoo 1\n", {{"foo", "no help text"}}},
      {"base_unit_milliseconds",
       "# HELP foo_milliseconds x\n# TYPE foo_milliseconds gauge\nfoo_milliseconds 1\n",
       {{"foo_milliseconds", "use base unit \"seconds\" instead of \"milliseconds\""}}},
      {"base_unit_kilobytes",
       "# HELP disk_kilobytes x\n# TYPE disk_kilobytes gauge\ndisk_kilobytes 1\n",
       {{"disk_kilobytes", "use base unit \"bytes\" instead of \"kilobytes\""}}},
      {"base_unit_hours",
       "# HELP up_hours x\n# TYPE up_hours gauge\nup_hours 1\n",
       {{"up_hours", "use base unit \"seconds\" instead of \"hours\""}}},
      {"base_unit_kelvins",
       "# HELP t_kelvins x\n# TYPE t_kelvins gauge\nt_kelvins 1\n",
       {{"t_kelvins", "use base unit \"kelvin\" instead of \"kelvins\""}}},
      {"base_unit_megabits_in_the_middle",
       "# HELP net_megabits_total x\n# TYPE net_megabits_total counter\nnet_megabits_total 1\n",
       {{"net_megabits_total", "use base unit \"bytes\" instead of \"megabits\""}}},
      {"counter_without_total",
       "# HELP foo x\n# TYPE foo counter\nfoo 1\n",
       {{"foo", "counter metrics should have \"_total\" suffix"}}},
      {"gauge_with_total",
       "# HELP foo_total x\n# TYPE foo_total gauge\nfoo_total 1\n",
       {{"foo_total", "non-counter metrics should not have \"_total\" suffix"}}},
      {"gauge_with_bucket",
       "# HELP foo_bucket x\n# TYPE foo_bucket gauge\nfoo_bucket 1\n",
       {{"foo_bucket", "non-histogram metrics should not have \"_bucket\" suffix"}}},
      {"gauge_with_count",
       "# HELP foo_count x\n# TYPE foo_count gauge\nfoo_count 1\n",
       {{"foo_count", "non-histogram and non-summary metrics should not have \"_count\" suffix"}}},
      {"gauge_with_sum",
       "# HELP foo_sum x\n# TYPE foo_sum gauge\nfoo_sum 1\n",
       {{"foo_sum", "non-histogram and non-summary metrics should not have \"_sum\" suffix"}}},
      {"gauge_with_le_label",
       "# HELP foo x\n# TYPE foo gauge\nfoo{le=\"1\"} 1\n",
       {{"foo", "non-histogram metrics should not have \"le\" label"}}},
      {"gauge_with_quantile_label",
       "# HELP foo x\n# TYPE foo gauge\nfoo{quantile=\"1\"} 1\n",
       {{"foo", "non-summary metrics should not have \"quantile\" label"}}},
      {"type_counter_in_name",
       "# HELP foo_counter x\n# TYPE foo_counter gauge\nfoo_counter 1\n",
       {{"foo_counter", "metric name should not include type 'counter'"}}},
      {"type_gauge_inside_name",
       "# HELP x_gauge_thing x\n# TYPE x_gauge_thing gauge\nx_gauge_thing 1\n",
       {{"x_gauge_thing", "metric name should not include type 'gauge'"}}},
      {"type_summary_in_name",
       "# HELP a_summary x\n# TYPE a_summary gauge\na_summary 1\n",
       {{"a_summary", "metric name should not include type 'summary'"}}},
      {"type_histogram_in_name",
       "# HELP a_histogram x\n# TYPE a_histogram gauge\na_histogram 1\n",
       {{"a_histogram", "metric name should not include type 'histogram'"}}},
      {"type_gauge_histogram_in_name",
       "# HELP a_gauge_histogram x\n# TYPE a_gauge_histogram untyped\na_gauge_histogram 1\n",
       {{"a_gauge_histogram", "metric name should not include type 'gauge'"},
        {"a_gauge_histogram", "metric name should not include type 'gauge_histogram'"},
        {"a_gauge_histogram", "metric name should not include type 'histogram'"}}},
      {"colon",
       "# HELP a:b x\n# TYPE a:b gauge\na:b 1\n",
       {{"a:b", "metric names should not contain ':'"}}},
      {"camel_case_metric",
       "# HELP fooBar x\n# TYPE fooBar gauge\nfooBar 1\n",
       {{"fooBar", "metric names should be written in 'snake_case' not 'camelCase'"}}},
      {"camel_case_label",
       "# HELP foo x\n# TYPE foo gauge\nfoo{someLabel=\"1\"} 1\n",
       {{"foo", "label names should be written in 'snake_case' not 'camelCase'"}}},
      {"abbreviated_unit",
       "# HELP latency_ms x\n# TYPE latency_ms gauge\nlatency_ms 1\n",
       {{"latency_ms", "metric names should not contain abbreviated units"}}},
      {"abbreviated_units_twice",
       "# HELP a_s_ms x\n# TYPE a_s_ms gauge\na_s_ms 1\n",
       {{"a_s_ms", "metric names should not contain abbreviated units"},
        {"a_s_ms", "metric names should not contain abbreviated units"}}},
  };
  return cases;
}

TEST(Lint, EachRuleTriggersWithItsExactText) {
  for (const auto& c : rule_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(lint_text(c.input), c.want);
  }
}

const char* const clean_input = R"(# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 1027
http_requests_total{code="400",method="post"} 3
# HELP request_duration_seconds Request latency.
# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{le="0.1"} 1
request_duration_seconds_bucket{le="+Inf"} 2
request_duration_seconds_sum 0.3
request_duration_seconds_count 2
# HELP rpc_duration_seconds RPC latency.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 0.1
rpc_duration_seconds_sum 1
rpc_duration_seconds_count 10
# HELP memory_bytes Memory in use.
# TYPE memory_bytes gauge
memory_bytes 1e+06
# HELP temperature_celsius Temperature.
# TYPE temperature_celsius gauge
temperature_celsius{sensor="thermometers"} 21.5
# HELP things_untyped_total Untyped may end in _total and use le.
# TYPE things_untyped_total untyped
things_untyped_total{le="1",quantile="2"} 1
)";

TEST(Lint, CleanInputHasNoProblems) { EXPECT_EQ(lint_text(clean_input), problems{}); }

TEST(Lint, ProblemsAreSortedByMetricThenText) {
  const problems got = lint_text(
      "zz_count 1\n# TYPE b_total gauge\nb_total 1\n# TYPE a counter\na{fooBar=\"1\"} 1\n");
  const problems want = {
      {"a", "counter metrics should have \"_total\" suffix"},
      {"a", "label names should be written in 'snake_case' not 'camelCase'"},
      {"a", "no help text"},
      {"b_total", "no help text"},
      {"b_total", "non-counter metrics should not have \"_total\" suffix"},
      {"zz_count", "no help text"},
  };
  EXPECT_EQ(got, want);
}

TEST(Lint, LabelRulesCountOncePerSeries) {
  // Summary "s" has two series (le="1", le="2"); its four samples of le="1" are one series.
  const problems got = lint_text(R"(# HELP s x
# TYPE s summary
s{le="1",quantile="0.5"} 1
s{le="1",quantile="0.9"} 1
s_sum{le="1"} 1
s_count{le="1"} 1
s{le="2",quantile="0.5"} 1
# HELP h x
# TYPE h histogram
h_bucket{quantile="1",le="1"} 1
h_bucket{quantile="1",le="+Inf"} 1
h_sum{quantile="1"} 1
h_count{quantile="1"} 1
# HELP g x
# TYPE g gauge
g{le="1",aB="1"} 1
g{le="2",aB="2"} 1
)");
  const problems want = {
      {"g", "label names should be written in 'snake_case' not 'camelCase'"},
      {"g", "label names should be written in 'snake_case' not 'camelCase'"},
      {"g", "non-histogram metrics should not have \"le\" label"},
      {"g", "non-histogram metrics should not have \"le\" label"},
      {"h", "non-summary metrics should not have \"quantile\" label"},
      {"s", "non-histogram metrics should not have \"le\" label"},
      {"s", "non-histogram metrics should not have \"le\" label"},
  };
  EXPECT_EQ(got, want);
}

TEST(Lint, UntypedSkipsSuffixAndReservedLabelRules) {
  EXPECT_EQ(lint_text("# HELP x_bucket h\nx_bucket{le=\"1\"} 1\n"), problems{});
}

TEST(Lint, WorksOnParsedFamiliesDirectly) {
  parsed_family f;
  f.name = "jobs_processed";
  f.type = metric_type::counter;
  f.has_help = true;
  f.help = "x";
  EXPECT_EQ(lint({f}),
            (problems{{"jobs_processed", "counter metrics should have \"_total\" suffix"}}));
  f.type = metric_type::info;  // linted as the gauge the text format would show
  f.name = "build_info";
  EXPECT_EQ(lint({f}), problems{});
}

TEST(Lint, LintTextPropagatesParseErrors) {
  EXPECT_THROW(lint_text("foo 1"), parse_error);
  EXPECT_THROW(lint_text("# HELP a x\n# HELP a y\n"), parse_error);
}

// ---- cross-check against promtool (Prometheus 2.42 bundles promlint of client_golang 1.14) ----

bool have_promtool() {
  return std::system("command -v promtool >/dev/null 2>&1") == 0;  // NOLINT(concurrency-mt-unsafe)
}

struct promtool_result {
  int exit_code = -1;
  std::vector<std::string> lines;
};

promtool_result run_promtool(const std::string& input) {
  static int counter = 0;
  const std::string base = testing::TempDir() + "operant_lint_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter++);
  const std::string in = base + ".in";
  const std::string out = base + ".out";
  {
    std::ofstream f(in, std::ios::binary);
    f << input;
  }
  const std::string cmd = "promtool check metrics < '" + in + "' > '" + out + "' 2>&1";
  const int status = std::system(cmd.c_str());  // NOLINT(concurrency-mt-unsafe)
  promtool_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(out);
  for (std::string line; std::getline(f, line);) r.lines.push_back(line);
  std::remove(in.c_str());
  std::remove(out.c_str());
  return r;
}

std::vector<std::string> as_lines(const problems& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.metric + " " + p.text);
  return out;
}

TEST(LintPromtool, ProblemLinesMatchPromtoolCheckMetrics) {
  if (!have_promtool()) GTEST_SKIP() << "promtool not found";
  std::vector<std::string> inputs;
  for (const auto& c : rule_cases()) inputs.emplace_back(c.input);
  inputs.emplace_back(clean_input);
  inputs.emplace_back(R"(# HELP s x
# TYPE s summary
s{le="1",quantile="0.5"} 1
s_sum{le="1"} 1
s{le="2",quantile="0.5"} 1
# TYPE h histogram
h_bucket{quantile="1",le="+Inf"} 1
h_count{quantile="1"} 1
g{le="1",aB="1"} 1
# HELP process_cpu_seconds_total CPU.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1
# TYPE go_memstats_alloc_bytes_total gauge
go_memstats_alloc_bytes_total 1
# TYPE weird:Name_count summary
weird:Name_count 1
# TYPE x_gauge_histogram_sum histogram
x_gauge_histogram_sum 1
# HELP dist_centimeters d
# TYPE dist_centimeters gauge
dist_centimeters{someThing="1"} 1
# HELP up_days d
# TYPE up_days gauge
up_days 1
# HELP w_pounds d
# TYPE w_pounds gauge
w_pounds 1
# HELP e_calories_total d
# TYPE e_calories_total counter
e_calories_total 1
# HELP t_fahrenheit d
# TYPE t_fahrenheit gauge
t_fahrenheit 1
# HELP l_inches d
# TYPE l_inches gauge
l_inches 1
# HELP b_gibibytes d
# TYPE b_gibibytes gauge
b_gibibytes 1
# HELP thermometers_total d
# TYPE thermometers_total counter
thermometers_total 1
# HELP abbr_sec_kb_mb_gb_tb_pb_b_m_h_d_us_ns d
# TYPE abbr_sec_kb_mb_gb_tb_pb_b_m_h_d_us_ns gauge
abbr_sec_kb_mb_gb_tb_pb_b_m_h_d_us_ns 1
# HELP Upper_MS_Total d
# TYPE Upper_MS_Total gauge
Upper_MS_Total 1
)");
  for (const auto& input : inputs) {
    SCOPED_TRACE("input:\n" + input);
    const problems ours = lint_text(input);
    const promtool_result theirs = run_promtool(input);
    EXPECT_EQ(theirs.exit_code, ours.empty() ? 0 : 3);
    EXPECT_EQ(theirs.lines, as_lines(ours));
  }
}

// parse_text must reject what promtool's TextParser rejects, on the same line, and accept the
// rest. (Not compared: the contiguity and HELP UTF-8 checks, which TextParser lacks.)
TEST(LintPromtool, ParseErrorsMatchPromtoolLines) {
  if (!have_promtool()) GTEST_SKIP() << "promtool not found";
  const std::vector<std::string> bad = {
      "a 1",
      "a 1 \n",
      "a 1 2 3\n",
      "a 1 1.5\n",
      "a 1 9223372036854775808\n",
      "ok 1\n\n# comment\nbad{a=1} 1\n",
      "# TYPE a gauge\n# TYPE a counter\n",
      "a 1\n# TYPE a gauge\n",
      "# HELP a x\n# HELP a y\n",
      "# TYPE s summary\n# HELP s x\n# HELP s_count y\n",
      "# TYPE a gauges\n",
      "# TYPE a gauge \n",
      "# HELP 1a x\n",
      "1a 1\n",
      "{a=\"b\"} 1\n",
      "a{1=\"b\"} 1\n",
      "a{b-c=\"d\"} 1\n",
      "a{b=c} 1\n",
      "a{b=\"c} 1\n",
      "a{b=\"c\" d=\"e\"} 1\n",
      "a{b=\"1\",b=\"2\"} 1\n",
      "a{__name__=\"x\"} 1\n",
      "a{b=\"\\t\"} 1\n",
      "a{b=\"\xff\"} 1\n",
      "# HELP a x\\ty\n",
      "# HELP a x\\\n",
      "a x\n",
      "a 0x1p3\n",
      "a 1_000\n",
      "a 1e400\n",
      "a +NaN\n",
      "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
      "# TYPE s summary\ns{quantile=\"q\"} 1\n",
      "x 1\n# HELP\n# comment\n#\ny 2\nz",
  };
  for (const auto& input : bad) {
    SCOPED_TRACE("input: " + input);
    std::size_t line = 0;
    try {
      parse_text(input);
      ADD_FAILURE() << "parse_text accepted it";
    } catch (const parse_error& e) {
      line = e.line();
    }
    const promtool_result theirs = run_promtool(input);
    EXPECT_EQ(theirs.exit_code, 1);
    ASSERT_FALSE(theirs.lines.empty());
    const std::string prefix =
        "error while linting: text format parsing error in line " + std::to_string(line) + ":";
    EXPECT_EQ(theirs.lines[0].rfind(prefix, 0), 0u) << theirs.lines[0];
  }
  const std::vector<std::string> good = {
      "foo { a = \"1\" ,\tb=\"2\", } 3\nbar{}\t4\nbaz{a=\"x\"}5\n",
      "a NaN\nb +Inf\nc -Inf\nd Inf\ne 1e-300\nf 1e300\ng -0\nh inf\ni +infinity\nj nan\n"
      "k 1e-400\nl .5\nm 5.\nn 1E3\n",
      "a 1 -5\nb 2 +7\n\n  # comment\n# HELP only_metadata x\n",
      "# TYPE c \\coun\\ter\nc 1\n# HELP c\n# TYPE\nd+1\ne{}-2\n",
  };
  for (const auto& input : good) {
    SCOPED_TRACE("input: " + input);
    EXPECT_NO_THROW(parse_text(input));
    const promtool_result theirs = run_promtool(input);
    EXPECT_NE(theirs.exit_code, 1);
    for (const auto& l : theirs.lines) EXPECT_EQ(l.rfind("error", 0), std::string::npos) << l;
  }
}

}  // namespace
}  // namespace operant::metrics

#include "operant/metrics/parse.h"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace operant::metrics {
namespace {

// Expects parse to throw parse_error for `input` at `line`, with every string of `needles` in
// what(). Returns the message for further checks.
template <typename Parse>
std::string expect_error(Parse parse, const std::string& input, std::size_t line,
                         std::initializer_list<std::string> needles) {
  SCOPED_TRACE("input: " + input);
  try {
    parse(input);
  } catch (const parse_error& e) {
    std::string what = e.what();
    EXPECT_EQ(e.line(), line) << what;
    EXPECT_EQ(what.rfind("line " + std::to_string(line) + ": ", 0), 0u) << what;
    for (const auto& n : needles)
      EXPECT_NE(what.find(n), std::string::npos) << what << "\n  lacks: " << n;
    return what;
  }
  ADD_FAILURE() << "no parse_error";
  return {};
}

std::string text_error(const std::string& input, std::size_t line,
                       std::initializer_list<std::string> needles) {
  return expect_error([](const std::string& s) { return parse_text(s); }, input, line, needles);
}

std::string om_error(const std::string& input, std::size_t line,
                     std::initializer_list<std::string> needles = {}) {
  return expect_error([](const std::string& s) { return parse_openmetrics(s); }, input, line,
                      needles);
}

// Each input must be rejected by parse_openmetrics (with any line).
void om_rejects(std::initializer_list<std::string> inputs) {
  for (const auto& input : inputs) {
    SCOPED_TRACE("input: " + input);
    EXPECT_THROW(parse_openmetrics(input), parse_error);
  }
}

// ---- text format 0.0.4 -------------------------------------------------------------------------

TEST(ParseText, EscapesInHelpAndLabelValuesRoundTripExactly) {
  const auto families = parse_text(
      "# HELP foo Help with \\\\ backslash,\\nnewline and \"quotes\" and \xC3\xBC\xE2\x82\xAC"
      "\xF0\x9F\x98\x80\n"
      "# TYPE foo gauge\n"
      "foo{a=\"quote \\\" backslash \\\\ newline \\n "
      "end\",b=\"\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80\""
      ",c=\"\"} 1\n");
  ASSERT_EQ(families.size(), 1u);
  const auto& f = families[0];
  EXPECT_EQ(f.name, "foo");
  EXPECT_TRUE(f.has_help);
  EXPECT_EQ(f.help,
            "Help with \\ backslash,\nnewline and \"quotes\" and \xC3\xBC\xE2\x82\xAC"
            "\xF0\x9F\x98\x80");
  EXPECT_EQ(f.type, metric_type::gauge);
  EXPECT_EQ(f.type_name, "gauge");
  ASSERT_EQ(f.samples.size(), 1u);
  const labels want = {{"a", "quote \" backslash \\ newline \n end"},
                       {"b", "\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80"},
                       {"c", ""}};
  EXPECT_EQ(f.samples[0].labels, want);
  EXPECT_EQ(f.samples[0].value, 1.0);
  EXPECT_FALSE(f.samples[0].timestamp.has_value());
  EXPECT_FALSE(f.samples[0].exemplar.has_value());
}

TEST(ParseText, SpecialAndExtremeValues) {
  const auto families = parse_text(
      "a NaN\nb +Inf\nc -Inf\nd Inf\ne 1e-300\nf 1e300\ng -0\nh inf\ni +infinity\nj nan\n"
      "k 1e-400\nl .5\nm 5.\nn 1E3\no 4.9e-324\np 1.7976931348623157e308\nq -12.5e-1\n");
  ASSERT_EQ(families.size(), 17u);
  auto v = [&](std::size_t i) { return families[i].samples.at(0).value; };
  constexpr double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(std::isnan(v(0)));
  EXPECT_EQ(v(1), inf);
  EXPECT_EQ(v(2), -inf);
  EXPECT_EQ(v(3), inf);
  EXPECT_EQ(v(4), 1e-300);
  EXPECT_EQ(v(5), 1e300);
  EXPECT_EQ(v(6), 0.0);
  EXPECT_TRUE(std::signbit(v(6)));
  EXPECT_EQ(v(7), inf);
  EXPECT_EQ(v(8), inf);
  EXPECT_TRUE(std::isnan(v(9)));
  EXPECT_EQ(v(10), 0.0);  // below the double range: zero, as Go's ParseFloat
  EXPECT_EQ(v(11), 0.5);
  EXPECT_EQ(v(12), 5.0);
  EXPECT_EQ(v(13), 1000.0);
  EXPECT_EQ(v(14), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(v(15), std::numeric_limits<double>::max());
  EXPECT_EQ(v(16), -1.25);
}

TEST(ParseText, ValuesGoParseFloatRejects) {
  for (const char* bad : {"0x1p3", "0x10", "1_000", "1e400", "-1e400", "+NaN", "infin", "1e", ".",
                          "--1", "1.2.3", "1,5", "one", "0b1", "Inf1"}) {
    text_error(std::string("a ") + bad + "\n", 1,
               {"expected float as value", "\"" + std::string(bad) + "\""});
  }
}

TEST(ParseText, Timestamps) {
  const auto families =
      parse_text("a 1 1234567890123\nb 2 -5\nc 3 9223372036854775807\nd 4\t\t+7\n");
  ASSERT_EQ(families.size(), 4u);
  EXPECT_EQ(families[0].samples[0].timestamp, 1234567890123.0);
  EXPECT_EQ(families[1].samples[0].timestamp, -5.0);
  EXPECT_EQ(families[2].samples[0].timestamp, 9223372036854775807.0);
  EXPECT_EQ(families[3].samples[0].timestamp, 7.0);
  text_error("a 1 9223372036854775808\n", 1,
             {"expected integer as timestamp", "\"9223372036854775808\""});
  text_error("a 1 1.5\n", 1, {"expected integer as timestamp", "\"1.5\""});
  text_error("a 1 2 3\n", 1, {"spurious string after timestamp", "\" 3\""});
  // TextParser allows nothing after the value, not even a blank.
  text_error("a 1 \n", 1, {"expected integer as timestamp", "\"\""});
}

TEST(ParseText, HistogramAndSummarySamplesAreGroupedUnderTheFamily) {
  const auto families = parse_text(R"(# HELP h A histogram.
# TYPE h histogram
h_bucket{path="/",le="0.5"} 1
h_bucket{path="/",le="+Inf"} 3
h_sum{path="/"} 2.5
h_count{path="/"} 3
# HELP s A summary.
# TYPE s summary
s{quantile="0.5"} 1
s{quantile="0.9"} NaN
s_sum 10
s_count 4
x_bucket{le="1"} 1
x_count 2
)");
  ASSERT_EQ(families.size(), 4u);
  const auto& h = families[0];
  EXPECT_EQ(h.name, "h");
  EXPECT_EQ(h.type, metric_type::histogram);
  EXPECT_EQ(h.help, "A histogram.");
  ASSERT_EQ(h.samples.size(), 4u);
  EXPECT_EQ(h.samples[0].name, "h_bucket");
  EXPECT_EQ(h.samples[0].labels, (labels{{"path", "/"}, {"le", "0.5"}}));
  EXPECT_EQ(h.samples[1].labels, (labels{{"path", "/"}, {"le", "+Inf"}}));
  EXPECT_EQ(h.samples[1].value, 3.0);
  EXPECT_EQ(h.samples[2].name, "h_sum");
  EXPECT_EQ(h.samples[2].value, 2.5);
  EXPECT_EQ(h.samples[3].name, "h_count");

  const auto& s = families[1];
  EXPECT_EQ(s.name, "s");
  EXPECT_EQ(s.type, metric_type::summary);
  ASSERT_EQ(s.samples.size(), 4u);
  EXPECT_EQ(s.samples[0].name, "s");
  EXPECT_EQ(s.samples[0].labels, (labels{{"quantile", "0.5"}}));
  EXPECT_TRUE(std::isnan(s.samples[1].value));
  EXPECT_EQ(s.samples[2].name, "s_sum");
  EXPECT_EQ(s.samples[3].name, "s_count");

  // Without a TYPE line, _bucket and _count samples are families of their own.
  EXPECT_EQ(families[2].name, "x_bucket");
  EXPECT_EQ(families[2].type, metric_type::unknown);
  EXPECT_EQ(families[3].name, "x_count");
}

TEST(ParseText, TypesCommentsAndBlankLines) {
  const auto families = parse_text(R"(
# A comment.
   # TYPE u untyped
u 1
#   TYPE c COUNTER
#HELP c Counts.
c 2

# HELP only_metadata Has no samples.
# TYPE only_metadata gauge
# HELP nohelp
# TYPE nohelp
nohelp 3
	 indented 4
#
)");
  ASSERT_EQ(families.size(), 4u);
  EXPECT_EQ(families[0].name, "u");
  EXPECT_EQ(families[0].type, metric_type::unknown);
  EXPECT_EQ(families[0].type_name, "untyped");
  EXPECT_FALSE(families[0].has_help);
  EXPECT_EQ(families[1].name, "c");
  EXPECT_EQ(families[1].type, metric_type::counter);
  EXPECT_EQ(families[1].type_name, "COUNTER");
  EXPECT_EQ(families[1].help, "Counts.");
  EXPECT_EQ(families[2].name, "nohelp");  // "# HELP nohelp" without text is ignored
  EXPECT_FALSE(families[2].has_help);
  EXPECT_EQ(families[2].type_name, "");
  EXPECT_EQ(families[3].name, "indented");
  EXPECT_EQ(families[3].samples[0].value, 4.0);
}

TEST(ParseText, BackslashesInTypeAreDroppedAsTextParserDoes) {
  const auto families = parse_text("# TYPE c \\coun\\ter\nc 1\n");
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].type, metric_type::counter);
  EXPECT_EQ(families[0].type_name, "\\coun\\ter");
}

TEST(ParseText, BlanksAroundLabelsAndTrailingComma) {
  const auto families = parse_text("foo { a = \"1\" ,\tb=\"2\", } 3\nbar{}\t4\nbaz{a=\"x\"}5\n");
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].samples[0].labels, (labels{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(families[0].samples[0].value, 3.0);
  EXPECT_TRUE(families[1].samples[0].labels.empty());
  EXPECT_EQ(families[1].samples[0].value, 4.0);
  EXPECT_EQ(families[2].samples[0].value, 5.0);
}

TEST(ParseText, MetadataAndOrderingErrors) {
  text_error("# TYPE a gauge\n# TYPE a counter\n", 2, {"second TYPE line", "\"a\""});
  text_error("a 1\n# TYPE a gauge\n", 2, {"TYPE reported after samples", "\"a\""});
  text_error("# HELP a x\n# HELP a y\n", 2, {"second HELP line", "\"a\""});
  text_error("# TYPE s summary\n# HELP s x\n# HELP s_count y\n", 3, {"second HELP line", "\"s\""});
  text_error("# TYPE a gauges\n", 1, {"unknown metric type", "\"gauges\""});
  text_error("# TYPE a gauge \n", 1, {"unknown metric type", "\"gauge \""});
  text_error("# TYPE a gauge_histogram\n", 1, {"unknown metric type", "\"gauge_histogram\""});
  text_error("# HELP 1a x\n", 1, {"invalid metric name in HELP line", "'1'"});
  text_error("# TYPE a-b gauge\n", 1, {"invalid metric name in TYPE line", "'-'", "\"a\""});
  text_error("a 1\nb 1\na 2\n", 3, {"\"a\"", "was collected before", "contiguous"});
  text_error("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nother 1\nh_count 1\n", 4,
             {"\"h_count\"", "\"h\"", "was collected before"});
}

TEST(ParseText, SampleSyntaxErrors) {
  text_error("1a 1\n", 1, {"invalid metric name", "'1'"});
  text_error("{a=\"b\"} 1\n", 1, {"invalid metric name", "'{'"});
  text_error("a{1=\"b\"} 1\n", 1, {"invalid label name", "\"a\"", "'1'"});
  text_error("a{,} 1\n", 1, {"invalid label name", "','"});
  text_error("a{b-c=\"d\"} 1\n", 1, {"expected '=' after label name", "\"b\"", "'-'"});
  text_error("a{b} 1\n", 1, {"expected '=' after label name", "\"b\"", "'}'"});
  text_error("a{b=c} 1\n", 1, {"expected '\"' at start of the value", "\"b\"", "'c'"});
  text_error("a{b=\"c} 1\n", 1, {"not terminated", "\"b\""});
  text_error("a{b=\"c\" d=\"e\"} 1\n", 1, {"expected ',' or '}'", "'d'"});
  text_error("a{b=\"1\",b=\"2\"} 1\n", 1, {"duplicate label name", "\"b\""});
  text_error("a{__name__=\"x\"} 1\n", 1, {"\"__name__\" is reserved"});
  text_error("a{b=\"\\t\"} 1\n", 1, {"invalid escape sequence", "\"\\\\t\""});
  text_error("a{b=\"\xff\"} 1\n", 1, {"not valid UTF-8", "\"\\xff\""});
  text_error("# HELP a x\\ty\n", 1, {"invalid escape sequence", "\"\\\\t\""});
  text_error("# HELP a say \\\"hi\\\"\n", 1, {"invalid escape sequence", "\"\\\\\\\"\""});
  text_error("# HELP a x\\\n", 1, {"invalid escape sequence", "end of the HELP line"});
  text_error("# HELP a \xc3\x28\n", 1, {"not valid UTF-8"});
  text_error("a x\n", 1, {"expected float as value", "\"x\""});
  text_error("a\n", 1, {"expected float as value", "\"\""});
  text_error("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 2, {"'le'", "\"x\""});
  text_error("# TYPE s summary\ns{quantile=\"q\"} 1\n", 2, {"'quantile'", "\"q\""});
  text_error("ok 1\n\n# comment\nbad{a=1} 1\n", 4, {"'1'"});
  // TextParser needs the final newline ("unexpected end of input stream").
  text_error("a 1", 1, {"unexpected end of input"});
  text_error("a 1\n# comment", 2, {"unexpected end of input"});
  EXPECT_TRUE(parse_text("a 1\n  \t").size() == 1);
  EXPECT_TRUE(parse_text("").empty());
}

TEST(ParseText, ParseErrorIsAnOperantError) {
  try {
    parse_text("a b\n");
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "line 1: expected float as value of \"a\", got \"b\"");
  }
}

// ---- OpenMetrics 1.0: valid expositions --------------------------------------------------------

TEST(ParseOpenMetrics, CounterWithTotalCreatedUnitAndExemplar) {
  const auto families = parse_openmetrics(R"(# TYPE foo_seconds counter
# UNIT foo_seconds seconds
# HELP foo_seconds Time \"spent\"\n in \\ seconds.
foo_seconds_total{a="1"} 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67 1520879607.7
foo_seconds_created{a="1"} 1520430000.123 1520879607.789
foo_seconds_total{a="2"} 0 # {} 1
# EOF
)");
  ASSERT_EQ(families.size(), 1u);
  const auto& f = families[0];
  EXPECT_EQ(f.name, "foo_seconds");
  EXPECT_EQ(f.type, metric_type::counter);
  EXPECT_EQ(f.type_name, "counter");
  EXPECT_EQ(f.unit, "seconds");
  EXPECT_TRUE(f.has_help);
  EXPECT_EQ(f.help, "Time \"spent\"\n in \\ seconds.");
  ASSERT_EQ(f.samples.size(), 3u);
  const auto& total = f.samples[0];
  EXPECT_EQ(total.name, "foo_seconds_total");
  EXPECT_EQ(total.labels, (labels{{"a", "1"}}));
  EXPECT_EQ(total.value, 17.0);
  EXPECT_EQ(total.timestamp, 1520879607.789);
  ASSERT_TRUE(total.exemplar.has_value());
  EXPECT_EQ(total.exemplar->labels, (labels{{"trace_id", "KOO5S4vxi0o"}}));
  EXPECT_EQ(total.exemplar->value, 0.67);
  EXPECT_TRUE(total.exemplar->has_timestamp);
  EXPECT_EQ(total.exemplar->timestamp, 1520879607.7);
  EXPECT_EQ(f.samples[1].name, "foo_seconds_created");
  EXPECT_EQ(f.samples[1].value, 1520430000.123);
  ASSERT_TRUE(f.samples[2].exemplar.has_value());
  EXPECT_TRUE(f.samples[2].exemplar->labels.empty());
  EXPECT_FALSE(f.samples[2].exemplar->has_timestamp);
}

TEST(ParseOpenMetrics, HistogramWithExemplarsOnBuckets) {
  const auto families = parse_openmetrics(R"(# TYPE foo histogram
# HELP foo A histogram.
foo_bucket{le="0.01"} 0
foo_bucket{le="0.1"} 8 # {} 0.054
foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="10"} 17 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
foo_bucket{le="+Inf"} 17
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# EOF
)");
  ASSERT_EQ(families.size(), 1u);
  const auto& f = families[0];
  EXPECT_EQ(f.name, "foo");
  EXPECT_EQ(f.type, metric_type::histogram);
  ASSERT_EQ(f.samples.size(), 8u);
  EXPECT_FALSE(f.samples[0].exemplar.has_value());
  ASSERT_TRUE(f.samples[1].exemplar.has_value());
  EXPECT_EQ(f.samples[1].exemplar->value, 0.054);
  EXPECT_EQ(f.samples[3].exemplar->labels, (labels{{"trace_id", "oHg5SJYRHA0"}}));
  EXPECT_EQ(f.samples[3].exemplar->timestamp, 1520879607.789);
  EXPECT_EQ(f.samples[4].labels, (labels{{"le", "+Inf"}}));
  EXPECT_EQ(f.samples[7].name, "foo_created");
}

TEST(ParseOpenMetrics, InfoStatesetGaugeHistogramSummaryAndUnknown) {
  const auto families = parse_openmetrics(R"(# TYPE build info
# HELP build Build information.
build_info{version="8.2.7",name="pretty name"} 1
# TYPE state stateset
state{entity="controller",state="a"} 1.0
state{entity="controller",state="bb"} 0
# TYPE queue_seconds gaugehistogram
# UNIT queue_seconds seconds
queue_seconds_bucket{le="-1.0"} 1
queue_seconds_bucket{le="1.0"} 2
queue_seconds_bucket{le="+Inf"} 3
queue_seconds_gcount 3
queue_seconds_gsum -5
# TYPE rpc summary
rpc{quantile="0.5"} 1.5
rpc{quantile="0.99"} NaN
rpc_sum 10
rpc_count 4
rpc_created 1520430000
# TYPE mystery unknown
mystery 42.23
untyped_thing{a="b"} -Inf
# EOF)");
  ASSERT_EQ(families.size(), 6u);
  EXPECT_EQ(families[0].name, "build");
  EXPECT_EQ(families[0].type, metric_type::info);
  EXPECT_EQ(families[0].samples[0].name, "build_info");
  EXPECT_EQ(families[0].samples[0].labels, (labels{{"version", "8.2.7"}, {"name", "pretty name"}}));
  EXPECT_EQ(families[1].type, metric_type::unknown);
  EXPECT_EQ(families[1].type_name, "stateset");
  EXPECT_EQ(families[2].type, metric_type::unknown);
  EXPECT_EQ(families[2].type_name, "gaugehistogram");
  EXPECT_EQ(families[2].unit, "seconds");
  EXPECT_EQ(families[2].samples.back().value, -5.0);
  EXPECT_EQ(families[3].type, metric_type::summary);
  EXPECT_EQ(families[3].samples.size(), 5u);
  EXPECT_EQ(families[4].type, metric_type::unknown);
  EXPECT_EQ(families[4].type_name, "unknown");
  EXPECT_EQ(families[5].name, "untyped_thing");
  EXPECT_EQ(families[5].type_name, "");
  EXPECT_EQ(families[5].samples[0].value, -std::numeric_limits<double>::infinity());
}

TEST(ParseOpenMetrics, MetadataOnlyEmptyMetadataAndEscapes) {
  const auto families = parse_openmetrics(
      "# HELP a \n# UNIT a \n# TYPE g gauge\n# HELP g he\\z\\\\lp\\\n"
      "g{x=\"b\\\"a\\nr\\z # {}\",y=\"{a}\"} 1 -1\ng{x=\"2\"} 2 0\n# EOF\n");
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "a");
  EXPECT_FALSE(families[0].has_help);  // an empty HELP counts as none
  EXPECT_EQ(families[0].unit, "");
  EXPECT_TRUE(families[0].samples.empty());
  EXPECT_EQ(families[1].help, "he\\z\\lp\\");  // unknown escapes keep their backslash
  ASSERT_EQ(families[1].samples.size(), 2u);
  EXPECT_EQ(families[1].samples[0].labels, (labels{{"x", "b\"a\nr\\z # {}"}, {"y", "{a}"}}));
  EXPECT_EQ(families[1].samples[0].timestamp, -1.0);
}

TEST(ParseOpenMetrics, EofVariantsAndTimestamps) {
  EXPECT_TRUE(parse_openmetrics("# EOF").empty());
  EXPECT_TRUE(parse_openmetrics("# EOF\n").empty());
  const auto families = parse_openmetrics(R"(# TYPE foo_seconds summary
# UNIT foo_seconds seconds
foo_seconds_count{a="bb"} 0 123
foo_seconds_sum{a="bb"} 0 123
foo_seconds_count{a="bb"} 0 456
foo_seconds_sum{a="bb"} 0 456
foo_seconds_count{a="ccc"} 0 1.5e3
foo_seconds_sum{a="ccc"} 0 12345678901234567890.1234567890
# EOF)");
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].samples.size(), 6u);
  EXPECT_EQ(families[0].samples[4].timestamp, 1500.0);
}

TEST(ParseOpenMetrics, CornerCasesTheReferenceParserGetsWrong) {
  // Any character but '"', '\\' and newline may appear unescaped in a label value, '}' included.
  const auto families = parse_openmetrics(
      "# TYPE a counter\na_total{x=\"}{\"} 1 # {trace_id=\"KOO5S4}vxi0o\"} 0.67\n"
      "a_created{x=\"}{\"} 1\n# EOF\n");
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].samples[0].labels, (labels{{"x", "}{"}}));
  EXPECT_EQ(families[0].samples[0].exemplar->labels, (labels{{"trace_id", "KOO5S4}vxi0o"}}));
  // 1520879607789 is later than 1520879607.789.
  EXPECT_NO_THROW(
      parse_openmetrics("# TYPE a gauge\na 1 1520879607.789\na 2 1520879607789\n# EOF\n"));
  // ...and what it accepts but the ABNF does not.
  om_error("g{x=\"1\"}61 1\n# EOF\n", 1, {"expected a single space", "'6'"});
  om_error("#_created HELP g x\n# EOF\n", 1, {"no other comments"});
  om_error("# TYPE a counter\na_total 1  # {} 1\n# EOF\n", 2, {"missing timestamp", "' '"});
  om_error("# TYPE a counter\na_total 1 # {} 1 1.\t7\n# EOF\n", 2, {"invalid exemplar timestamp"});
  om_error("# TYPE a histogram\na_bucket{le=\" 1\"} 0\n# EOF\n", 2, {"invalid \"le\""});
}

TEST(ParseOpenMetrics, ExemplarOf128CodePointsIsAllowed) {
  // 1 ("a") + 127 three-byte characters = 128 code points.
  std::string value;
  for (int i = 0; i < 127; ++i) value += "\xE2\x82\xAC";
  const auto families =
      parse_openmetrics("# TYPE a counter\na_total 1 # {a=\"" + value + "\"} 1\n# EOF\n");
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].samples[0].exemplar->labels[0].value, value);
  om_error("# TYPE a counter\na_total 1 # {a=\"" + value + "x\"} 1\n# EOF\n", 2,
           {"129 code points", "128"});
}

// ---- OpenMetrics 1.0: invalid expositions (named after the OpenMetrics test suite) ------------

TEST(ParseOpenMetricsBad, NoEof) {
  om_error("", 1, {"missing \"# EOF\""});
  om_error("a 1\n", 2, {"missing \"# EOF\""});
  om_error("# TYPE a gauge\na 1", 3, {"missing \"# EOF\""});
}

TEST(ParseOpenMetricsBad, TextAfterEof) {
  om_error("a 1\n# EOF\nblah\n", 3, {"after \"# EOF\"", "\"blah\""});
  om_error("a 1\n# EOF\n\n", 3, {"after \"# EOF\""});
  om_error("a 1\n# EOFblah\n", 2, {"\"EOFblah\""});
  om_error("a 1\n# EOF \n", 2, {"\"EOF\""});
}

TEST(ParseOpenMetricsBad, BlankLinesCommentsAndLineEndings) {
  om_error("a 1\n\n# EOF\n", 2, {"empty line"});
  om_error("# just a comment\n# EOF\n", 1, {"\"just\""});
  om_error("#HELP a x\n# EOF\n", 1, {"\"#HELP a x\""});
  om_error("a 1\r\n# EOF\n", 1, {"invalid value", "\"1\\r\""});
  om_error(
      "\xEF\xBB\xBF"
      "a 1\n# EOF\n",
      1, {"invalid metric name"});
  om_error("a{b=\"\xff\"} 1\n# EOF\n", 1, {"not valid UTF-8"});
}

TEST(ParseOpenMetricsBad, MissingOrWrongQuotesOnLabelValue) {
  om_error("a{a=1} 1\n# EOF\n", 1, {"expected '\"'", "'1'"});
  om_error("a{a=\"1} 1\n# EOF\n", 1, {"not terminated"});
  om_error("a{a='1'} 1\n# EOF\n", 1, {"expected '\"'", "\"'\""});
}

TEST(ParseOpenMetricsBad, MissingEqualOrLabelValue) {
  om_error("a{a} 1\n# EOF\n", 1, {"expected '='", "\"a\"", "'}'"});
  om_error("a{a\"value\"} 1\n# EOF\n", 1, {"expected '='", "'\"'"});
  om_error("a{a\"\"} 1\n# EOF\n", 1, {"expected '='"});
  om_error("a{a=} 1\n# EOF\n", 1, {"expected '\"'", "'}'"});
  om_error("a{a=\"} 1\n# EOF\n", 1, {"not terminated"});
}

TEST(ParseOpenMetricsBad, MissingOrExtraCommas) {
  om_error("a{a=\"1\"b=\"2\"} 1\n# EOF\n", 1, {"expected ',' or '}'", "\"a\"", "'b'"});
  om_error("a{a=\"1\",,b=\"2\"} 1\n# EOF\n", 1, {"expected a label name", "','"});
  om_error("a{a=\"1\",b=\"2\",} 1\n# EOF\n", 1, {"expected a label name", "'}'"});
  om_error("a{,} 1\n# EOF\n", 1, {"expected a label name", "','"});
}

TEST(ParseOpenMetricsBad, InvalidLabels) {
  om_error("a{1=\"1\"} 1\n# EOF\n", 1, {"expected a label name", "'1'"});
  om_error("a{1=\"1\"}1\n# EOF\n", 1, {"expected a label name"});
  om_error("a{a=\"1\",a=\"1\"} 1\n# EOF\n", 1, {"duplicate label name", "\"a\""});
  om_error("a{a=\"1\"b} 1\n# EOF\n", 1, {"expected ',' or '}'"});
  om_error("a{1=\" # \"} 1\n# EOF\n", 1, {"expected a label name"});
  om_error("a{a=\" # \",a=\" # \"} 1\n# EOF\n", 1, {"duplicate label name"});
  om_error("a{a=\" # \"}1\n# EOF\n", 1, {"expected a single space", "'1'"});
  om_error("a{a=\" # \",b=}1\n# EOF\n", 1, {"expected '\"'"});
  om_error("a{ a=\"1\"} 1\n# EOF\n", 1, {"expected a label name", "' '"});
  om_error("a{a =\"1\"} 1\n# EOF\n", 1, {"expected '='", "' '"});
}

TEST(ParseOpenMetricsBad, MissingValue) {
  om_error("a\n# EOF\n", 1, {"expected a single space", "end of line"});
  om_error("a \n# EOF\n", 1, {"missing value"});
  om_error("a{} \n# EOF\n", 1, {"missing value"});
}

TEST(ParseOpenMetricsBad, BadHelpTypeUnitAndKeyword) {
  om_rejects({"# HELP\n# EOF\n", "# HELP \n# EOF\n", "# HELP a\n# EOF\n", "# HELP a\t\n# EOF\n",
              " # HELP a meh\n# EOF\n", "# TYPE\n# EOF\n", "# TYPE \n# EOF\n", "# TYPE a\n# EOF\n",
              "# TYPE a\t\n# EOF\n", "# UNIT\n# EOF\n", "# UNIT \n# EOF\n", "# UNIT a\n# EOF\n",
              "# UNIT a\t\n# EOF\n", "# HELP 0a x\n# EOF\n"});
  om_error("# HELP a\n# EOF\n", 1, {"incomplete HELP line"});
  om_error("# TYPE a meh\n# EOF\n", 1, {"invalid TYPE", "\"meh\""});
  om_error("# TYPE a meh \n# EOF\n", 1, {"invalid TYPE", "\"meh \""});
  om_error("# TYPE a gauge \n# EOF\n", 1, {"invalid TYPE", "\"gauge \""});
  om_error("# TYPE a untyped\n# EOF\n", 1, {"invalid TYPE", "\"untyped\""});
  om_error("# TYPE a Counter\n# EOF\n", 1, {"invalid TYPE", "\"Counter\""});
  om_error("# UNIT a seconds\n# EOF\n", 1, {"unit \"seconds\" does not match", "\"a\""});
  om_error("# UNIT a_seconds seconds \n# EOF\n", 1, {"invalid UNIT", "\"seconds \""});
  om_error("# TYPE x_u info\n# UNIT x_u u\n# EOF\n", 2, {"must not have a unit", "info"});
  om_error("# UNIT x_u u\n# TYPE x_u stateset\n# EOF\n", 2, {"must not have a unit", "stateset"});
  om_error("# FOO a x\n# EOF\n", 1, {"unknown metadata keyword", "\"FOO\""});
}

TEST(ParseOpenMetricsBad, MetadataInWrongPlaceOrRepeated) {
  om_error("# HELP a x\na 1\n# TYPE a gauge\n# EOF\n", 3, {"TYPE line", "after its samples"});
  om_error("# TYPE a gauge\na 1\n# HELP a gauge\n# EOF\n", 3, {"HELP line", "after its samples"});
  om_error("# TYPE a_s gauge\na_s 1\n# UNIT a_s s\n# EOF\n", 3, {"UNIT line"});
  om_error("# HELP a \n# HELP a \n# EOF\n", 2, {"more than one HELP"});
  om_error("# HELP a x\n# HELP a x\n# EOF\n", 2, {"more than one HELP"});
  om_error("# TYPE a gauge\n# TYPE a gauge\n# EOF\n", 2, {"more than one TYPE"});
  om_error("# UNIT a_s s\n# UNIT a_s s\n# EOF\n", 2, {"more than one UNIT"});
}

TEST(ParseOpenMetricsBad, MetricNames) {
  om_error("0a 1\n# EOF\n", 1, {"invalid metric name", "'0'"});
  om_error("a.b 1\n# EOF\n", 1, {"'.'"});
  om_error("a-b 1\n# EOF\n", 1, {"'-'"});
}

TEST(ParseOpenMetricsBad, Values) {
  for (const char* v : {"a", "1_2", "0x1p-3", "0x1P-3", "0b1", "0B1", "0x1", "0X1", "0o1", "0O1",
                        "+NaN", "-nan", "1e400", "infinite", "1e", "."}) {
    om_error(std::string("a ") + v + "\n# EOF\n", 1,
             {"invalid value", "\"" + std::string(v) + "\""});
  }
  om_error("a  1\n# EOF\n", 1, {"missing value"});
  om_error("a 1\t\n# EOF\n", 1, {"invalid value", "\"1\\t\""});
  om_error("a 1 \n# EOF\n", 1, {"missing timestamp"});
}

TEST(ParseOpenMetricsBad, Timestamps) {
  for (const char* ts : {"z", "1z", "1_2", "1.1.1", "NaN", "Inf", "+Inf", "-Inf", "0x1p-3"}) {
    om_error(std::string("a 1 ") + ts + "\n# EOF\n", 1,
             {"invalid timestamp", "\"" + std::string(ts) + "\""});
  }
  om_error("a 1 1 \n# EOF\n", 1, {"expected \"# \" and an exemplar"});
}

TEST(ParseOpenMetricsBad, Exemplars) {
  const std::string h = "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1";
  om_error(h + " #\n# EOF\n", 2, {"expected ' ' after '#'"});
  om_error(h + "# {} 1\n# EOF\n", 2, {"invalid value", "\"1#\""});
  om_error(h + " #{} 1\n# EOF\n", 2, {"expected ' ' after '#'", "'{'"});
  om_error(h + " # {}1\n# EOF\n", 2, {"expected a single space before the exemplar's value"});
  om_error(h + " # {} 1 \n# EOF\n", 2, {"missing exemplar timestamp"});
  om_error(h + " # {} 1 1 \n# EOF\n", 2, {"unexpected text after the exemplar"});
  om_error(h + " # {} 0x1p-3\n# EOF\n", 2, {"invalid exemplar value", "\"0x1p-3\""});
  om_error(h + " # {} 1 0x1p-3\n# EOF\n", 2, {"invalid exemplar timestamp"});
  om_error(h + " # \n# EOF\n", 2, {"expected '{'"});
  om_error("# TYPE a counter\na_total 1 1 # {id=\"a\"}  \n# EOF\n", 2, {"missing exemplar value"});
  om_error("# TYPE a counter\na_total 1 1 # id=\"a\"} 1\n# EOF\n", 2, {"expected '{'", "'i'"});
  om_error("# TYPE a counter\na_total 1 1 #id=\" # \"} 1\n# EOF\n", 2, {"expected ' ' after '#'"});
  om_error("# TYPE a counter\na_total 1 1 id=\" # \"} 1\n# EOF\n", 2,
           {"expected \"# \" and an exemplar", "'i'"});
  om_error("# TYPE a counter\na_total 1 # {a=\"1\",a=\"2\"} 1\n# EOF\n", 2,
           {"duplicate label name", "the exemplar"});
}

TEST(ParseOpenMetricsBad, ExemplarTimestampNanInfNegativeInf) {
  for (const char* ts : {"NaN", "Inf", "+Inf", "-Inf"}) {
    om_error(std::string("# TYPE a counter\na_total 1 # {a=\"b\"} 1 ") + ts + "\n# EOF\n", 2,
             {"invalid exemplar timestamp", "\"" + std::string(ts) + "\""});
  }
}

TEST(ParseOpenMetricsBad, ExemplarsSize) {
  // 129 code points: "a" plus 128 characters.
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {a=\"" + std::string(128, 'x') +
               "\"} 1 1\n# EOF\n",
           2, {"129 code points"});
}

TEST(ParseOpenMetricsBad, ExemplarsOnUnallowedSamplesAndTypes) {
  om_error("# TYPE a histogram\na_sum 1 # {a=\"b\"} 0.5\n# EOF\n", 2, {"exemplar on a_sum{}"});
  om_error("# TYPE a gaugehistogram\na_gsum 1 # {a=\"b\"} 0.5\n# EOF\n", 2, {"exemplar on"});
  om_error("# TYPE a_bucket gauge\na_bucket 1 # {a=\"b\"} 0.5\n# EOF\n", 2, {"exemplar on"});
  om_error("# TYPE a counter\na_created 1 # {a=\"b\"} 0.5\n# EOF\n", 2, {"exemplar on"});
  om_error("# TYPE a gauge\na 1 # {a=\"b\"} 1\n# EOF\n", 2, {"exemplar on"});
  om_error("# TYPE a info\na_info 1 # {a=\"b\"} 1\n# EOF\n", 2, {"exemplar on"});
  om_error("# TYPE a stateset\na{a=\"b\"} 1 # {c=\"d\"} 1\n# EOF\n", 2, {"exemplar on"});
  om_error("a 1 # {a=\"b\"} 1\n# EOF\n", 1, {"exemplar on"});
}

TEST(ParseOpenMetricsBad, StatesetAndInfoValues) {
  om_error("# TYPE a stateset\na{a=\"bar\"} 2\n# EOF\n", 2, {"expected 0 or 1"});
  om_error("# TYPE a stateset\na{a=\"bar\"} 0.5\n# EOF\n", 2, {"expected 0 or 1"});
  om_error("# TYPE a info\na_info{foo=\"bar\"} 2\n# EOF\n", 2, {"always 1"});
  om_error("# TYPE a info\na_info{foo=\"bar\"} 2.0\n# EOF\n", 2, {"always 1"});
  // "a" is not a sample name of info family "a": it starts an unknown family that clashes.
  om_error("# TYPE a info\na 1\n# EOF\n", 2, {"clashes", "\"a\""});
}

TEST(ParseOpenMetricsBad, MissingOrInvalidLabelsForAType) {
  om_error("# TYPE a summary\na 0\n# EOF\n", 2, {"no \"quantile\" label"});
  for (const char* q : {"-1", "foo", "1.01", "NaN", "+Inf"}) {
    om_error("# TYPE a summary\na{quantile=\"" + std::string(q) + "\"} 0\n# EOF\n", 2,
             {"invalid \"quantile\"", "\"" + std::string(q) + "\""});
  }
  om_error("# TYPE a histogram\na_bucket 0\n# EOF\n", 2, {"no \"le\" label"});
  om_error("# TYPE a gaugehistogram\na_bucket 0\n# EOF\n", 2, {"no \"le\" label"});
  om_error("# TYPE a stateset\na 0\n# EOF\n", 2, {"lacks the label \"a\""});
  for (const char* le : {"NaN", "+INF", "Inf", "inf", "+Infinity", "x", ""}) {
    om_error("# TYPE a histogram\na_bucket{le=\"" + std::string(le) + "\"} 0\n# EOF\n", 2,
             {"invalid \"le\"", "\"" + std::string(le) + "\""});
  }
}

TEST(ParseOpenMetricsBad, CounterValues) {
  om_error("# TYPE a counter\na_total NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a counter\na_total -1\n# EOF\n", 2, {"negative"});
  om_error("# TYPE a histogram\na_sum NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a histogram\na_count NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a histogram\na_sum -1\n# EOF\n", 2, {"negative"});
  om_error("# TYPE a histogram\na_count -1\n# EOF\n", 2, {"negative"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n", 2, {"out of order"});
  om_error(
      "# TYPE a histogram\na_bucket{le=\"-1.0\"} 1\na_bucket{le=\"+Inf\"} 2\na_sum -1\n# EOF\n", 4,
      {"negative"});
  om_error(
      "# TYPE a histogram\na_bucket{le=\"-1.0\"} 1\na_bucket{le=\"+Inf\"} 2\na_sum 1\n"
      "a_count 2\n# EOF\n",
      5, {"negative buckets and a _sum"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 0.5\n# EOF\n", 2, {"must be an integer"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 0.5\na_sum 0\n# EOF\n", 3,
           {"must be an integer"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gcount -1\n# EOF\n", 3,
           {"negative"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum NaN\n# EOF\n", 3, {"is NaN"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0.5\n# EOF\n", 2,
           {"must be an integer"});
  om_error("# TYPE a summary\na_sum NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a summary\na_count NaN\n# EOF\n", 2, {"is NaN"});
  om_error("# TYPE a summary\na_sum -1\n# EOF\n", 2, {"negative"});
  om_error("# TYPE a summary\na_count -1\n# EOF\n", 2, {"negative"});
  om_error("# TYPE a summary\na_count 0.5\n# EOF\n", 2, {"must be an integer"});
  om_error("# TYPE a summary\na{quantile=\"0.5\"} -1\n# EOF\n", 2, {"quantile value", "negative"});
}

TEST(ParseOpenMetricsBad, Histograms) {
  om_error("# TYPE a histogram\na_sum 1\n# EOF\n", 2, {"no +Inf bucket"});
  om_error("# TYPE a histogram\na_bucket{le=\"1\"} 0\n# EOF\n", 2, {"no +Inf bucket"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_sum 0\n# EOF\n", 3,
           {"has _sum but no _count"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_count 0\n# EOF\n", 3,
           {"has _count/_gcount but no _sum/_gsum"});
  om_error(
      "# TYPE a histogram\na_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 0\na_sum 0\n"
      "a_count 0\n# EOF\n",
      5, {"negative buckets and a _sum"});
  om_error("# TYPE a gaugehistogram\na_gsum 1\n# EOF\n", 2, {"no +Inf bucket"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0\na_gsum 0\n# EOF\n", 3,
           {"has _gsum but no _gcount"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0\na_gcount 0\n# EOF\n", 3,
           {"no _sum/_gsum"});
  om_error("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum -1\na_gcount 1\n# EOF\n", 4,
           {"negative _gsum but no negative buckets"});
  om_error("# TYPE a histogram\na_count 1\na_bucket{le=\"+Inf\"} 0\n# EOF\n", 3,
           {"count 1 does not equal the +Inf bucket 0"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_count 1\na_sum 0\n# EOF\n", 4,
           {"count 1 does not equal"});
  om_error(
      "# TYPE a histogram\na_bucket{le=\"2\"} 0\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 0"
      "\n# EOF\n",
      3, {"buckets out of order", "le=\"1\""});
  om_error("# TYPE a histogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"1.0\"} 0\n# EOF\n", 3,
           {"buckets out of order"});
  om_error(
      "# TYPE a histogram\na_bucket{le=\"1\"} 1\na_bucket{le=\"2\"} 1\na_bucket{le=\"+Inf\"} 0"
      "\n# EOF\n",
      4, {"bucket values out of order", "cumulative"});
  // The check runs per labelled series.
  om_error(
      "# TYPE a histogram\na_bucket{x=\"1\",le=\"+Inf\"} 0\na_bucket{x=\"2\",le=\"1\"} 0\n"
      "# EOF\n",
      3, {"histogram a{x=\"2\"} has no +Inf bucket"});
}

TEST(ParseOpenMetricsBad, GroupingOrOrdering) {
  om_error("# TYPE a histogram\na_sum{a=\"1\"} 0\na_sum{a=\"2\"} 0\na_count{a=\"1\"} 0\n# EOF\n", 2,
           {"histogram a{a=\"1\"} has no +Inf bucket"});
  om_error(
      "# TYPE a histogram\na_bucket{a=\"1\",le=\"1\"} 0\na_bucket{a=\"2\",le=\"+Inf\"} 0\n"
      "a_bucket{a=\"1\",le=\"+Inf\"} 0\n# EOF\n",
      2, {"histogram a{a=\"1\"} has no +Inf bucket"});
  om_error("# TYPE a summary\na_sum{a=\"1\"} 0\na_sum{a=\"2\"} 0\na_count{a=\"1\"} 0\n# EOF\n", 4,
           {"seen earlier", "a_count{a=\"1\"}"});
  om_error("# TYPE a gauge\na{x=\"1\"} 0\na{x=\"2\"} 0\na{x=\"1\"} 1\n# EOF\n", 4,
           {"must not be interleaved"});
  om_error("# TYPE a gauge\na 0 -1\na 0 -2\n# EOF\n", 3, {"goes backwards"});
  om_error("# TYPE a gauge\na 0 -1\na 0 -1.1\n# EOF\n", 3, {"goes backwards"});
  om_error("# TYPE a gauge\na 0 1\na 0 -1\n# EOF\n", 3, {"goes backwards"});
  om_error("# TYPE a gauge\na 0 1.1\na 0 1\n# EOF\n", 3, {"goes backwards"});
  om_error("# TYPE a gauge\na 0 1\na 0 0\n# EOF\n", 3, {"goes backwards"});
  om_error("# TYPE a gauge\na 0\na 0 0\n# EOF\n", 3, {"with and without timestamps"});
  om_error("# TYPE a gauge\na 0 0\na 0\n# EOF\n", 3, {"with and without timestamps"});
  // The interleaved MetricPoints example of the specification.
  om_error(
      "# TYPE foo_seconds summary\n# UNIT foo_seconds seconds\n"
      "foo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\n"
      "foo_seconds_sum{a=\"bb\"} 0 123\n# EOF\n",
      5, {"goes backwards"});
}

TEST(ParseOpenMetricsBad, DuplicateSeries) {
  om_error("a 1\na 2\n# EOF\n", 2, {"duplicate sample a{}"});
  om_error("# TYPE a gauge\na{x=\"1\",y=\"2\"} 1 5\na{y=\"2\",x=\"1\"} 2 5\n# EOF\n", 3,
           {"duplicate sample", "with the same timestamp"});
  om_error("# TYPE a info\na_info{x=\"1\"} 1\na_info{x=\"1\"} 1\n# EOF\n", 3, {"duplicate sample"});
  om_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_bucket{le=\"+Inf\"} 1\n# EOF\n", 3,
           {"duplicate sample"});
}

TEST(ParseOpenMetricsBad, ClashingNamesAndInterleavedFamilies) {
  om_error("# TYPE a counter\n# TYPE a counter\n# EOF\n", 2, {"more than one TYPE"});
  om_error("# TYPE a info\n# TYPE b counter\n# TYPE a counter\n# EOF\n", 3, {"clashes", "\"a\""});
  om_error("# TYPE a_created gauge\n# TYPE a counter\n# EOF\n", 2, {"clashes", "\"a_created\""});
  om_error("# TYPE a counter\n# TYPE a_created gauge\n# EOF\n", 2, {"clashes", "\"a_created\""});
  om_error("# TYPE a histogram\n# TYPE a_bucket gauge\n# EOF\n", 2, {"clashes"});
  om_error("a 1\nb 1\na 2\n# EOF\n", 3, {"metric family \"a\" clashes"});
  om_error("a_total 1\n# TYPE a counter\na_total 2\n# EOF\n", 2, {"clashes", "\"a_total\""});
}

}  // namespace
}  // namespace operant::metrics

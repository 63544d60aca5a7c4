// Tests of the test utilities (client_golang's testutil): to_float64, sample_value,
// collect/gather_and_compare, collect/gather_and_count and collect/gather_and_lint.
#include "operant/metrics/testutil.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "operant/metrics/family.h"
#include "operant/metrics/parse.h"
#include "operant/metrics/registry.h"
#include "operant/metrics/snapshot.h"

namespace {

namespace m = operant::metrics;
namespace tu = operant::metrics::testutil;

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const m::error& e) {
    return e.what();
  }
  return "<no error thrown>";
}

// A collector writing recorded families (and describing nothing: unchecked).
class fixed_collector final : public m::collector {
 public:
  explicit fixed_collector(std::vector<m::family_snapshot> families) : families_(std::move(families)) {}
  std::span<const m::family_desc> describe() const override { return {}; }
  void collect(m::metric_writer& out) const override {
    for (const auto& f : families_) m::replay(f, out);
  }

 private:
  std::vector<m::family_snapshot> families_;
};

m::family_snapshot gauge_family(std::string name, std::string help, double value) {
  m::family_snapshot f;
  f.desc.name = std::move(name);
  f.desc.help = std::move(help);
  f.desc.type = m::metric_type::gauge;
  m::series_snapshot s;
  s.value = value;
  f.series.push_back(s);
  return f;
}

// ---- to_float64 -----------------------------------------------------------------------------------

TEST(TestutilToFloat64Test, ReadsTheOnlySeriesOfCounterGaugeAndInfo) {
  m::family<m::counter> c({.name = "t_total", .help = "T."});
  c.labels().add(2.5);
  EXPECT_EQ(tu::to_float64(c), 2.5);
  c.labels().inc();
  EXPECT_EQ(tu::to_float64(c), 3.5);

  m::family<m::gauge> g({.name = "t_gauge", .help = "G."});
  g.labels().set(-3);
  EXPECT_EQ(tu::to_float64(g), -3);

  m::family<m::info> i({.name = "t_build", .help = "I.", .const_labels = {{"version", "1"}}});
  EXPECT_EQ(tu::to_float64(i), 1);

  m::family<m::gauge> labelled({.name = "t_labelled", .help = "L.", .label_names = {"k"}});
  labelled.labels("v").set(42);
  EXPECT_EQ(tu::to_float64(labelled), 42);

  double v = 7.25;
  const m::callback_metric cb({.name = "t_cb", .help = "CB."}, m::metric_type::gauge, [&v] { return v; });
  EXPECT_EQ(tu::to_float64(cb), 7.25);
}

TEST(TestutilToFloat64Test, HistogramAndSummaryAreErrors) {
  m::family<m::histogram> h({.name = "t_seconds", .help = "H."});
  h.labels().observe(1);
  EXPECT_EQ(error_of([&] { tu::to_float64(h); }),
            "to_float64 cannot read histogram t_seconds; use sample_value with its _count, _sum or _bucket sample");
  m::family<m::summary> s({.name = "t_summary", .help = "S."});
  EXPECT_EQ(error_of([&] { tu::to_float64(s); }),
            "to_float64 cannot read summary t_summary; use sample_value with its _count, _sum or _bucket sample");
}

TEST(TestutilToFloat64Test, MoreOrFewerThanOneSeriesIsAnError) {
  m::family<m::counter> c({.name = "t_multi_total", .help = "M.", .label_names = {"k"}});
  EXPECT_EQ(error_of([&] { tu::to_float64(c); }),
            "to_float64 needs exactly one series; collected 1 families with 0 series");
  c.labels("a").inc();
  c.labels("b").inc();
  EXPECT_EQ(error_of([&] { tu::to_float64(c); }),
            "to_float64 needs exactly one series; collected 1 families with 2 series");
  const fixed_collector two({gauge_family("a", "A.", 1), gauge_family("b", "B.", 2)});
  EXPECT_EQ(error_of([&] { tu::to_float64(two); }),
            "to_float64 needs exactly one series; collected 2 families with 2 series");
}

// ---- sample_value ---------------------------------------------------------------------------------

TEST(TestutilSampleValueTest, FindsSamplesByNameAndLabelsInAnyOrder) {
  m::registry reg;
  auto& jobs = m::with(reg).new_counter_family(
      {.name = "jobs_total", .help = "Jobs.", .label_names = {"queue", "kind"}, .const_labels = {{"env", "p"}}});
  jobs.labels("a", "x").add(2);
  jobs.labels("b", "x").inc();
  auto& lat = m::with(reg).new_histogram_family(
      {.name = "lat_seconds", .help = "L.", .label_names = {"route"}, .buckets = {0.1, 1}});
  lat.labels("/x").observe(0.05);
  lat.labels("/x").observe(0.5);
  lat.labels("/x").observe(5);
  m::with(reg).new_gauge({.name = "plain", .help = "P."}).set(9);
  EXPECT_EQ(tu::sample_value(reg, "jobs_total", {{"kind", "x"}, {"queue", "a"}, {"env", "p"}}), 2);
  EXPECT_EQ(tu::sample_value(reg, "jobs_total", {{"env", "p"}, {"queue", "b"}, {"kind", "x"}}), 1);
  EXPECT_EQ(tu::sample_value(reg, "lat_seconds_bucket", {{"le", "0.1"}, {"route", "/x"}}), 1);
  EXPECT_EQ(tu::sample_value(reg, "lat_seconds_bucket", {{"route", "/x"}, {"le", "1"}}), 2);
  EXPECT_EQ(tu::sample_value(reg, "lat_seconds_bucket", {{"route", "/x"}, {"le", "+Inf"}}), 3);
  EXPECT_EQ(tu::sample_value(reg, "lat_seconds_count", {{"route", "/x"}}), 3);
  EXPECT_EQ(tu::sample_value(reg, "lat_seconds_sum", {{"route", "/x"}}), 5.55);
  EXPECT_EQ(tu::sample_value(reg, "plain"), 9);
  // The collector overload.
  EXPECT_EQ(tu::sample_value(lat, "lat_seconds_bucket", {{"le", "1"}, {"route", "/x"}}), 2);
}

TEST(TestutilSampleValueTest, MissingSampleErrorNamesItAndListsTheLabelSetsFound) {
  m::registry reg;
  auto& jobs = m::with(reg).new_counter_family({.name = "jobs_total", .help = "Jobs.", .label_names = {"queue"}});
  jobs.labels("b").inc();
  jobs.labels("a").inc();
  EXPECT_EQ(error_of([&] { tu::sample_value(reg, "jobs_total", {{"queue", "c"}}); }),
            "no sample jobs_total{queue=\"c\"}; samples of that name have labels: {queue=\"a\"} {queue=\"b\"}");
  EXPECT_EQ(error_of([&] { tu::sample_value(reg, "jobs_total"); }),
            "no sample jobs_total{}; samples of that name have labels: {queue=\"a\"} {queue=\"b\"}");
  EXPECT_EQ(error_of([&] { tu::sample_value(reg, "nope_total", {{"queue", "a"}}); }),
            "no sample nope_total{queue=\"a\"} (no sample of that name at all)");
  // A subset of the labels is not enough.
  m::registry reg2;
  m::with(reg2).new_counter({.name = "c_total", .help = "C.", .const_labels = {{"env", "p"}}}).inc();
  EXPECT_EQ(error_of([&] { tu::sample_value(reg2, "c_total"); }),
            "no sample c_total{}; samples of that name have labels: {env=\"p\"}");
}

// ---- compare --------------------------------------------------------------------------------------

void fill_jobs(m::registry& reg) {
  auto& jobs = m::with(reg).new_counter_family({.name = "jobs_total", .help = "Jobs done.", .label_names = {"queue"}});
  jobs.labels("a").add(2);
  jobs.labels("b").inc();
  m::with(reg).new_gauge({.name = "workers", .help = "Workers."}).set(4);
}

TEST(TestutilCompareTest, EqualTextsInAnotherOrderAndSpacingCompareEqual) {
  m::registry reg;
  fill_jobs(reg);
  EXPECT_EQ(tu::gather_and_compare(reg, R"(
# TYPE workers gauge
# HELP workers Workers.
workers 4.0

# HELP jobs_total Jobs done.
# TYPE jobs_total counter
jobs_total{ queue = "b" , } 1e0
jobs_total{queue="a"} 2
)"),
            "");
  // Only the named families are compared.
  EXPECT_EQ(tu::gather_and_compare(reg, "# HELP workers Workers.\n# TYPE workers gauge\nworkers 4\n", {"workers"}), "");
}

TEST(TestutilCompareTest, DifferenceNamesTheFirstDifferingLine) {
  m::registry reg;
  fill_jobs(reg);
  const std::string got = tu::gather_and_compare(reg,
                                                 "# HELP jobs_total Jobs done.\n"
                                                 "# TYPE jobs_total counter\n"
                                                 "jobs_total{queue=\"a\"} 2\n"
                                                 "jobs_total{queue=\"b\"} 5\n",
                                                 {"jobs_total"});
  EXPECT_EQ(got,
            "metrics differ at normalised line 4:\n"
            "  expected: jobs_total{queue=\"b\"} 5\n"
            "  got:      jobs_total{queue=\"b\"} 1\n"
            "--- expected ---\n"
            "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\n"
            "jobs_total{queue=\"a\"} 2\njobs_total{queue=\"b\"} 5\n"
            "--- got ---\n"
            "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\n"
            "jobs_total{queue=\"a\"} 2\njobs_total{queue=\"b\"} 1\n");
}

TEST(TestutilCompareTest, MissingAndExtraLinesAreReported) {
  m::registry reg;
  fill_jobs(reg);
  const std::string missing = tu::gather_and_compare(
      reg, "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue=\"a\"} 2\n", {"jobs_total"});
  EXPECT_EQ(missing.substr(0, missing.find("\n--- expected")),
            "metrics differ at normalised line 4:\n  expected: (end)\n  got:      jobs_total{queue=\"b\"} 1");
  const std::string help = tu::gather_and_compare(
      reg, "# HELP workers Other help.\n# TYPE workers gauge\nworkers 4\n", {"workers"});
  EXPECT_EQ(help.substr(0, help.find("\n--- expected")),
            "metrics differ at normalised line 1:\n  expected: # HELP workers Other help.\n"
            "  got:      # HELP workers Workers.");
  const std::string type = tu::gather_and_compare(
      reg, "# HELP workers Workers.\n# TYPE workers counter\nworkers 4\n", {"workers"});
  EXPECT_EQ(type.substr(0, type.find("\n--- expected")),
            "metrics differ at normalised line 2:\n  expected: # TYPE workers counter\n"
            "  got:      # TYPE workers gauge");
}

TEST(TestutilCompareTest, CollectAndCompareOnACollector) {
  m::family<m::gauge> g({.name = "temp", .help = "T.", .label_names = {"room"}});
  g.labels("kitchen").set(21.5);
  g.labels("attic").set(-1);
  EXPECT_EQ(tu::collect_and_compare(g, "# HELP temp T.\n# TYPE temp gauge\n"
                                       "temp{room=\"kitchen\"} 21.5\ntemp{room=\"attic\"} -1\n"),
            "");
  EXPECT_NE(tu::collect_and_compare(g, "# HELP temp T.\n# TYPE temp gauge\ntemp{room=\"attic\"} -1\n"), "");
}

TEST(TestutilCompareTest, UnparseableExpectationThrowsParseError) {
  m::registry reg;
  fill_jobs(reg);
  EXPECT_THROW(tu::gather_and_compare(reg, "jobs_total{queue=\"a\" 2\n"), m::parse_error);
  EXPECT_THROW(tu::gather_and_compare(reg, "jobs_total 2"), m::parse_error);  // no final newline
}

// ---- count ----------------------------------------------------------------------------------------

TEST(TestutilCountTest, CountsSeriesNotSamples) {
  m::registry reg;
  fill_jobs(reg);
  auto& lat = m::with(reg).new_histogram_family({.name = "lat_seconds", .help = "L.", .label_names = {"route"}});
  lat.labels("/a").observe(1);
  lat.labels("/b").observe(1);
  lat.labels("/c").observe(1);
  m::with(reg).new_counter_family({.name = "unused_total", .help = "U.", .label_names = {"k"}});
  EXPECT_EQ(tu::gather_and_count(reg), 6u);
  EXPECT_EQ(tu::gather_and_count(reg, {"lat_seconds"}), 3u);
  EXPECT_EQ(tu::gather_and_count(reg, {"jobs_total", "workers"}), 3u);
  EXPECT_EQ(tu::gather_and_count(reg, {"unused_total"}), 0u);
  EXPECT_EQ(tu::gather_and_count(reg, {"nothing"}), 0u);
  EXPECT_EQ(tu::collect_and_count(lat), 3u);
  EXPECT_EQ(tu::collect_and_count(lat, {"other"}), 0u);
}

// ---- lint -----------------------------------------------------------------------------------------

TEST(TestutilLintTest, CounterWithoutTotalSuffixIsReported) {
  m::registry reg;
  m::with(reg).new_counter({.name = "requests", .help = "Requests."}).inc();
  EXPECT_EQ(tu::gather_and_lint(reg),
            (std::vector<m::lint_problem>{{"requests", "counter metrics should have \"_total\" suffix"}}));
}

TEST(TestutilLintTest, MissingHelpIsReported) {
  m::registry reg;
  // Help is required by operant's metrics, so a custom collector writes families without one.
  m::family_snapshot events = gauge_family("events", "", 2);
  events.desc.type = m::metric_type::counter;
  reg.register_collector(std::make_shared<fixed_collector>(std::vector<m::family_snapshot>{
      gauge_family("widgets", "", 3), gauge_family("gadgets", "G.", 1), events}));
  EXPECT_EQ(tu::gather_and_lint(reg),
            (std::vector<m::lint_problem>{{"events", "counter metrics should have \"_total\" suffix"},
                                          {"events", "no help text"},
                                          {"widgets", "no help text"}}));
  const fixed_collector c({gauge_family("widgets", "", 3)});
  EXPECT_EQ(tu::collect_and_lint(c), (std::vector<m::lint_problem>{{"widgets", "no help text"}}));
}

TEST(TestutilLintTest, CleanMetricsHaveNoProblems) {
  m::registry reg;
  fill_jobs(reg);
  m::with(reg).new_histogram({.name = "lat_seconds", .help = "L."}).observe(1);
  EXPECT_TRUE(tu::gather_and_lint(reg).empty());
}

}  // namespace

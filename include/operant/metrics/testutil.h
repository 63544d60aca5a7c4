// operant/metrics/testutil.h — helpers for testing code that exports metrics
// (client_golang's testutil). They collect and parse, so they are for tests, never hot paths.
//
//   EXPECT_EQ(testutil::to_float64(requests_family_or_collector), 3);
//   EXPECT_EQ(testutil::sample_value(reg, "jobs_total", {{"queue", "a"}}), 2);
//   EXPECT_EQ(testutil::gather_and_compare(reg, R"(
//   # HELP jobs_total Jobs done.
//   # TYPE jobs_total counter
//   jobs_total{queue="a"} 2
//   )", {"jobs_total"}), "");
//   EXPECT_TRUE(testutil::gather_and_lint(reg).empty());
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "operant/metrics/collector.h"
#include "operant/metrics/lint.h"

namespace operant::metrics::testutil {

// The value of the only series of a collector that writes exactly one counter, gauge, unknown or
// info series. Throws error otherwise, saying what it found.
double to_float64(const collector& c);

// The value of the sample named `sample_name` (as text 0.0.4 names it, e.g. "foo_bucket",
// "foo_count", "foo_total") whose labels are exactly `l` (any order; include le/quantile and
// constant labels). Throws error naming the sample if there is none.
double sample_value(const gatherer& g, std::string_view sample_name, const labels& l = {});
double sample_value(const collector& c, std::string_view sample_name, const labels& l = {});

// The number of series (not samples) collected, only of the named families if `names` is given.
std::size_t collect_and_count(const collector& c, const std::vector<std::string>& names = {});
std::size_t gather_and_count(const gatherer& g, const std::vector<std::string>& names = {});

// Compares what is collected (as text 0.0.4, only the named families if `names` is given) with
// `expected` in text 0.0.4. Both are parsed and normalised (sorted families, sorted samples, sorted
// labels, numbers re-formatted), so order and spacing do not matter. Returns "" when they match,
// else a message showing both normalised texts and the first line that differs. Throws
// parse_error if `expected` does not parse.
std::string collect_and_compare(const collector& c, std::string_view expected,
                                const std::vector<std::string>& names = {});
std::string gather_and_compare(const gatherer& g, std::string_view expected,
                               const std::vector<std::string>& names = {});

// The promlint problems (the rules `promtool check metrics` applies) of what is collected.
std::vector<lint_problem> collect_and_lint(const collector& c);
std::vector<lint_problem> gather_and_lint(const gatherer& g);

}  // namespace operant::metrics::testutil

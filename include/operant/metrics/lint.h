// operant/metrics/lint.h — promlint: the metric naming and metadata rules of Prometheus.
//
// This reproduces the linter of client_golang v1.14 (prometheus/testutil/promlint), the version
// `promtool check metrics` of Prometheus 2.42 runs, with the same rules and the same problem
// texts, so that lint_text(x) lists what `promtool check metrics < x` prints (one
// "<metric> <text>" line per problem). Used by testutil's CollectAndLint.
//
// The rules, applied to each family (texts verbatim):
//   no help text                                    — no HELP line (or an empty one)
//   use base unit "<base>" instead of "<unit>"      — a '_'-separated part of the name is a
//                                                     known unit, optionally SI/IEC-prefixed
//                                                     (milliseconds, kilobytes, hours, bits...),
//                                                     that is not the base unit
//   counter metrics should have "_total" suffix
//   non-counter metrics should not have "_total" suffix          (not for untyped)
//   non-histogram metrics should not have "_bucket" suffix       (not for untyped)
//   non-histogram and non-summary metrics should not have "_count" suffix   (idem)
//   non-histogram and non-summary metrics should not have "_sum" suffix     (idem)
//   non-histogram metrics should not have "le" label             (per series; not for untyped)
//   non-summary metrics should not have "quantile" label         (per series; not for untyped)
//   metric name should not include type '<t>'       — "_<t>_" inside or "_<t>" at the end of the
//                                                     lower-cased name, t in counter, gauge,
//                                                     histogram, summary, gauge_histogram
//   metric names should not contain ':'
//   metric names should be written in 'snake_case' not 'camelCase'   — [a-z][A-Z] in the name
//   label names should be written in 'snake_case' not 'camelCase'    — per label of each series
//   metric names should not contain abbreviated units — once per abbreviation among s, ms, us,
//                                                     ns, sec, b, kb, mb, gb, tb, pb, m, h, d
//                                                     found as "_<a>_" or a "_<a>" suffix
// Per-series rules count a histogram's or summary's series once (its samples are grouped by
// their labels without `le`/`quantile`, as TextParser groups them), other families once per
// sample. Problems are not deduplicated, exactly as promlint.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "operant/metrics/parse.h"

namespace operant::metrics {

// One problem: the family name and the text promlint uses for it.
struct lint_problem {
  std::string metric;
  std::string text;
  friend bool operator==(const lint_problem&, const lint_problem&) = default;
};

// Lints families as parse_text() returns them (text 0.0.4 names: counters end in `_total`).
// Types map as in the text format: unknown is untyped; info (from parse_openmetrics) is linted as
// a gauge. Returns the problems sorted by metric, then text (byte order), as promlint sorts;
// empty if there are none. Does not throw.
//
// Where a name holds several non-base units (e.g. "a_hours_milliseconds"), promlint's choice
// depends on Go's random map order; this function takes the units in the order of promlint's
// table (the base units amperes ... volts, then minutes, hours, days, weeks, kelvins, fahrenheit,
// rankine, inches, yards, miles, bits, calories, pounds, ounces) and, for each, the prefixed
// forms before the plain one, and reports the first that matches.
std::vector<lint_problem> lint(const std::vector<parsed_family>& families);

// parse_text(text) then lint(). Throws parse_error where `promtool check metrics` prints
// "error while linting: text format parsing error in line N: ...".
std::vector<lint_problem> lint_text(std::string_view text_0_0_4);

}  // namespace operant::metrics

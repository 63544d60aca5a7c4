// operant/metrics/parse.h — parsers for the two text exposition formats.
//
// These parsers exist for tests and test utilities (client_golang's testutil: CollectAndCompare,
// CollectAndLint) and to prove that what the encoders write is accepted by the reference parsers.
// They are not tuned for ingesting large scrapes: they build one parsed_sample per line.
//
//   parse_text()        — Prometheus text format 0.0.4, accepting exactly what the TextParser of
//                         prometheus/common (expfmt, before UTF-8 metric names) accepts, plus a
//                         check that the samples of a family are contiguous.
//   parse_openmetrics() — OpenMetrics 1.0 text, strict: the ABNF of the specification plus the
//                         semantic checks of the reference parser (client_python's
//                         openmetrics/parser.py), with duplicate series rejected instead of
//                         silently dropped.
//
// Both functions take the whole exposition, return the families in the order they first appear,
// and throw parse_error on the first problem. Nothing is corrected or skipped silently.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operant/metrics/types.h"

namespace operant::metrics {

// One line of an exposition that carries a value.
struct parsed_sample {
  std::string name;        // full sample name as written, e.g. "foo_bucket".
  metrics::labels labels;  // as written, in the order written, unescaped.
  double value = 0;
  // text 0.0.4: the integer milliseconds as written; OpenMetrics: seconds (may be fractional).
  std::optional<double> timestamp;
  std::optional<metrics::exemplar> exemplar;  // OpenMetrics only.
};

// A metric family: its metadata and its samples in the order written.
struct parsed_family {
  // text 0.0.4: the name from TYPE/HELP, or from the first sample; the `_bucket`, `_count` and
  // `_sum` samples of a histogram and the `_count` and `_sum` samples of a summary declared before
  // them are grouped under the family name (as TextParser does). OpenMetrics: the family name
  // without the sample suffixes (`foo` for `foo_total`, `foo_info`, `foo_bucket`, ...).
  std::string name;
  // text "untyped" and OpenMetrics "unknown" are `unknown`. OpenMetrics "stateset" and
  // "gaugehistogram", which have no metric_type, are `unknown` too; type_name tells them apart.
  metric_type type = metric_type::unknown;
  std::string type_name;  // the type word as written ("untyped", "COUNTER", "gaugehistogram"...);
                          // empty when the family had no TYPE line.
  std::string help;       // unescaped.
  bool has_help = false;  // a HELP line with a non-empty text was present.
  std::string unit;       // OpenMetrics UNIT; empty = none (always empty for text 0.0.4).
  std::vector<parsed_sample> samples;
};

// The one exception the parsers throw. what() is "line N: message"; the message says what was
// found (quoted) and what was expected. Lines are numbered from 1; a problem found at the end of
// the input names the line after the last one.
class parse_error : public error {
 public:
  parse_error(std::size_t line, std::string message);
  std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

// Parses Prometheus text format 0.0.4 as prometheus/common's expfmt.TextParser does:
//   * Lines end in '\n'. Every non-blank line, including the last, must end in '\n' (TextParser
//     reports "unexpected end of input stream" otherwise). Blank lines, leading blanks/tabs and
//     comments other than HELP and TYPE are ignored; so are HELP/TYPE lines with no text.
//   * HELP text: escapes `\\` and `\n` only; at most one HELP per family; valid UTF-8.
//   * TYPE: counter, gauge, histogram, summary or untyped, case-insensitive, the rest of the line
//     with any backslashes dropped (TextParser's quirk); at most one per family and before its
//     first sample.
//   * Samples: name [labels] value [timestamp]. Label names [a-zA-Z_][a-zA-Z0-9_]*, not
//     `__name__`, not repeated in a sample; values in double quotes with escapes `\\`, `\"`, `\n`,
//     valid UTF-8. A trailing comma in the label set is allowed. Blanks/tabs may surround label
//     names, '=', values and ','. The value is a Go ParseFloat float: decimal or exponent
//     notation, "NaN", "Inf", "+Inf", "-Inf", "Infinity" (case-insensitive); no hex, no '_';
//     a value beyond the double range is an error, one below it becomes 0. The optional
//     timestamp is an int64 (milliseconds). Nothing, not even a blank, may follow the value or
//     the timestamp on its line.
//   * `le` of histogram samples and `quantile` of summary samples must be floats as above.
//   * The samples of a family must be contiguous (client_golang's gatherer: "was collected
//     before"); a family whose only lines are HELP/TYPE is left out of the result.
// Duplicate series are not detected (TextParser does not either). Throws parse_error.
std::vector<parsed_family> parse_text(std::string_view body);

// Parses OpenMetrics 1.0 text strictly. Beyond the ABNF (single spaces, no blank lines, no
// comments, no trailing comma in labels, no text after "# EOF", valid UTF-8, numbers as
// realnumber / [sign] inf / infinity / nan, timestamps realnumber), it checks what the reference
// parser checks:
//   * one HELP, TYPE and UNIT at most per family, all before its samples; TYPE is one of unknown,
//     gauge, counter, stateset, info, histogram, gaugehistogram, summary; the unit is a suffix
//     "_<unit>" of the name and absent for info and stateset;
//   * sample names are the family name plus a suffix its type allows (counter: _total, _created;
//     histogram: _bucket, _count, _sum, _created; ...), otherwise they start a new unknown family;
//     family names and the sample names they may produce never clash (so no interleaving);
//   * counter-like samples (_total, _bucket, _count, _sum, _gcount, _gsum) are not NaN and (except
//     _gsum) not negative; _bucket, _count and _gcount are integers; info samples are 1,
//     stateset samples 0 or 1 and carry a label named after the family;
//   * histograms: `le` present, a number, not NaN, "+Inf" spelled exactly so; buckets in
//     increasing `le` order with non-decreasing values; a +Inf bucket; _count equals it; _sum
//     iff _count (_gsum iff _gcount); no _sum with negative buckets; a negative _gsum only with
//     negative buckets;
//   * summaries: quantile samples carry `quantile` in [0, 1] and a value that is not negative;
//   * exemplars only on histogram/gaugehistogram _bucket and counter _total samples, with at most
//     128 code points of label names and values and a timestamp that is a real number;
//   * a series' samples are grouped (no interleaving of metrics), timestamps within a group are
//     all present or all absent and never go backwards (except for info), and the same series
//     does not appear twice with the same timestamp.
// Not checked (the reference parser does not either): that an exemplar's value falls within its
// bucket, and that every Metric of a family has the same label names. A family with metadata only
// is returned with no samples. Throws parse_error.
std::vector<parsed_family> parse_openmetrics(std::string_view body);

}  // namespace operant::metrics

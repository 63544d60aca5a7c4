// operant/metrics/types.h — the vocabulary of the Prometheus data model.
//
// A metric *family* is a name, a help text, a type, an optional unit, a list of variable label
// names and a set of constant labels. Each *series* of a family is one combination of values for
// the variable label names. These types describe families and series; they hold no values.
//
// Every function here that validates throws operant::metrics::error with a message that names the
// offending value and what was expected. Nothing is silently corrected.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace operant::metrics {

// The one exception type of the metrics module: invalid names, label counts that do not match,
// registration conflicts, negative counter increments. what() names the bad value.
class error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A label: a name and a value. Values may hold any valid UTF-8, including quotes, backslashes and
// newlines; the encoders escape them.
struct label {
  std::string name{};
  std::string value{};
  friend bool operator==(const label&, const label&) = default;
  friend auto operator<=>(const label&, const label&) = default;
};

// A set of labels. Where a function takes `labels`, order does not matter unless it says so.
using labels = std::vector<label>;

// The types a family can have. `unknown` is text 0.0.4's `untyped`.
enum class metric_type : std::uint8_t { counter, gauge, histogram, summary, info, unknown };

// "counter", "gauge", "histogram", "summary", "info", "unknown".
std::string_view to_string(metric_type t) noexcept;

// Everything that describes a family except its values. `name` is the name that text 0.0.4
// exposes: for counters it should end in `_total` (as in client_golang); OpenMetrics strips that
// suffix for the family name and adds it back on the samples. An info family's name has no `_info`
// suffix; its samples are `<name>_info`.
struct family_desc {
  std::string name{};
  std::string help{};
  metric_type type = metric_type::unknown;
  std::string unit{};                    // OpenMetrics unit, e.g. "seconds"; empty = none.
  std::vector<std::string> label_names{};  // variable labels, in the order values are given.
  labels const_labels{};                   // sorted by name by validate_desc().
};

// Checks that `name` is a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]* and not empty.
bool is_valid_metric_name(std::string_view name) noexcept;
// Checks that `name` is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
bool is_valid_label_name(std::string_view name) noexcept;
// Checks that `s` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

// Validates a whole description and sorts its const labels. Throws error if the metric name, a
// label name or a label value is invalid; if a label name appears twice (variable or constant);
// if a histogram uses `le` or a summary uses `quantile` as a label; if the unit is not a suffix of
// the name (OpenMetrics requires `foo_seconds` for unit `seconds`; for counters before `_total`);
// if help is not valid UTF-8.
void validate_desc(family_desc& desc);

// Joins namespace, subsystem and name with '_' skipping empty parts (client_golang's BuildFQName).
std::string build_fq_name(std::string_view ns, std::string_view subsystem, std::string_view name);

// An exemplar: labels identifying a trace plus the observed value and, optionally, when it was
// observed (Unix seconds). OpenMetrics allows at most 128 UTF-8 code points across label names
// and values.
struct exemplar {
  metrics::labels labels{};
  double value = 0;
  double timestamp = 0;  // Unix seconds; used only if has_timestamp.
  bool has_timestamp = false;
};

// Validates exemplar labels (names valid, values UTF-8, at most 128 code points in all). Throws.
void validate_exemplar_labels(const labels& l);

}  // namespace operant::metrics

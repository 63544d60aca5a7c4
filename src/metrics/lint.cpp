// promlint (client_golang v1.14) rules. See lint.h.
#include "operant/metrics/lint.h"

#include <algorithm>
#include <map>
#include <utility>

namespace operant::metrics {

namespace {

bool ends_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "_x_" anywhere or "_x" at the end.
bool has_word(std::string_view name, std::string_view word) {
  const std::string inner = "_" + std::string(word) + "_";
  return name.find(inner) != std::string_view::npos || ends_with(name, "_" + std::string(word));
}

bool has_camel_case(std::string_view s) noexcept {
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] >= 'a' && s[i] <= 'z' && s[i + 1] >= 'A' && s[i + 1] <= 'Z') return true;
  }
  return false;
}

// The linter's view of a type: what the text format would expose.
enum class lint_type { counter, gauge, histogram, summary, untyped };

lint_type type_of(const parsed_family& f) noexcept {
  switch (f.type) {
    case metric_type::counter:
      return lint_type::counter;
    case metric_type::gauge:
    case metric_type::info:  // the text format exposes an info family as a gauge
      return lint_type::gauge;
    case metric_type::histogram:
      return lint_type::histogram;
    case metric_type::summary:
      return lint_type::summary;
    case metric_type::unknown:
      return lint_type::untyped;
  }
  return lint_type::untyped;
}

// Unit → base unit, in the order of promlint's table.
constexpr std::pair<std::string_view, std::string_view> units[] = {
    {"amperes", "amperes"},    {"bytes", "bytes"},     {"celsius", "celsius"},
    {"grams", "grams"},        {"joules", "joules"},   {"kelvin", "kelvin"},
    {"meters", "meters"},      {"metres", "metres"},   {"seconds", "seconds"},
    {"volts", "volts"},        {"minutes", "seconds"}, {"hours", "seconds"},
    {"days", "seconds"},       {"weeks", "seconds"},   {"kelvins", "kelvin"},
    {"fahrenheit", "celsius"}, {"rankine", "celsius"}, {"inches", "meters"},
    {"yards", "meters"},       {"miles", "meters"},    {"bits", "bytes"},
    {"calories", "joules"},    {"pounds", "grams"},    {"ounces", "grams"},
};

constexpr std::string_view unit_prefixes[] = {
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi",
    "mega", "mibi", "giga",  "gibi",  "tera",  "tebi", "peta", "pebi",  "",
};

constexpr std::string_view unit_abbreviations[] = {
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
};

// client_model's MetricType names other than UNTYPED, lower-cased.
constexpr std::string_view type_names[] = {"counter", "gauge", "summary", "histogram",
                                           "gauge_histogram"};

std::vector<std::string_view> split_underscore(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t p = s.find('_', start);
    parts.push_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return parts;
}

// The label sets promlint sees: one per dto.Metric. TextParser folds the samples of one
// histogram/summary series (same labels without le/quantile) into one Metric, keeping the labels
// of its first sample; every other sample is its own Metric.
std::vector<const labels*> series_labels(const parsed_family& f, lint_type t,
                                         std::vector<labels>& storage) {
  std::vector<const labels*> out;
  if (t != lint_type::histogram && t != lint_type::summary) {
    for (const auto& s : f.samples) out.push_back(&s.labels);
    return out;
  }
  const std::string_view special = t == lint_type::histogram ? "le" : "quantile";
  std::map<labels, std::size_t> seen;
  storage.reserve(f.samples.size());
  for (const auto& s : f.samples) {
    labels kept;
    for (const auto& l : s.labels) {
      if (l.name != special) kept.push_back(l);
    }
    labels key = kept;
    std::sort(key.begin(), key.end());
    if (seen.emplace(std::move(key), storage.size()).second) {
      storage.push_back(std::move(kept));
    }
  }
  for (const auto& l : storage) out.push_back(&l);
  return out;
}

void lint_family(const parsed_family& f, std::vector<lint_problem>& out) {
  const std::string& n = f.name;
  const lint_type t = type_of(f);
  auto problem = [&](std::string text) { out.push_back(lint_problem{n, std::move(text)}); };
  std::vector<labels> storage;
  const std::vector<const labels*> series = series_labels(f, t, storage);

  // lintHelp
  if (!f.has_help) problem("no help text");

  // lintMetricUnits
  {
    const auto parts = split_underscore(n);
    bool done = false;
    for (const auto& [unit, base] : units) {
      for (std::string_view prefix : unit_prefixes) {
        const std::string candidate = std::string(prefix) + std::string(unit);
        if (std::find(parts.begin(), parts.end(), candidate) != parts.end()) {
          if (candidate != base) {
            problem("use base unit \"" + std::string(base) + "\" instead of \"" + candidate + "\"");
          }
          done = true;
          break;
        }
      }
      if (done) break;
    }
  }

  // lintCounter
  const bool has_total = ends_with(n, "_total");
  if (t == lint_type::counter && !has_total) {
    problem("counter metrics should have \"_total\" suffix");
  } else if (t != lint_type::untyped && t != lint_type::counter && has_total) {
    problem("non-counter metrics should not have \"_total\" suffix");
  }

  // lintHistogramSummaryReserved
  if (t != lint_type::untyped) {
    const bool histogram = t == lint_type::histogram;
    const bool summary = t == lint_type::summary;
    if (!histogram && ends_with(n, "_bucket")) {
      problem("non-histogram metrics should not have \"_bucket\" suffix");
    }
    if (!histogram && !summary && ends_with(n, "_count")) {
      problem("non-histogram and non-summary metrics should not have \"_count\" suffix");
    }
    if (!histogram && !summary && ends_with(n, "_sum")) {
      problem("non-histogram and non-summary metrics should not have \"_sum\" suffix");
    }
    for (const labels* ls : series) {
      for (const auto& l : *ls) {
        if (!histogram && l.name == "le") {
          problem("non-histogram metrics should not have \"le\" label");
        }
        if (!summary && l.name == "quantile") {
          problem("non-summary metrics should not have \"quantile\" label");
        }
      }
    }
  }

  // lintMetricTypeInName
  const std::string lname = lower(n);
  for (std::string_view type_name : type_names) {
    if (has_word(lname, type_name)) {
      problem("metric name should not include type '" + std::string(type_name) + "'");
    }
  }

  // lintReservedChars
  if (n.find(':') != std::string::npos) problem("metric names should not contain ':'");

  // lintCamelCase
  if (has_camel_case(n)) {
    problem("metric names should be written in 'snake_case' not 'camelCase'");
  }
  for (const labels* ls : series) {
    for (const auto& l : *ls) {
      if (has_camel_case(l.name)) {
        problem("label names should be written in 'snake_case' not 'camelCase'");
      }
    }
  }

  // lintUnitAbbreviations
  for (std::string_view abbreviation : unit_abbreviations) {
    if (has_word(lname, abbreviation)) {
      problem("metric names should not contain abbreviated units");
    }
  }
}

}  // namespace

std::vector<lint_problem> lint(const std::vector<parsed_family>& families) {
  std::vector<lint_problem> out;
  for (const auto& f : families) lint_family(f, out);
  std::stable_sort(out.begin(), out.end(), [](const lint_problem& a, const lint_problem& b) {
    if (a.metric != b.metric) return a.metric < b.metric;
    return a.text < b.text;
  });
  return out;
}

std::vector<lint_problem> lint_text(std::string_view text_0_0_4) {
  return lint(parse_text(text_0_0_4));
}

}  // namespace operant::metrics

// libFuzzer target for the exposition parsers. Every input must either parse or be rejected with
// operant::metrics::parse_error; anything else (a crash, a sanitizer report, another exception
// escaping, a broken invariant) is a bug.
//
// The raw input goes to parse_text and parse_openmetrics; it is also fed behind a TYPE line and
// before "# EOF" so that the fuzzer reaches the typed-family checks (histogram buckets, summary
// quantiles, exemplars) without first having to discover the metadata syntax. What parses is
// also linted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "operant/metrics/lint.h"
#include "operant/metrics/parse.h"

namespace {

namespace m = operant::metrics;

void check(bool ok) {
  if (!ok) std::abort();
}

// What every successful parse guarantees.
void check_families(const std::vector<m::parsed_family>& families) {
  for (const auto& f : families) {
    check(m::is_valid_metric_name(f.name));
    check(m::is_valid_utf8(f.help));
    for (const auto& s : f.samples) {
      check(m::is_valid_metric_name(s.name));
      for (const auto& l : s.labels) check(m::is_valid_utf8(l.value));
      if (s.exemplar) {
        for (const auto& l : s.exemplar->labels) check(m::is_valid_utf8(l.value));
      }
    }
  }
}

template <typename Parse>
void parsed_or_rejected(Parse&& parse, std::string_view input) {
  try {
    const auto families = parse(input);
    check_families(families);
    (void)m::lint(families);
  } catch (const m::parse_error& e) {
    check(e.line() >= 1);
  }
}

void both(std::string_view input) {
  parsed_or_rejected([](std::string_view s) { return m::parse_text(s); }, input);
  parsed_or_rejected([](std::string_view s) { return m::parse_openmetrics(s); }, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  both(input);
  if (size == 0) return 0;
  // The first byte picks a type for a family "a" whose samples the rest of the input supplies.
  static constexpr std::string_view types[] = {"counter", "gauge",    "histogram",      "summary",
                                               "info",    "stateset", "gaugehistogram", "unknown"};
  const std::string_view type = types[static_cast<unsigned char>(input[0]) % std::size(types)];
  const std::string body(input.substr(1));
  both("# TYPE a " + std::string(type) + "\n" + body + "\n# EOF\n");
  if (type != "info" && type != "stateset" && type != "gaugehistogram") {
    both("# TYPE a " + std::string(type) + "\n# HELP a h\n" + body + "\n");
  }
  return 0;
}

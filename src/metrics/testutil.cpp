#include "operant/metrics/testutil.h"

#include <algorithm>
#include <sstream>

#include "operant/metrics/exposition.h"
#include "operant/metrics/parse.h"
#include "operant/metrics/snapshot.h"

namespace operant::metrics::testutil {

namespace {

std::string render(const labels& l) {
  std::string out = "{";
  for (const auto& [n, v] : l) {
    if (out.size() > 1) out += ",";
    out += n + "=\"" + v + "\"";
  }
  return out + "}";
}

labels sorted(labels l) {
  std::sort(l.begin(), l.end());
  return l;
}

std::vector<parsed_family> filter(std::vector<parsed_family> fams, const std::vector<std::string>& names) {
  if (names.empty()) return fams;
  std::erase_if(fams, [&](const parsed_family& f) {
    return std::find(names.begin(), names.end(), f.name) == names.end();
  });
  return fams;
}

// One canonical text for a set of families: the comparison is on this.
std::string normalise(std::vector<parsed_family> fams) {
  std::sort(fams.begin(), fams.end(),
            [](const parsed_family& a, const parsed_family& b) { return a.name < b.name; });
  std::string out;
  for (parsed_family& f : fams) {
    out += "# HELP " + f.name + " " + f.help + "\n";
    out += "# TYPE " + f.name + " " + std::string(to_string(f.type)) + "\n";
    std::vector<std::string> lines;
    for (parsed_sample& s : f.samples) {
      char num[32];
      const std::size_t n = format_double(s.value, num);
      lines.push_back(s.name + render(sorted(s.labels)) + " " + std::string(num, n));
    }
    std::sort(lines.begin(), lines.end());
    for (const std::string& l : lines) out += l + "\n";
  }
  return out;
}

std::string compare(const std::string& got_text, std::string_view expected,
                    const std::vector<std::string>& names) {
  const std::string want = normalise(filter(parse_text(expected), names));
  const std::string got = normalise(filter(parse_text(got_text), names));
  if (want == got) return "";
  std::istringstream a(want), b(got);
  std::string la, lb;
  std::size_t line = 0;
  while (true) {
    ++line;
    const bool ha = static_cast<bool>(std::getline(a, la));
    const bool hb = static_cast<bool>(std::getline(b, lb));
    if (!ha) la = "(end)";
    if (!hb) lb = "(end)";
    if (la != lb || (!ha && !hb)) break;
  }
  return "metrics differ at normalised line " + std::to_string(line) + ":\n  expected: " + la +
         "\n  got:      " + lb + "\n--- expected ---\n" + want + "--- got ---\n" + got;
}

double find_value(const std::string& text, std::string_view sample_name, const labels& l) {
  const labels want = sorted(l);
  std::vector<std::string> same_name;
  for (const parsed_family& f : parse_text(text)) {
    for (const parsed_sample& s : f.samples) {
      if (s.name != sample_name) continue;
      if (sorted(s.labels) == want) return s.value;
      same_name.push_back(render(sorted(s.labels)));
    }
  }
  std::string msg = "no sample " + std::string(sample_name) + render(want);
  if (same_name.empty()) {
    msg += " (no sample of that name at all)";
  } else {
    msg += "; samples of that name have labels:";
    for (const auto& s : same_name) msg += " " + s;
  }
  throw error(msg);
}

std::size_t count(const std::vector<family_snapshot>& fams, const std::vector<std::string>& names) {
  std::size_t n = 0;
  for (const family_snapshot& f : fams) {
    if (names.empty() || std::find(names.begin(), names.end(), f.desc.name) != names.end()) {
      n += f.series.size();
    }
  }
  return n;
}

}  // namespace

double to_float64(const collector& c) {
  const std::vector<family_snapshot> fams = snapshot(c);
  std::size_t series = 0;
  for (const auto& f : fams) series += f.series.size();
  if (fams.size() != 1 || series != 1) {
    throw error("to_float64 needs exactly one series; collected " + std::to_string(fams.size()) +
                " families with " + std::to_string(series) + " series");
  }
  const metric_type t = fams[0].desc.type;
  if (t == metric_type::histogram || t == metric_type::summary) {
    throw error("to_float64 cannot read " + std::string(to_string(t)) + " " + fams[0].desc.name +
                "; use sample_value with its _count, _sum or _bucket sample");
  }
  return fams[0].series[0].value;
}

double sample_value(const gatherer& g, std::string_view sample_name, const labels& l) {
  return find_value(encode_to_string(g, format::text), sample_name, l);
}
double sample_value(const collector& c, std::string_view sample_name, const labels& l) {
  return find_value(encode_to_string(c, format::text), sample_name, l);
}

std::size_t collect_and_count(const collector& c, const std::vector<std::string>& names) {
  return count(snapshot(c), names);
}
std::size_t gather_and_count(const gatherer& g, const std::vector<std::string>& names) {
  return count(snapshot(g), names);
}

std::string collect_and_compare(const collector& c, std::string_view expected,
                                const std::vector<std::string>& names) {
  return compare(encode_to_string(c, format::text), expected, names);
}
std::string gather_and_compare(const gatherer& g, std::string_view expected,
                               const std::vector<std::string>& names) {
  return compare(encode_to_string(g, format::text), expected, names);
}

std::vector<lint_problem> collect_and_lint(const collector& c) {
  return lint_text(encode_to_string(c, format::text));
}
std::vector<lint_problem> gather_and_lint(const gatherer& g) {
  return lint_text(encode_to_string(g, format::text));
}

}  // namespace operant::metrics::testutil

#include "operant/metrics/types.h"
#include "message.h"


#include <algorithm>
#include <cstdint>
#include <set>

namespace operant::metrics {

std::string_view to_string(metric_type t) noexcept {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
    case metric_type::summary: return "summary";
    case metric_type::info: return "info";
    case metric_type::unknown: return "unknown";
  }
  return "unknown";
}

namespace {
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
}  // namespace

namespace detail {
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}
}  // namespace detail

namespace {
using detail::quoted;

}  // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  if (!is_alpha(name[0]) && name[0] != ':') return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == ':'; });
}

bool is_valid_label_name(std::string_view name) noexcept {
  if (name.empty() || !is_alpha(name[0])) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [](char c) { return is_alpha(c) || is_digit(c); });
}

bool is_valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

namespace {
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

void validate_desc(family_desc& desc) {
  if (!is_valid_metric_name(desc.name)) {
    throw error("invalid metric name " + quoted(desc.name) +
                ": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  if (!is_valid_utf8(desc.help)) {
    throw error("help of metric " + quoted(desc.name) + " is not valid UTF-8");
  }
  std::set<std::string_view> seen;
  auto check_name = [&](const std::string& l, const char* kind) {
    if (!is_valid_label_name(l)) {
      throw error("invalid " + std::string(kind) + " label name " + quoted(l) + " for metric " +
                  quoted(desc.name) + ": expected [a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
    }
    if (!seen.insert(l).second) {
      throw error("duplicate label name " + quoted(l) + " for metric " + quoted(desc.name));
    }
    if (desc.type == metric_type::histogram && l == "le") {
      throw error("label name \"le\" is reserved for the buckets of histogram " + quoted(desc.name));
    }
    if (desc.type == metric_type::summary && l == "quantile") {
      throw error("label name \"quantile\" is reserved for the quantiles of summary " +
                  quoted(desc.name));
    }
  };
  for (const auto& l : desc.label_names) check_name(l, "variable");
  for (const auto& l : desc.const_labels) {
    check_name(l.name, "constant");
    if (!is_valid_utf8(l.value)) {
      throw error("value of constant label " + quoted(l.name) + " for metric " +
                  quoted(desc.name) + " is not valid UTF-8");
    }
  }
  std::sort(desc.const_labels.begin(), desc.const_labels.end());
  if (!desc.unit.empty() && desc.type == metric_type::info) {
    throw error("info metric " + quoted(desc.name) + " cannot have a unit (OpenMetrics forbids it)");
  }
  if (!desc.unit.empty()) {
    std::string_view base = desc.name;
    if (desc.type == metric_type::counter && ends_with(base, "_total")) {
      base.remove_suffix(6);
    }
    if (!is_valid_label_name(desc.unit) || !ends_with(base, "_" + desc.unit)) {
      throw error("unit " + quoted(desc.unit) + " of metric " + quoted(desc.name) +
                  ": expected the name to end in \"_" + desc.unit + "\"" +
                  (desc.type == metric_type::counter ? " (before \"_total\")" : ""));
    }
  }
  if (desc.type == metric_type::info && ends_with(desc.name, "_info")) {
    throw error("info metric " + quoted(desc.name) +
                ": give the name without the \"_info\" suffix; samples are named <name>_info");
  }
}

std::string build_fq_name(std::string_view ns, std::string_view subsystem, std::string_view name) {
  std::string out;
  for (std::string_view part : {ns, subsystem, name}) {
    if (part.empty()) continue;
    if (!out.empty()) out += '_';
    out += part;
  }
  return out;
}

void validate_exemplar_labels(const labels& l) {
  std::size_t runes = 0;
  std::set<std::string_view> names;
  auto count_runes = [](std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& [name, value] : l) {
    if (!is_valid_label_name(name)) {
      throw error("invalid exemplar label name " + quoted(name) +
                  ": expected [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (!is_valid_utf8(value)) {
      throw error("exemplar label " + quoted(name) + " has a value that is not valid UTF-8");
    }
    if (!names.insert(name).second) throw error("exemplar label " + quoted(name) + " given twice");
    runes += count_runes(name) + count_runes(value);
  }
  if (runes > 128) {
    throw error("exemplar labels have " + std::to_string(runes) +
                " UTF-8 code points; OpenMetrics allows at most 128");
  }
}

}  // namespace operant::metrics

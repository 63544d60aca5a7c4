// Parsers for text format 0.0.4 and OpenMetrics 1.0. See parse.h for the rules each enforces.
#include "operant/metrics/parse.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <system_error>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "operant/detail/text.h"

namespace operant::metrics {

parse_error::parse_error(std::size_t line, std::string message)
    : error("line " + std::to_string(line) + ": " + std::move(message)), line_(line) {}

namespace {

// ---- shared helpers ----------------------------------------------------------------------------

constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_label_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool is_label_char(char c) noexcept { return is_label_start(c) || is_digit(c); }
constexpr bool is_metric_start(char c) noexcept { return is_label_start(c) || c == ':'; }
constexpr bool is_metric_char(char c) noexcept { return is_label_char(c) || c == ':'; }

bool starts_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Quotes a token for an error message, Go %q style: control bytes and bytes that are not valid
// UTF-8 are escaped so the message is printable. Long tokens are shortened.
std::string quote(std::string_view s) {
  constexpr std::size_t max_len = 120;
  const bool utf8 = is_valid_utf8(s);
  std::string out = "\"";
  std::size_t n = 0;
  for (char ch : s) {
    if (++n > max_len) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
          operant::detail::append_hex_escape(out, c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

// Describes the byte at `i` of `s` (or the end of the line) for "found ..." messages.
std::string found_at(std::string_view s, std::size_t i) {
  if (i >= s.size()) return "end of line";
  const auto c = static_cast<unsigned char>(s[i]);
  if (c >= 0x20 && c < 0x7f) {
    if (c == '\'') return "\"'\"";
    return std::string("'") + s[i] + "'";
  }
  return quote(s.substr(i, 1));
}

std::size_t count_code_points(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Parses a float as Go's strconv.ParseFloat (and OpenMetrics' `number`) accept it:
//   [+-] ( digits [ "." digits* ] | "." digits ) [ (e|E) [+-] digits ]
//   [+-] ("inf" | "infinity"), "nan"     (case-insensitive; only when allow_special)
// No hex, no '_', no blanks. Values beyond the double range are rejected; values below it
// become (signed) zero, as in Go.
bool parse_float(std::string_view s, double& out, bool allow_special) {
  if (s.empty()) return false;
  bool negative = false;
  std::string_view body = s;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (allow_special) {
    if (iequals(body, "inf") || iequals(body, "infinity")) {
      out = negative ? -std::numeric_limits<double>::infinity()
                     : std::numeric_limits<double>::infinity();
      return true;
    }
    if (body.size() == s.size() && iequals(body, "nan")) {
      out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
  }
  // Syntax check.
  std::size_t i = 0;
  std::size_t int_digits = 0;
  std::size_t frac_digits = 0;
  while (i < body.size() && is_digit(body[i])) ++i, ++int_digits;
  const std::size_t point = i;
  bool has_point = false;
  if (i < body.size() && body[i] == '.') {
    has_point = true;
    ++i;
    while (i < body.size() && is_digit(body[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  const std::size_t mantissa_end = i;
  std::int64_t exp = 0;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) {
      exp_negative = body[i] == '-';
      ++i;
    }
    std::size_t exp_digits = 0;
    while (i < body.size() && is_digit(body[i])) {
      if (exp < 1'000'000'000) exp = exp * 10 + (body[i] - '0');
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) return false;
    if (exp_negative) exp = -exp;
  }
  if (i != body.size()) return false;

  const std::string_view mantissa = body.substr(0, mantissa_end);
  const bool all_zero =
      std::all_of(mantissa.begin(), mantissa.end(), [](char ch) { return ch == '0' || ch == '.'; });
  if (all_zero) {
    out = negative ? -0.0 : 0.0;
    return true;
  }
  double v = 0;
  const auto [ptr, ec] =
      std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Overflow or underflow? Find the decimal order of magnitude of the mantissa's first
    // significant digit: positive means the value is at least 1, so it overflowed.
    std::int64_t order = 0;
    bool found = false;
    for (std::size_t k = 0; k < point; ++k) {
      if (body[k] != '0') {
        order = static_cast<std::int64_t>(point - k);
        found = true;
        break;
      }
    }
    if (!found && has_point) {
      for (std::size_t k = point + 1; k < mantissa_end; ++k) {
        if (body[k] != '0') {
          order = -static_cast<std::int64_t>(k - point - 1);
          break;
        }
      }
    }
    if (order + exp > 0) return false;  // overflow
    v = 0;                              // underflow: Go returns zero without error
  } else if (ec != std::errc() || ptr != body.data() + body.size()) {
    return false;
  }
  out = negative ? -v : v;
  return true;
}

// Go's strconv.ParseInt(s, 10, 64).
bool parse_int64(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  bool negative = false;
  std::string_view digits = s;
  if (digits[0] == '+' || digits[0] == '-') {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return false;
  std::uint64_t v = 0;
  constexpr std::uint64_t limit = static_cast<std::uint64_t>(1) << 63;  // |INT64_MIN|
  for (char c : digits) {
    if (!is_digit(c)) return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  if (!negative && v > limit - 1) return false;
  out = negative ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
  return true;
}

// A position in one line.
struct cursor {
  std::string_view s;
  std::size_t i = 0;
  bool at_end() const noexcept { return i >= s.size(); }
  char peek() const noexcept { return i < s.size() ? s[i] : '\n'; }
  void skip_blanks() noexcept {
    while (i < s.size() && is_blank(s[i])) ++i;
  }
  std::string_view read_while(bool (*pred)(char) noexcept) noexcept {
    const std::size_t start = i;
    while (i < s.size() && pred(s[i])) ++i;
    return s.substr(start, i - start);
  }
  std::string_view read_metric_name() noexcept {
    if (at_end() || !is_metric_start(s[i])) return {};
    return read_while(is_metric_char);
  }
  std::string_view read_label_name() noexcept {
    if (at_end() || !is_label_start(s[i])) return {};
    return read_while(is_label_char);
  }
  std::string_view read_until_blank() noexcept {
    const std::size_t start = i;
    while (i < s.size() && !is_blank(s[i])) ++i;
    return s.substr(start, i - start);
  }
  std::string_view read_until_space() noexcept {
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    return s.substr(start, i - start);
  }
  std::string found() const { return found_at(s, i); }
};

// Calls fn(line, line_number, terminated) for each line; a final line without '\n' is passed
// with terminated == false unless the input is empty there.
template <typename Fn>
std::size_t for_each_line(std::string_view body, Fn&& fn) {
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < body.size()) {
    ++line_no;
    const std::size_t nl = body.find('\n', pos);
    const bool terminated = nl != std::string_view::npos;
    const std::size_t end = terminated ? nl : body.size();
    fn(body.substr(pos, end - pos), line_no, terminated);
    pos = terminated ? nl + 1 : body.size();
  }
  return line_no;
}

std::string series_text(std::string_view name, const labels& l) {
  std::string out(name);
  out += '{';
  bool first = true;
  for (const auto& x : l) {
    if (!first) out += ',';
    first = false;
    out += x.name;
    out += '=';
    out += quote(x.value);
  }
  out += '}';
  return out;
}

labels sorted(labels l) {
  std::sort(l.begin(), l.end());
  return l;
}

// ---- text format 0.0.4 -------------------------------------------------------------------------

class text_parser {
 public:
  std::vector<parsed_family> run(std::string_view body) {
    for_each_line(body, [this](std::string_view line, std::size_t no, bool terminated) {
      line_ = no;
      cursor c{line, 0};
      c.skip_blanks();
      if (c.at_end()) return;  // blank line
      if (c.peek() == '#') {
        comment(c);
      } else {
        sample(c);
      }
      if (!terminated) {
        fail("unexpected end of input: the last line does not end in a newline");
      }
    });
    std::vector<parsed_family> out;
    for (auto& f : families_) {
      if (!f.fam.samples.empty()) out.push_back(std::move(f.fam));
    }
    return out;
  }

 private:
  struct family_state {
    parsed_family fam;
    bool type_set = false;  // TextParser: Type != nil (set by TYPE or by the first sample).
    bool help_set = false;
  };

  [[noreturn]] void fail(const std::string& msg) const { throw parse_error(line_, msg); }

  // TextParser's setOrCreateCurrentMF: the exact name first, then the summary the name is a
  // _count/_sum of, then the histogram it is a _bucket/_count/_sum of; otherwise a new family.
  std::size_t resolve(std::string_view name) {
    if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
    auto strip = [&](std::string_view suffix) -> std::string_view {
      if (name.size() > suffix.size() && ends_with(name, suffix)) {
        return name.substr(0, name.size() - suffix.size());
      }
      return {};
    };
    auto lookup = [&](std::string_view base, metric_type t) -> std::size_t {
      if (base.empty()) return npos;
      auto it = by_name_.find(std::string(base));
      if (it == by_name_.end() || families_[it->second].fam.type != t) return npos;
      return it->second;
    };
    std::string_view summary_base = strip("_count");
    if (summary_base.empty()) summary_base = strip("_sum");
    if (auto f = lookup(summary_base, metric_type::summary); f != npos) return f;
    std::string_view histogram_base = summary_base;
    if (histogram_base.empty()) histogram_base = strip("_bucket");
    if (auto f = lookup(histogram_base, metric_type::histogram); f != npos) return f;
    families_.push_back(family_state{});
    families_.back().fam.name = std::string(name);
    by_name_.emplace(std::string(name), families_.size() - 1);
    return families_.size() - 1;
  }

  void comment(cursor& c) {
    ++c.i;  // '#'
    c.skip_blanks();
    if (c.at_end()) return;
    const std::string_view keyword = c.read_until_blank();
    if (c.at_end()) return;
    if (keyword != "HELP" && keyword != "TYPE") return;  // an ordinary comment
    c.skip_blanks();
    const std::string_view name = c.read_metric_name();
    if (c.at_end()) return;  // "# HELP name" with nothing after it: ignored, as TextParser does
    if (!is_blank(c.peek())) {
      fail("invalid metric name in " + std::string(keyword) + " line: found " + c.found() +
           " after " + quote(name) +
           "; expected a name matching [a-zA-Z_:][a-zA-Z0-9_:]* "
           "followed by a blank");
    }
    family_state& f = families_[resolve(name)];
    c.skip_blanks();
    if (c.at_end()) return;
    if (keyword == "HELP") {
      if (f.help_set) fail("second HELP line for metric name " + quote(f.fam.name));
      std::string help;
      for (; !c.at_end(); ++c.i) {
        const char ch = c.s[c.i];
        if (ch != '\\') {
          help += ch;
          continue;
        }
        ++c.i;
        if (c.at_end()) fail("invalid escape sequence: '\\' at the end of the HELP line");
        if (c.s[c.i] == '\\') {
          help += '\\';
        } else if (c.s[c.i] == 'n') {
          help += '\n';
        } else {
          fail("invalid escape sequence " + quote(c.s.substr(c.i - 1, 2)) +
               R"( in HELP text; only \\ and \n are allowed)");
        }
      }
      if (!is_valid_utf8(help)) fail("HELP text " + quote(help) + " is not valid UTF-8");
      f.fam.help = std::move(help);
      f.fam.has_help = true;
      f.help_set = true;
    } else {
      if (f.type_set) {
        fail("second TYPE line for metric name " + quote(f.fam.name) +
             ", or TYPE reported after samples");
      }
      // The rest of the line, blanks included. TextParser reads it without escape sequences but
      // still drops every backslash ("histo\\gram" is a histogram).
      const std::string_view written = c.s.substr(c.i);
      std::string word;
      for (char ch : written) {
        if (ch != '\\') word += ch;
      }
      static constexpr std::pair<std::string_view, metric_type> types[] = {
          {"counter", metric_type::counter},     {"gauge", metric_type::gauge},
          {"histogram", metric_type::histogram}, {"summary", metric_type::summary},
          {"untyped", metric_type::unknown},
      };
      const auto* t = std::find_if(std::begin(types), std::end(types),
                                   [&](const auto& p) { return iequals(word, p.first); });
      if (t == std::end(types)) {
        fail("unknown metric type " + quote(written) +
             "; expected counter, gauge, histogram, summary or untyped");
      }
      f.fam.type = t->second;
      f.fam.type_name = std::string(written);
      f.type_set = true;
    }
  }

  void sample(cursor& c) {
    const std::string_view name = c.read_metric_name();
    if (name.empty()) {
      fail("invalid metric name: found " + c.found() +
           " at the start of a sample; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    const std::size_t fi = resolve(name);
    family_state& f = families_[fi];
    if (!f.type_set) f.type_set = true;  // untyped from now on
    if (fi != last_sample_family_ && !f.fam.samples.empty()) {
      fail("sample " + quote(name) + " of metric family " + quote(f.fam.name) +
           " was collected before: the samples of a family must be contiguous");
    }
    last_sample_family_ = fi;

    parsed_sample s;
    s.name = std::string(name);
    c.skip_blanks();
    if (c.peek() == '{') {
      ++c.i;
      read_labels(c, f.fam, s.labels);
      c.skip_blanks();
    }
    const std::string_view value = c.read_until_blank();
    if (!parse_float(value, s.value, true)) {
      fail("expected float as value of " + quote(name) + ", got " + quote(value));
    }
    if (!c.at_end()) {
      c.skip_blanks();
      const std::string_view ts = c.read_until_blank();
      std::int64_t ms = 0;
      if (!parse_int64(ts, ms)) {
        fail("expected integer as timestamp of " + quote(name) + ", got " + quote(ts));
      }
      if (!c.at_end()) fail("spurious string after timestamp: " + quote(c.s.substr(c.i)));
      s.timestamp = static_cast<double>(ms);
    }
    f.fam.samples.push_back(std::move(s));
  }

  void read_labels(cursor& c, const parsed_family& fam, labels& out) {
    for (;;) {
      c.skip_blanks();
      if (c.peek() == '}') {
        ++c.i;
        return;
      }
      const std::string_view lname = c.read_label_name();
      if (lname.empty()) {
        fail("invalid label name for metric " + quote(fam.name) + ": found " + c.found() +
             "; expected [a-zA-Z_][a-zA-Z0-9_]* or '}'");
      }
      c.skip_blanks();
      if (c.peek() != '=') {
        fail("expected '=' after label name " + quote(lname) + ", found " + c.found());
      }
      ++c.i;
      if (lname == "__name__") fail("label name \"__name__\" is reserved");
      for (const auto& l : out) {
        if (l.name == lname) {
          fail("duplicate label name " + quote(lname) + " for metric " + quote(fam.name));
        }
      }
      c.skip_blanks();
      if (c.peek() != '"') {
        fail("expected '\"' at start of the value of label " + quote(lname) + ", found " +
             c.found());
      }
      ++c.i;
      std::string value;
      for (;;) {
        if (c.at_end()) {
          fail("label value " + quote(value) + " of label " + quote(lname) +
               " contains an unescaped new-line or is not terminated by '\"'");
        }
        const char ch = c.s[c.i++];
        if (ch == '"') break;
        if (ch != '\\') {
          value += ch;
          continue;
        }
        if (c.at_end()) continue;  // reported as unterminated above
        const char e = c.s[c.i++];
        if (e == '\\' || e == '"') {
          value += e;
        } else if (e == 'n') {
          value += '\n';
        } else {
          fail("invalid escape sequence " + quote(std::string("\\") + e) + " in value of label " +
               quote(lname) + R"(; only \\, \" and \n are allowed)");
        }
      }
      if (!is_valid_utf8(value)) {
        fail("invalid label value " + quote(value) + " of label " + quote(lname) +
             ": not valid UTF-8");
      }
      double ignored = 0;
      if (fam.type == metric_type::histogram && lname == "le" &&
          !parse_float(value, ignored, true)) {
        fail("expected float as value for 'le' label, got " + quote(value));
      }
      if (fam.type == metric_type::summary && lname == "quantile" &&
          !parse_float(value, ignored, true)) {
        fail("expected float as value for 'quantile' label, got " + quote(value));
      }
      out.push_back(label{std::string(lname), std::move(value)});
      c.skip_blanks();
      if (c.peek() == ',') {
        ++c.i;
        continue;
      }
      if (c.peek() == '}') {
        ++c.i;
        return;
      }
      fail("unexpected " + c.found() + " after the value of label " + quote(lname) +
           "; expected ',' or '}'");
    }
  }

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<family_state> families_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::size_t last_sample_family_ = npos;
  std::size_t line_ = 0;
};

// ---- OpenMetrics 1.0 ---------------------------------------------------------------------------

enum class om_type {
  none,
  unknown,
  gauge,
  counter,
  stateset,
  info,
  histogram,
  gaugehistogram,
  summary
};

struct om_type_word {
  std::string_view word;
  om_type type;
  metric_type mt;
};
constexpr om_type_word om_types[] = {
    {"unknown", om_type::unknown, metric_type::unknown},
    {"gauge", om_type::gauge, metric_type::gauge},
    {"counter", om_type::counter, metric_type::counter},
    {"stateset", om_type::stateset, metric_type::unknown},
    {"info", om_type::info, metric_type::info},
    {"histogram", om_type::histogram, metric_type::histogram},
    {"gaugehistogram", om_type::gaugehistogram, metric_type::unknown},
    {"summary", om_type::summary, metric_type::summary},
};

std::vector<std::string_view> om_suffixes(om_type t) {
  switch (t) {
    case om_type::counter:
      return {"_total", "_created"};
    case om_type::summary:
      return {"", "_count", "_sum", "_created"};
    case om_type::histogram:
      return {"_count", "_sum", "_bucket", "_created"};
    case om_type::gaugehistogram:
      return {"_gcount", "_gsum", "_bucket"};
    case om_type::info:
      return {"_info"};
    default:
      return {""};
  }
}

bool is_histogram_like(om_type t) noexcept {
  return t == om_type::histogram || t == om_type::gaugehistogram;
}

const label* find_label(const labels& l, std::string_view name) noexcept {
  for (const auto& x : l) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

std::string format_number(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// What a histogram/gaugehistogram MetricPoint (one group at one timestamp) has shown so far.
struct histogram_point {
  labels group;
  std::optional<double> ts;
  std::optional<double> bucket;  // last `le`
  double value = 0;              // last bucket value
  std::optional<double> count;
  bool negative_buckets = false, has_sum = false, has_gsum = false, negative_gsum = false;
  std::size_t line = 0;
};

class om_parser {
 public:
  std::vector<parsed_family> run(std::string_view body) {
    const std::size_t lines = for_each_line(
        body, [this](std::string_view line, std::size_t no, bool) { one_line(line, no); });
    if (!eof_) {
      throw parse_error(lines + 1, "missing \"# EOF\" at the end of the exposition");
    }
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw parse_error(line_, msg); }
  [[noreturn]] static void fail_at(std::size_t line, const std::string& msg) {
    throw parse_error(line, msg);
  }

  parsed_family& fam() { return out_.back(); }

  void one_line(std::string_view line, std::size_t no) {
    line_ = no;
    if (eof_) fail("unexpected text after \"# EOF\": " + quote(line));
    if (!is_valid_utf8(line)) fail("the line is not valid UTF-8: " + quote(line));
    if (line.empty()) fail("empty line; OpenMetrics does not allow blank lines");
    if (line == "# EOF") {
      finish_family();
      eof_ = true;
      return;
    }
    if (line[0] == '#') {
      metadata(line);
    } else {
      sample_line(line);
    }
  }

  void start_family(std::string_view name) {
    out_.emplace_back();
    fam().name = std::string(name);
    in_family_ = true;
    family_line_ = line_;
    type_ = om_type::none;
    seen_help_ = seen_type_ = seen_unit_ = false;
    allowed_ = {std::string(name)};
    have_group_ = false;
    group_.clear();
    group_ts_.reset();
    seen_groups_.clear();
    seen_series_.clear();
    point_.reset();
  }

  void finish_family() {
    if (!in_family_) return;
    in_family_ = false;
    const om_type t = type_ == om_type::none ? om_type::unknown : type_;
    auto suffixes = om_suffixes(t);
    if (std::find(suffixes.begin(), suffixes.end(), "") == suffixes.end()) {
      suffixes.insert(suffixes.begin(), "");
    }
    for (std::string_view suffix : suffixes) {
      const std::string n = fam().name + std::string(suffix);
      if (!seen_names_.insert(n).second) {
        fail_at(family_line_, "metric family " + quote(fam().name) +
                                  " clashes with an earlier family: the " + "name " + quote(n) +
                                  " is already taken (families must be unique and " +
                                  "must not be interleaved)");
      }
    }
    if (point_) check_histogram_point(*point_);
    point_.reset();
  }

  void metadata(std::string_view line) {
    if (!starts_with(line, "# ")) {
      fail(R"(expected "# HELP", "# TYPE", "# UNIT" or "# EOF", found )" + quote(line) +
           "; OpenMetrics allows no other comments");
    }
    std::string_view rest = line.substr(2);
    const std::size_t sp = rest.find(' ');
    const std::string_view keyword = rest.substr(0, sp);
    if (keyword != "HELP" && keyword != "TYPE" && keyword != "UNIT") {
      fail("unknown metadata keyword " + quote(keyword) + "; expected HELP, TYPE or UNIT");
    }
    if (sp == std::string_view::npos) {
      fail("incomplete " + std::string(keyword) + " line " + quote(line) + "; expected \"# " +
           std::string(keyword) + " <metric name> <value>\"");
    }
    rest.remove_prefix(sp + 1);
    const std::size_t sp2 = rest.find(' ');
    const std::string_view name = rest.substr(0, sp2);
    if (!is_valid_metric_name(name)) {
      fail("invalid metric name " + quote(name) + " in " + std::string(keyword) +
           " line; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    if (sp2 == std::string_view::npos) {
      fail("incomplete " + std::string(keyword) + " line " + quote(line) +
           ": expected a single space and a value after the metric name");
    }
    const std::string_view value = rest.substr(sp2 + 1);
    if (in_family_ && name == fam().name) {
      if (!fam().samples.empty()) {
        fail(std::string(keyword) + " line for metric family " + quote(name) +
             " after its samples; metadata must come first");
      }
    } else {
      finish_family();
      start_family(name);
    }
    if (keyword == "HELP") {
      if (seen_help_) fail("more than one HELP line for metric family " + quote(name));
      seen_help_ = true;
      // Escapes \\, \n and \"; a backslash before anything else stands for itself.
      std::string help;
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '\\' || i + 1 == value.size()) {
          help += value[i];
          continue;
        }
        const char e = value[++i];
        if (e == '\\' || e == '"') {
          help += e;
        } else if (e == 'n') {
          help += '\n';
        } else {
          help += '\\';
          help += e;
        }
      }
      fam().has_help = !help.empty();
      fam().help = std::move(help);
    } else if (keyword == "TYPE") {
      if (seen_type_) fail("more than one TYPE line for metric family " + quote(name));
      seen_type_ = true;
      const auto* t = std::find_if(std::begin(om_types), std::end(om_types),
                                   [&](const om_type_word& w) { return w.word == value; });
      if (t == std::end(om_types)) {
        fail("invalid TYPE " + quote(value) + " for metric family " + quote(name) +
             "; expected unknown, gauge, counter, stateset, info, histogram, gaugehistogram "
             "or summary");
      }
      type_ = t->type;
      fam().type = t->mt;
      fam().type_name = std::string(value);
      allowed_.clear();
      for (std::string_view suffix : om_suffixes(type_)) {
        allowed_.push_back(fam().name + std::string(suffix));
      }
      check_unit_type();
    } else {
      if (seen_unit_) fail("more than one UNIT line for metric family " + quote(name));
      seen_unit_ = true;
      if (!std::all_of(value.begin(), value.end(), is_metric_char)) {
        fail("invalid UNIT " + quote(value) + " for metric family " + quote(name) +
             "; expected [a-zA-Z0-9_:]*");
      }
      if (!value.empty() && !ends_with(name, "_" + std::string(value))) {
        fail("unit " + quote(value) + " does not match metric family " + quote(name) +
             ": the name must end in \"_" + std::string(value) + "\"");
      }
      fam().unit = std::string(value);
      check_unit_type();
    }
  }

  void check_unit_type() {
    if (!fam().unit.empty() && (type_ == om_type::info || type_ == om_type::stateset)) {
      fail("metric family " + quote(fam().name) + " of type " + fam().type_name +
           " must not have a unit (" + quote(fam().unit) + ")");
    }
  }

  // labels = "{" [label *("," label)] "}"; c is at '{'.
  labels read_labels(cursor& c, std::string_view what) {
    labels out;
    ++c.i;
    if (c.peek() == '}') {
      ++c.i;
      return out;
    }
    for (;;) {
      const std::string_view lname = c.read_label_name();
      if (lname.empty()) {
        fail("expected a label name in the labels of " + std::string(what) + ", found " +
             c.found() + " (no spaces, no empty or trailing entries)");
      }
      if (c.peek() != '=') {
        fail("expected '=' after label name " + quote(lname) + ", found " + c.found());
      }
      ++c.i;
      if (c.peek() != '"') {
        fail("expected '\"' to start the value of label " + quote(lname) + ", found " + c.found());
      }
      ++c.i;
      std::string value;
      for (;;) {
        if (c.at_end()) {
          fail("value of label " + quote(lname) + " is not terminated by '\"'");
        }
        const char ch = c.s[c.i++];
        if (ch == '"') break;
        if (ch != '\\') {
          value += ch;
          continue;
        }
        if (c.at_end()) fail("value of label " + quote(lname) + " is not terminated by '\"'");
        const char e = c.s[c.i++];
        if (e == '\\' || e == '"') {
          value += e;
        } else if (e == 'n') {
          value += '\n';
        } else {
          value += '\\';
          value += e;
        }
      }
      if (find_label(out, lname) != nullptr) {
        fail("duplicate label name " + quote(lname) + " in the labels of " + std::string(what));
      }
      out.push_back(label{std::string(lname), std::move(value)});
      if (c.peek() == ',') {
        ++c.i;
        continue;
      }
      if (c.peek() == '}') {
        ++c.i;
        return out;
      }
      fail("expected ',' or '}' after the value of label " + quote(lname) + ", found " + c.found());
    }
  }

  double read_number(cursor& c, std::string_view what, bool realnumber_only) {
    const std::string_view tok = c.read_until_space();
    double v = 0;
    if (tok.empty()) fail("missing " + std::string(what) + ", found " + c.found());
    if (!parse_float(tok, v, !realnumber_only)) {
      fail("invalid " + std::string(what) + " " + quote(tok) +
           (realnumber_only ? "; expected a real number such as 1, -2.5 or 1.5e9"
                            : "; expected a number such as 1, -2.5, 1e-3, NaN, +Inf or -Inf"));
    }
    return v;
  }

  parsed_sample parse_sample(std::string_view line) {
    cursor c{line, 0};
    parsed_sample s;
    const std::string_view name = c.read_metric_name();
    if (name.empty()) {
      fail("invalid metric name: found " + c.found() +
           " at the start of a sample; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    s.name = std::string(name);
    if (c.peek() == '{') s.labels = read_labels(c, "sample " + quote(name));
    if (c.peek() != ' ') {
      fail("expected a single space before the value of " + quote(name) + ", found " + c.found());
    }
    ++c.i;
    s.value = read_number(c, "value", false);
    if (c.at_end()) return s;
    ++c.i;  // ' '
    if (c.peek() != '#') {
      s.timestamp = read_number(c, "timestamp", true);
      if (c.at_end()) return s;
      ++c.i;  // ' '
      if (c.peek() != '#') {
        fail("expected \"# \" and an exemplar after the timestamp, found " + c.found());
      }
    }
    // exemplar = SP HASH SP labels SP number [SP timestamp]
    ++c.i;  // '#'
    if (c.peek() != ' ') fail("expected ' ' after '#' of the exemplar, found " + c.found());
    ++c.i;
    if (c.peek() != '{') {
      fail("expected '{' to start the exemplar's labels, found " + c.found() +
           " (an exemplar without labels is written {})");
    }
    exemplar ex;
    ex.labels = read_labels(c, "the exemplar");
    std::size_t runes = 0;
    for (const auto& l : ex.labels) runes += count_code_points(l.name) + count_code_points(l.value);
    if (runes > 128) {
      fail("exemplar labels have " + std::to_string(runes) +
           " code points; at most 128 are allowed");
    }
    if (c.peek() != ' ') {
      fail("expected a single space before the exemplar's value, found " + c.found());
    }
    ++c.i;
    ex.value = read_number(c, "exemplar value", false);
    if (!c.at_end()) {
      ++c.i;
      ex.timestamp = read_number(c, "exemplar timestamp", true);
      ex.has_timestamp = true;
      if (!c.at_end()) fail("unexpected text after the exemplar: " + quote(c.s.substr(c.i)));
    }
    s.exemplar = std::move(ex);
    return s;
  }

  void sample_line(std::string_view line) {
    parsed_sample s = parse_sample(line);
    if (!in_family_ || std::find(allowed_.begin(), allowed_.end(), s.name) == allowed_.end()) {
      finish_family();
      start_family(s.name);
      type_ = om_type::unknown;  // a family without TYPE
    }
    const std::string& n = fam().name;
    const std::string_view suffix = std::string_view{s.name}.substr(n.size());
    const std::string series = series_text(s.name, s.labels);

    // Labels a type requires.
    double le = 0;
    if (type_ == om_type::stateset && find_label(s.labels, n) == nullptr) {
      fail("stateset sample " + series + " lacks the label " + quote(n) + " that names its state");
    }
    if (is_histogram_like(type_) && suffix == "_bucket") {
      const label* l = find_label(s.labels, "le");
      if (l == nullptr) fail("histogram bucket " + series + " has no \"le\" label");
      if (!parse_float(l->value, le, true) || std::isnan(le) ||
          (std::isinf(le) && le > 0 && l->value != "+Inf")) {
        fail("invalid \"le\" label value " + quote(l->value) + " of " + series +
             "; expected a number, not NaN, with +Inf written \"+Inf\"");
      }
    }
    if (type_ == om_type::summary && suffix.empty()) {
      const label* l = find_label(s.labels, "quantile");
      if (l == nullptr) fail("summary sample " + series + " has no \"quantile\" label");
      double q = 0;
      if (!parse_float(l->value, q, true) || !(q >= 0 && q <= 1)) {
        fail("invalid \"quantile\" label value " + quote(l->value) + " of " + series +
             "; expected a number between 0 and 1");
      }
    }

    // Grouping: the samples of one Metric (labels without le/quantile/state) are contiguous.
    labels g;
    if (type_ != om_type::info) {
      for (const auto& l : s.labels) {
        if (is_histogram_like(type_) && suffix == "_bucket" && l.name == "le") continue;
        if (type_ == om_type::summary && suffix.empty() && l.name == "quantile") continue;
        if (type_ == om_type::stateset && l.name == n) continue;
        g.push_back(l);
      }
      std::sort(g.begin(), g.end());
    }
    if (have_group_ && g == group_) {
      if (s.timestamp.has_value() != group_ts_.has_value()) {
        fail("sample " + series + " mixes samples with and without timestamps in one metric");
      }
      if (group_ts_ && *group_ts_ > *s.timestamp && type_ != om_type::info) {
        fail("timestamp of " + series + " goes backwards within its metric (" +
             format_number(*s.timestamp) + " after " + format_number(*group_ts_) + ")");
      }
    } else if (have_group_ && seen_groups_.count(g) != 0) {
      fail("sample " + series + " belongs to a metric of family " + quote(n) +
           " seen earlier; the samples of a metric must not be interleaved with other metrics");
    }
    auto key = std::make_tuple(s.name, sorted(s.labels), s.timestamp);
    if (!seen_series_.insert(std::move(key)).second) {
      fail("duplicate sample " + series +
           (s.timestamp ? " with the same timestamp" : std::string()));
    }
    have_group_ = true;
    group_ = g;
    group_ts_ = s.timestamp;
    seen_groups_.insert(std::move(g));

    // Histogram MetricPoints.
    if (is_histogram_like(type_)) {
      if (!point_ || point_->group != group_ || point_->ts != s.timestamp) {
        if (point_) check_histogram_point(*point_);
        point_.emplace();
        point_->group = group_;
        point_->ts = s.timestamp;
      }
      histogram_point& p = *point_;
      p.line = line_;
      if (suffix == "_bucket") {
        if (le < 0) p.negative_buckets = true;
        if (p.bucket && le <= *p.bucket) {
          fail("histogram buckets out of order: " + series + " follows le=\"" +
               format_number(*p.bucket) + "\"; buckets must be sorted by increasing le");
        }
        if (s.value < p.value) {
          fail("histogram bucket values out of order: " + series + " has " +
               format_number(s.value) + ", less than the previous bucket's " +
               format_number(p.value) + "; buckets are cumulative");
        }
        p.bucket = le;
        p.value = s.value;
      } else if (suffix == "_count" || suffix == "_gcount") {
        p.count = s.value;
      } else if (suffix == "_sum") {
        p.has_sum = true;
      } else if (suffix == "_gsum") {
        p.has_gsum = true;
        if (s.value < 0) p.negative_gsum = true;
      }
    }

    // Values.
    if (type_ == om_type::stateset && s.value != 0 && s.value != 1) {
      fail("stateset sample " + series + " has value " + format_number(s.value) +
           "; expected 0 or 1");
    }
    if (type_ == om_type::info && s.value != 1) {
      fail("info sample " + series + " has value " + format_number(s.value) +
           "; info values are always 1");
    }
    if (type_ == om_type::summary && suffix.empty() && s.value < 0) {
      fail("quantile value of " + series + " is negative (" + format_number(s.value) + ")");
    }
    const bool counter_like = suffix == "_total" || suffix == "_sum" || suffix == "_count" ||
                              suffix == "_bucket" || suffix == "_gcount" || suffix == "_gsum";
    if (counter_like && std::isnan(s.value)) {
      fail("counter-like sample " + series + " is NaN");
    }
    if (counter_like && suffix != "_gsum" && s.value < 0) {
      fail("counter-like sample " + series + " is negative (" + format_number(s.value) + ")");
    }
    const bool integral =
        (is_histogram_like(type_) && suffix == "_bucket") || suffix == "_gcount" ||
        ((type_ == om_type::histogram || type_ == om_type::summary) && suffix == "_count");
    if (integral && !(std::isfinite(s.value) && std::floor(s.value) == s.value)) {
      fail("sample " + series + " must be an integer, got " + format_number(s.value));
    }
    if (s.exemplar && !((is_histogram_like(type_) && suffix == "_bucket") ||
                        (type_ == om_type::counter && suffix == "_total"))) {
      fail("exemplar on " + series +
           "; only histogram/gaugehistogram buckets and counter _total samples can have "
           "exemplars");
    }
    fam().samples.push_back(std::move(s));
  }

  void check_histogram_point(const histogram_point& p) const {
    const std::string& n = out_.back().name;
    const std::string where = "histogram " + series_text(n, p.group);
    if (!p.bucket || !std::isinf(*p.bucket) || *p.bucket < 0) {
      fail_at(p.line, where + " has no +Inf bucket");
    }
    if (p.count && *p.count != p.value) {
      fail_at(p.line, where + ": count " + format_number(*p.count) +
                          " does not equal the +Inf bucket " + format_number(p.value));
    }
    if (p.has_sum && !p.count) fail_at(p.line, where + " has _sum but no _count");
    if (p.has_gsum && !p.count) fail_at(p.line, where + " has _gsum but no _gcount");
    if (!(p.has_sum || p.has_gsum) && p.count) {
      fail_at(p.line, where + " has _count/_gcount but no _sum/_gsum");
    }
    if (p.negative_buckets && p.has_sum) {
      fail_at(p.line, where + " has negative buckets and a _sum; only gaugehistograms may");
    }
    if (!p.negative_buckets && p.negative_gsum) {
      fail_at(p.line, where + " has a negative _gsum but no negative buckets");
    }
  }

  std::vector<parsed_family> out_;
  std::set<std::string> seen_names_;
  std::size_t line_ = 0;
  bool eof_ = false;

  // The current family.
  bool in_family_ = false;
  std::size_t family_line_ = 0;
  om_type type_ = om_type::none;
  bool seen_help_ = false, seen_type_ = false, seen_unit_ = false;
  std::vector<std::string> allowed_;
  bool have_group_ = false;
  labels group_;
  std::optional<double> group_ts_;
  std::set<labels> seen_groups_;
  std::set<std::tuple<std::string, labels, std::optional<double>>> seen_series_;
  std::optional<histogram_point> point_;
};

}  // namespace

std::vector<parsed_family> parse_text(std::string_view body) { return text_parser{}.run(body); }

std::vector<parsed_family> parse_openmetrics(std::string_view body) {
  return om_parser{}.run(body);
}

}  // namespace operant::metrics

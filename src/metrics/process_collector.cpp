#include "operant/metrics/process_collector.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "operant/detail/text.h"

namespace operant::metrics {

namespace {

// Indexes into descs_, in client_golang's Describe() order.
enum family_index : std::size_t {
  cpu_seconds = 0,
  open_fds,
  max_fds,
  virtual_memory,
  virtual_memory_max,
  resident_memory,
  start_time,
  family_count,
};
static_assert(family_count == 7);

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Quotes a value read from a file for an error message: control and non-ASCII bytes are shown as
// \xNN, and long values are cut so that a garbage file cannot make a huge message.
std::string quoted(std::string_view s) {
  constexpr std::size_t max_shown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += s[i];
    } else if (c < 0x20 || c >= 0x7f) {
      operant::detail::append_hex_escape(out, c);
    } else {
      out += s[i];
    }
  }
  out += '"';
  if (s.size() > max_shown) out += "...";
  return out;
}

// Splits on whitespace, one token at a time.
class tokenizer {
 public:
  explicit tokenizer(std::string_view s) noexcept : rest_(s) {}
  std::optional<std::string_view> next() noexcept {
    std::size_t i = 0;
    while (i < rest_.size() && is_space(rest_[i])) ++i;
    if (i == rest_.size()) {
      rest_ = {};
      return std::nullopt;
    }
    std::size_t j = i;
    while (j < rest_.size() && !is_space(rest_[j])) ++j;
    const std::string_view token = rest_.substr(i, j - i);
    rest_.remove_prefix(j);
    return token;
  }

 private:
  std::string_view rest_;
};

// Parses the whole of `token` as a decimal integer of type T (no sign for unsigned types).
template <typename T>
std::optional<T> parse_integer(std::string_view token) noexcept {
  T value{};
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  if (token.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

// ---- /proc/<pid>/stat ------------------------------------------------------------------------

enum class field_kind : std::uint8_t { state, signed_int, unsigned_int };

struct stat_field {
  const char* name;
  field_kind kind;
};

// Fields 3 to 24 of proc(5)'s /proc/<pid>/stat, with the signedness of the kernel's format.
constexpr stat_field stat_fields[] = {
    {"state", field_kind::state},               // 3
    {"ppid", field_kind::signed_int},           // 4
    {"pgrp", field_kind::signed_int},           // 5
    {"session", field_kind::signed_int},        // 6
    {"tty_nr", field_kind::signed_int},         // 7
    {"tpgid", field_kind::signed_int},          // 8
    {"flags", field_kind::unsigned_int},        // 9
    {"minflt", field_kind::unsigned_int},       // 10
    {"cminflt", field_kind::unsigned_int},      // 11
    {"majflt", field_kind::unsigned_int},       // 12
    {"cmajflt", field_kind::unsigned_int},      // 13
    {"utime", field_kind::unsigned_int},        // 14
    {"stime", field_kind::unsigned_int},        // 15
    {"cutime", field_kind::signed_int},         // 16
    {"cstime", field_kind::signed_int},         // 17
    {"priority", field_kind::signed_int},       // 18
    {"nice", field_kind::signed_int},           // 19
    {"num_threads", field_kind::signed_int},    // 20
    {"itrealvalue", field_kind::signed_int},    // 21
    {"starttime", field_kind::unsigned_int},    // 22
    {"vsize", field_kind::unsigned_int},        // 23
    {"rss", field_kind::signed_int},            // 24
};
constexpr int first_listed_field = 3;

std::string field_label(int number, std::string_view name) {
  return "field " + std::to_string(number) + " (" + std::string(name) + ") of /proc/<pid>/stat";
}

[[noreturn]] void throw_bad_field(int number, std::string_view name, std::string_view expected,
                                  std::string_view token) {
  throw error(field_label(number, name) + ": expected " + std::string(expected) + ", got " +
              quoted(token));
}

// ---- /proc/<pid>/limits ----------------------------------------------------------------------

// The soft limit of the line that starts with `limit_name` (e.g. "Max open files") followed by
// whitespace; nullopt means "unlimited".
std::optional<std::uint64_t> parse_soft_limit(std::string_view limits,
                                              std::string_view limit_name) {
  std::string_view rest = limits;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (line.size() <= limit_name.size() || line.substr(0, limit_name.size()) != limit_name ||
        !is_space(line[limit_name.size()])) {
      continue;
    }
    tokenizer tokens(line.substr(limit_name.size()));
    const auto soft = tokens.next();
    if (!soft) {
      throw error("\"" + std::string(limit_name) +
                  "\" line of /proc/<pid>/limits has no soft limit");
    }
    if (*soft == "unlimited") return std::nullopt;
    if (auto value = parse_integer<std::uint64_t>(*soft)) return *value;
    throw error("soft limit of \"" + std::string(limit_name) +
                "\" in /proc/<pid>/limits: expected \"unlimited\" or an unsigned integer, got " +
                quoted(*soft));
  }
  throw error("/proc/<pid>/limits has no \"" + std::string(limit_name) + "\" line");
}

// ---- reading procfs --------------------------------------------------------------------------

std::string errno_message(int err) { return std::system_category().message(err); }

// Reads a whole file. procfs files report size 0, so this reads until EOF. On failure returns
// nullopt and sets `why`.
std::optional<std::string> read_whole_file(const std::string& path, std::string& why) {
  struct closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  errno = 0;
  std::unique_ptr<std::FILE, closer> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    why = errno_message(errno);
    return std::nullopt;
  }
  std::string contents;
  char buf[4096];
  for (;;) {
    errno = 0;
    const std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
    contents.append(buf, n);
    if (n < sizeof buf) {
      if (std::ferror(f.get())) {
        why = errno != 0 ? errno_message(errno) : std::string("read error");
        return std::nullopt;
      }
      break;
    }
  }
  return contents;
}

// Counts the entries of a directory other than "." and "..".
std::optional<double> count_dir_entries(const std::string& path, std::string& why) {
  struct closer {
    void operator()(DIR* d) const noexcept { closedir(d); }
  };
  errno = 0;
  std::unique_ptr<DIR, closer> dir(opendir(path.c_str()));
  if (!dir) {
    why = errno_message(errno);
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (;;) {
    errno = 0;
    const dirent* entry = readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) {
        why = errno_message(errno);
        return std::nullopt;
      }
      break;
    }
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") ++n;
  }
  return static_cast<double>(n);
}

family_desc make_desc(const std::string& ns, std::string_view name, std::string help,
                      metric_type type) {
  family_desc d;
  d.name = build_fq_name(ns, "", name);
  d.help = std::move(help);
  d.type = type;
  validate_desc(d);
  return d;
}

}  // namespace

namespace detail {

proc_stat parse_proc_stat(std::string_view contents) {
  const std::size_t lparen = contents.find('(');
  if (lparen == std::string_view::npos) {
    throw error(field_label(2, "comm") + ": missing '(' before the command name");
  }
  const std::size_t rparen = contents.rfind(')');
  if (rparen == std::string_view::npos || rparen < lparen) {
    throw error(field_label(2, "comm") + ": missing ')' after the command name");
  }

  proc_stat s;

  // Field 1: the only token before '('.
  {
    tokenizer head(contents.substr(0, lparen));
    const auto pid_token = head.next();
    if (!pid_token) throw error(field_label(1, "pid") + " is missing");
    if (head.next()) {
      throw_bad_field(1, "pid", "a single integer before '('", contents.substr(0, lparen));
    }
    const auto pid = parse_integer<std::int64_t>(*pid_token);
    if (!pid) throw_bad_field(1, "pid", "an integer", *pid_token);
    s.pid = *pid;
  }

  s.comm = std::string(contents.substr(lparen + 1, rparen - lparen - 1));

  std::string_view rest = contents.substr(rparen + 1);
  if (!rest.empty() && !is_space(rest.front())) {
    throw error(field_label(2, "comm") + ": expected whitespace after the ')' closing it, got " +
                quoted(rest.substr(0, 1)));
  }

  tokenizer tokens(rest);
  std::int64_t signed_values[std::size(stat_fields)] = {};
  std::uint64_t unsigned_values[std::size(stat_fields)] = {};
  for (std::size_t i = 0; i < std::size(stat_fields); ++i) {
    const int number = first_listed_field + static_cast<int>(i);
    const stat_field& field = stat_fields[i];
    const auto token = tokens.next();
    if (!token) {
      throw error(field_label(number, field.name) + " is missing: the line has only " +
                  std::to_string(number - 1) + " fields");
    }
    switch (field.kind) {
      case field_kind::state:
        if (token->size() != 1) throw_bad_field(number, field.name, "a single character", *token);
        s.state = token->front();
        break;
      case field_kind::signed_int:
        if (auto v = parse_integer<std::int64_t>(*token)) {
          signed_values[i] = *v;
        } else {
          throw_bad_field(number, field.name, "a 64-bit signed integer", *token);
        }
        break;
      case field_kind::unsigned_int:
        if (auto v = parse_integer<std::uint64_t>(*token)) {
          unsigned_values[i] = *v;
        } else {
          throw_bad_field(number, field.name, "a 64-bit unsigned integer", *token);
        }
        break;
    }
  }
  auto at = [](int number) { return static_cast<std::size_t>(number - first_listed_field); };
  s.ppid = signed_values[at(4)];
  s.utime_ticks = static_cast<double>(unsigned_values[at(14)]);
  s.stime_ticks = static_cast<double>(unsigned_values[at(15)]);
  s.num_threads = signed_values[at(20)];
  s.starttime_ticks = static_cast<double>(unsigned_values[at(22)]);
  s.vsize = unsigned_values[at(23)];
  s.rss_pages = signed_values[at(24)];
  return s;
}

double parse_boot_time(std::string_view proc_stat_global) {
  std::string_view rest = proc_stat_global;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    tokenizer tokens(line);
    const auto key = tokens.next();
    if (!key || *key != "btime") continue;
    const auto value = tokens.next();
    if (!value) throw error("\"btime\" line of /proc/stat has no value");
    if (const auto extra = tokens.next()) {
      throw error("\"btime\" line of /proc/stat: expected one value, got also " + quoted(*extra));
    }
    const auto seconds = parse_integer<std::uint64_t>(*value);
    if (!seconds) {
      throw error("\"btime\" of /proc/stat: expected an unsigned integer, got " + quoted(*value));
    }
    return static_cast<double>(*seconds);
  }
  throw error("/proc/stat has no \"btime\" line");
}

double parse_max_fds(std::string_view proc_limits) {
  const auto soft = parse_soft_limit(proc_limits, "Max open files");
  return soft ? static_cast<double>(*soft) : std::numeric_limits<double>::infinity();
}

std::uint64_t parse_vm_limit(std::string_view proc_limits) {
  const auto soft = parse_soft_limit(proc_limits, "Max address space");
  return soft ? *soft : std::numeric_limits<std::uint64_t>::max();
}

}  // namespace detail

process_collector::process_collector(process_collector_options options)
    : options_(std::move(options)) {
  if (options_.pid < 0) {
    throw error("process_collector: pid must be 0 (this process) or positive, got " +
                std::to_string(options_.pid));
  }
  if (options_.proc_root.empty()) {
    throw error("process_collector: proc_root must not be empty (the default is \"/proc\")");
  }
  std::string root = options_.proc_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  global_stat_ = root + "/stat";
  pid_dir_ = root + "/" + (options_.pid == 0 ? std::string("self") : std::to_string(options_.pid));

  const long ticks = sysconf(_SC_CLK_TCK);
  ticks_per_second_ = ticks > 0 ? static_cast<double>(ticks) : 100.0;
  const long page = sysconf(_SC_PAGESIZE);
  page_size_ = page > 0 ? static_cast<double>(page) : 4096.0;

  const std::string& ns = options_.ns;
  descs_[cpu_seconds] = make_desc(ns, "process_cpu_seconds_total",
                                  "Total user and system CPU time spent in seconds.",
                                  metric_type::counter);
  descs_[open_fds] =
      make_desc(ns, "process_open_fds", "Number of open file descriptors.", metric_type::gauge);
  descs_[max_fds] = make_desc(ns, "process_max_fds", "Maximum number of open file descriptors.",
                              metric_type::gauge);
  descs_[virtual_memory] = make_desc(ns, "process_virtual_memory_bytes",
                                     "Virtual memory size in bytes.", metric_type::gauge);
  descs_[virtual_memory_max] =
      make_desc(ns, "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.", metric_type::gauge);
  descs_[resident_memory] = make_desc(ns, "process_resident_memory_bytes",
                                      "Resident memory size in bytes.", metric_type::gauge);
  descs_[start_time] =
      make_desc(ns, "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.", metric_type::gauge);
}

std::span<const family_desc> process_collector::describe() const { return descs_; }

void process_collector::collect(metric_writer& out) const {
  std::array<std::optional<double>, family_count> values;
  std::string failures;
  auto fail = [&failures](const std::string& path, std::string_view why) {
    if (!failures.empty()) failures += "; ";
    failures += path;
    failures += ": ";
    failures += why;
  };

  // <pid>/stat, and the global stat for the boot time.
  {
    const std::string path = pid_dir_ + "/stat";
    std::string why;
    if (const auto contents = read_whole_file(path, why)) {
      try {
        const detail::proc_stat st = detail::parse_proc_stat(*contents);
        values[cpu_seconds] = (st.utime_ticks + st.stime_ticks) / ticks_per_second_;
        values[virtual_memory] = static_cast<double>(st.vsize);
        values[resident_memory] = static_cast<double>(st.rss_pages) * page_size_;

        const std::string& global_path = global_stat_;
        if (const auto global = read_whole_file(global_path, why)) {
          try {
            values[start_time] =
                detail::parse_boot_time(*global) + st.starttime_ticks / ticks_per_second_;
          } catch (const error& e) {
            fail(global_path, e.what());
          }
        } else {
          fail(global_path, why);
        }
      } catch (const error& e) {
        fail(path, e.what());
      }
    } else {
      fail(path, why);
    }
  }

  // <pid>/fd/
  {
    const std::string path = pid_dir_ + "/fd";
    std::string why;
    if (const auto n = count_dir_entries(path, why)) {
      values[open_fds] = *n;
    } else {
      fail(path, why);
    }
  }

  // <pid>/limits: each line on its own.
  {
    const std::string path = pid_dir_ + "/limits";
    std::string why;
    if (const auto contents = read_whole_file(path, why)) {
      try {
        values[max_fds] = detail::parse_max_fds(*contents);
      } catch (const error& e) {
        fail(path, e.what());
      }
      try {
        values[virtual_memory_max] = static_cast<double>(detail::parse_vm_limit(*contents));
      } catch (const error& e) {
        fail(path, e.what());
      }
    } else {
      fail(path, why);
    }
  }

  if (options_.report_errors && !failures.empty()) {
    throw error("process_collector: " + failures);
  }

  for (std::size_t i = 0; i < family_count; ++i) {
    if (!values[i]) continue;
    out.begin_family(descs_[i]);
    if (descs_[i].type == metric_type::counter) {
      out.counter(label_values{}, *values[i], 0, nullptr);
    } else {
      out.gauge(label_values{}, *values[i]);
    }
    out.end_family();
  }
}

}  // namespace operant::metrics

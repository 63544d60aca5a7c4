// examples/common/flags.h — the command line of operant's example programs, and their main loop's
// wait for a signal or a --duration. Not part of operant's API: a header the examples share so
// each of them shows only what is particular to it.
//
//   example::flag_set flags{"pod-controller", usage};
//   flags.value("--listen", example::listen_address(f.listen));
//   flags.value("--workers", example::number(f.workers, 1));
//   flags.toggle("--all-namespaces", f.all_namespaces);
//   if (const int rc = flags.parse(argc, argv); rc >= 0) return rc;  // --help, or a bad flag
#pragma once

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operant/http/server.h"

namespace example {

// The whole of `s` as a number of type T.
template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "30s", "1.5s", "500ms", "2m", "1h", or a plain number of seconds; not negative.
inline bool parse_duration(std::string_view s, std::chrono::milliseconds& out) {
  const std::size_t unit = s.find_first_not_of("0123456789.");
  double v = 0;
  if (!parse_number(s.substr(0, unit), v) || v < 0) return false;
  const std::string_view u = unit == std::string_view::npos ? "s" : s.substr(unit);
  const double scale = u == "ms" ? 1 : u == "s" ? 1e3 : u == "m" ? 60e3 : u == "h" ? 3600e3 : -1;
  if (scale < 0) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(v * scale));
  return true;
}

// A flag's value check-and-store: true if `value` was acceptable (and is now stored).
using value_fn = std::function<bool(std::string_view value)>;

// Any text.
inline value_fn text(std::string& out) {
  return [&out](std::string_view v) { return out = v, true; };
}
// Any text but "".
inline value_fn name(std::string& out) {
  return [&out](std::string_view v) { return out = v, !v.empty(); };
}
// A number within [min, max].
template <class T>
value_fn number(T& out, T min, T max = std::numeric_limits<T>::max()) {
  return [&out, min, max](std::string_view v) {
    T x{};
    if (!parse_number(v, x) || !(x >= min && x <= max)) return false;
    out = x;
    return true;
  };
}
// A duration (parse_duration); with positive, 0 is refused too.
inline value_fn duration(std::chrono::milliseconds& out, bool positive = false) {
  return [&out, positive](std::string_view v) {
    std::chrono::milliseconds d{};
    if (!parse_duration(v, d) || (positive && d.count() <= 0)) return false;
    out = d;
    return true;
  };
}
// HOST:PORT as operant::http::server takes it (":8080", "127.0.0.1:0", "[::1]:9090").
inline value_fn listen_address(std::string& out) {
  return [&out](std::string_view v) {
    try {
      operant::http::parse_listen_address(v);
    } catch (const std::invalid_argument&) {
      return false;
    }
    out = v;
    return true;
  };
}
// One of `choices`.
inline value_fn one_of(std::string& out, std::initializer_list<std::string_view> choices) {
  return [&out, all = std::vector<std::string_view>(choices)](std::string_view v) {
    if (std::find(all.begin(), all.end(), v) == all.end()) return false;
    out = v;
    return true;
  };
}

// Flags given as `--flag VALUE` or `--flag=VALUE`, switches as `--flag`, and --help / -h.
class flag_set {
 public:
  flag_set(std::string_view program, void (*usage)(std::FILE*))
      : program_(program), usage_(usage) {}

  flag_set& value(std::string_view flag, value_fn fn) {
    values_.emplace(flag, std::move(fn));
    return *this;
  }
  flag_set& toggle(std::string_view flag, bool& out) {
    toggles_.emplace(flag, &out);
    return *this;
  }

  // Returns -1 to run, 0 after --help (usage on stdout), 2 after a bad flag (why on stderr, then
  // usage).
  int parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--help" || arg == "-h") return usage_(stdout), 0;
      if (const auto t = toggles_.find(arg); t != toggles_.end()) {
        *t->second = true;
        continue;
      }
      const std::size_t eq = arg.find('=');
      const std::string_view flag = arg.substr(0, eq);
      const auto it = values_.find(flag);
      if (it == values_.end()) return fail("unknown flag \"" + std::string(arg) + "\"");
      if (eq == std::string_view::npos && i + 1 >= argc) {
        return fail("missing value for " + std::string(flag));
      }
      const std::string_view value = eq == std::string_view::npos ? argv[++i] : arg.substr(eq + 1);
      if (!it->second(value)) {
        return fail("bad value for " + std::string(flag) + ": \"" + std::string(value) + "\"");
      }
    }
    return -1;
  }

  // Says why on stderr, prefixed with the program's name; returns 2.
  int error(const std::string& why) const {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program_.size()), program_.data(),
                 why.c_str());
    return 2;
  }

 private:
  int fail(const std::string& why) const {
    error(why);
    usage_(stderr);
    return 2;
  }

  std::string_view program_;
  void (*usage_)(std::FILE*);
  std::map<std::string_view, value_fn> values_;
  std::map<std::string_view, bool*> toggles_;
};

// SIGINT and SIGTERM, blocked in the calling thread and in every thread it starts afterwards, so
// that wait_for_signal() receives them. Call first thing in main().
inline sigset_t block_stop_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return sigs;
}

// Waits for one of `sigs`, or for `seconds` when that is > 0. Returns what ended the wait, for a
// log line: "Interrupt", "Terminated" or "none (duration elapsed)".
inline std::string wait_for_signal(const sigset_t& sigs, double seconds) {
  int sig = 0;
  if (seconds > 0) {
    const auto nanos = static_cast<long long>(seconds * 1e9);
    const timespec timeout{static_cast<time_t>(nanos / 1'000'000'000),
                           static_cast<long>(nanos % 1'000'000'000)};
    sig = std::max(sigtimedwait(&sigs, nullptr, &timeout), 0);  // < 0: the duration elapsed
  } else {
    sigwait(&sigs, &sig);
  }
  return sig == 0 ? std::string("none (duration elapsed)") : std::string(strsignal(sig));
}

}  // namespace example

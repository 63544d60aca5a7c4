// libFuzzer target for the /proc parsers of the process collector. Every input must either parse
// or be rejected with operant::metrics::error; anything else (a crash, a sanitizer report, another
// exception escaping, a broken invariant) is a bug.
//
// The raw input goes to every parser; it is also fed behind a well-formed prefix ("1 (", "btime ",
// "Max open files   ", ...) so that the fuzzer reaches the field parsers without first having to
// discover the structure of each file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "operant/metrics/process_collector.h"

namespace {

namespace detail = operant::metrics::detail;

template <typename Fn>
void parsed_or_rejected(Fn&& fn) {
  try {
    fn();
  } catch (const operant::metrics::error&) {
    // Rejected, as documented.
  }
}

void check_proc_stat(std::string_view s) {
  parsed_or_rejected([s] {
    const detail::proc_stat st = detail::parse_proc_stat(s);
    // comm lies strictly inside the input, between its first '(' and its last ')'.
    const std::size_t l = s.find('(');
    const std::size_t r = s.rfind(')');
    if (l == std::string_view::npos || r == std::string_view::npos || r < l ||
        s.substr(l + 1, r - l - 1) != st.comm) {
      std::abort();
    }
    if (st.utime_ticks < 0 || st.stime_ticks < 0 || st.starttime_ticks < 0) std::abort();
  });
}

void check_all(std::string_view s) {
  check_proc_stat(s);
  parsed_or_rejected([s] {
    if (detail::parse_boot_time(s) < 0) std::abort();
  });
  parsed_or_rejected([s] {
    if (!(detail::parse_max_fds(s) >= 0)) std::abort();  // also catches NaN
  });
  parsed_or_rejected([s] { (void)detail::parse_vm_limit(s); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_all(input);

  const std::string stat_prefixed = "1 (" + std::string(input);
  check_proc_stat(stat_prefixed);
  const std::string stat_fields = "1 (comm) " + std::string(input);
  check_proc_stat(stat_fields);
  const std::string limits = "Limit   Soft Limit   Hard Limit   Units\nMax open files            " +
                             std::string(input) + "\nMax address space         " +
                             std::string(input);
  check_all(limits);
  const std::string global = "cpu 1 2 3\nbtime " + std::string(input);
  check_all(global);
  return 0;
}

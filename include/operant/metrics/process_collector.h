// operant/metrics/process_collector.h — CPU, memory, file descriptor and start time metrics of a
// Linux process, read from procfs (client_golang's NewProcessCollector).
//
// A process_collector writes up to seven families, with the names, types and help texts of
// client_golang, each optionally prefixed by "<ns>_":
//
//   process_cpu_seconds_total         counter  user + system CPU time, in seconds
//   process_open_fds                  gauge    entries of /proc/<pid>/fd
//   process_max_fds                   gauge    soft "Max open files" limit
//   process_virtual_memory_bytes      gauge    vsize of /proc/<pid>/stat
//   process_virtual_memory_max_bytes  gauge    soft "Max address space" limit
//   process_resident_memory_bytes     gauge    rss of /proc/<pid>/stat times the page size
//   process_start_time_seconds        gauge    Unix time the process started
//
// Every collect() reads procfs afresh; the collector caches no values, so one instance may be
// collected from any number of threads at once. It only works where a Linux-style procfs is
// mounted: elsewhere every read fails, and what happens then is options.report_errors' choice.
//
// Example:
//
//   registry.register_collector(std::make_shared<operant::metrics::process_collector>());
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "operant/metrics/collector.h"
#include "operant/metrics/types.h"

namespace operant::metrics {

struct process_collector_options {
  // The process to report on. 0 means the calling process (<proc_root>/self); otherwise must be
  // positive. A process that exits later makes its reads fail (see report_errors).
  int pid = 0;

  // If not empty, every family name is prefixed by ns and '_' (client_golang's Namespace):
  // "myapp" gives "myapp_process_cpu_seconds_total". Must make valid metric names.
  std::string ns{};

  // What collect() does when a procfs file cannot be read or does not parse.
  //   false: the families that depend on that file are left out of this collection, the others
  //          are written (client_golang's default: process metrics are a nice-to-have mix-in).
  //   true:  collect() throws error, naming every file that failed and why, before writing
  //          anything to the writer.
  bool report_errors = false;  // default: skip what cannot be read

  // Where procfs is mounted. Tests point this at a directory laid out like procfs; the collector
  // reads <proc_root>/stat (btime) and <proc_root>/<pid or "self">/{stat,limits,fd/}. Must not
  // be empty.
  std::string proc_root = "/proc";  // default: the real procfs
};

// A collector of the process metrics listed at the top of this file.
//
// Which families a collection contains depends on which reads succeed:
//   <pid>/stat        → cpu_seconds_total, virtual_memory_bytes, resident_memory_bytes
//   <pid>/stat + stat → start_time_seconds
//   <pid>/fd/         → open_fds
//   <pid>/limits      → max_fds (from "Max open files"), virtual_memory_max_bytes (from "Max
//                       address space"); each line is parsed on its own
// CPU times and the start time are converted from clock ticks with sysconf(_SC_CLK_TCK) (100, as
// procfs assumes, if sysconf fails); the resident size is rss pages times sysconf(_SC_PAGESIZE)
// (4096 if sysconf fails).
// For the calling process, open_fds includes the descriptor that reads /proc/self/fd, as
// client_golang's does.
class process_collector : public collector {
 public:
  // Throws error if options.pid is negative, options.proc_root is empty, or options.ns does not
  // make valid metric names.
  // Reads nothing: a missing procfs shows only at collect() time.
  explicit process_collector(process_collector_options options = {});

  // The seven families, validated, in client_golang's order: cpu_seconds_total, open_fds,
  // max_fds, virtual_memory_bytes, virtual_memory_max_bytes, resident_memory_bytes,
  // start_time_seconds. Valid for the collector's lifetime.
  std::span<const family_desc> describe() const override;

  // Reads procfs and writes one series without labels for each family whose source could be
  // read, in describe() order. The counter is written with created = 0 (unknown). Throws error
  // before writing anything if options.report_errors is set and a read or parse failed.
  // Safe to call concurrently.
  void collect(metric_writer& out) const override;

  const process_collector_options& options() const noexcept { return options_; }

 private:
  process_collector_options options_;
  std::string pid_dir_;      // <proc_root>/<pid or "self">
  std::string global_stat_;  // <proc_root>/stat
  double ticks_per_second_;
  double page_size_;
  std::array<family_desc, 7> descs_;
};

namespace detail {

// The fields of /proc/<pid>/stat (proc(5)) the collector uses, from the first 24 of the line.
// Every field up to rss must be present and an integer of the kernel's signedness; the rest of
// the line (fields 25 onwards) is ignored.
struct proc_stat {
  std::int64_t pid = 0;            // field 1
  std::string comm;                // field 2, without the parentheses; may hold ' ', '(' and ')'
  char state = 0;                  // field 3, e.g. 'R', 'S'
  std::int64_t ppid = 0;           // field 4
  double utime_ticks = 0;          // field 14: user-mode CPU time in clock ticks
  double stime_ticks = 0;          // field 15: kernel-mode CPU time in clock ticks
  std::int64_t num_threads = 0;    // field 20
  double starttime_ticks = 0;      // field 22: start time after boot in clock ticks
  std::uint64_t vsize = 0;         // field 23: virtual memory size in bytes
  std::int64_t rss_pages = 0;      // field 24: resident set size in pages
};

// Parses the contents of /proc/<pid>/stat. comm runs from the first '(' to the LAST ')' of the
// input, as procfs reads it, so a comm such as "(my) (weird proc)" is kept whole. Throws error
// whose message names the field (e.g. "field 14 (utime)") if a field is missing, not an integer
// of the right signedness, or out of range; if the '(' or the ')' around comm is missing; or if
// that ')' is not followed by whitespace.
proc_stat parse_proc_stat(std::string_view contents);

// Returns the boot time, in Unix seconds, from the "btime <seconds>" line of the global
// /proc/stat. Throws error if there is no such line or its value is not an unsigned integer.
double parse_boot_time(std::string_view proc_stat_global);

// Returns the soft limit of the "Max open files" line of /proc/<pid>/limits; "unlimited" gives
// +Inf. Throws error if the line is missing or its soft limit is neither "unlimited" nor an
// unsigned integer.
double parse_max_fds(std::string_view proc_limits);

// Returns the soft limit of the "Max address space" line of /proc/<pid>/limits, in bytes;
// "unlimited" gives UINT64_MAX, as procfs does (client_golang then exposes
// 1.8446744073709552e+19). Throws error as parse_max_fds does.
std::uint64_t parse_vm_limit(std::string_view proc_limits);

}  // namespace detail
}  // namespace operant::metrics

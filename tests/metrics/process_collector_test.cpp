#include "operant/metrics/process_collector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using operant::metrics::error;
using operant::metrics::family_desc;
using operant::metrics::label_values;
using operant::metrics::metric_type;
using operant::metrics::process_collector;
using operant::metrics::process_collector_options;
namespace detail = operant::metrics::detail;

// ---- helpers ------------------------------------------------------------------------------------

// Records what a collector writes and checks the writer protocol as it goes.
class recording_writer : public operant::metrics::metric_writer {
 public:
  struct family {
    family_desc desc;
    std::vector<double> values;
    std::vector<double> created;  // counters only
    int samples = 0;
  };

  void begin_family(const family_desc& desc) override {
    EXPECT_FALSE(open_) << "begin_family(" << desc.name << ") inside another family";
    EXPECT_EQ(families.count(desc.name), 0u) << desc.name << " written twice";
    open_ = true;
    current_ = desc.name;
    order.push_back(desc.name);
    families[desc.name].desc = desc;
  }
  void counter(label_values values, double value, double created,
               const operant::metrics::exemplar* ex) override {
    auto& f = sample(values, metric_type::counter);
    f.values.push_back(value);
    f.created.push_back(created);
    EXPECT_EQ(ex, nullptr);
  }
  void gauge(label_values values, double value) override {
    sample(values, metric_type::gauge).values.push_back(value);
  }
  void histogram(label_values, const operant::metrics::histogram_sample&) override {
    ADD_FAILURE() << "unexpected histogram in " << current_;
  }
  void summary(label_values, const operant::metrics::summary_sample&) override {
    ADD_FAILURE() << "unexpected summary in " << current_;
  }
  void end_family() override {
    EXPECT_TRUE(open_) << "end_family() without begin_family()";
    open_ = false;
  }

  // The single value of `name`; fails the test if it was not written exactly once.
  double value(const std::string& name) const {
    const auto it = families.find(name);
    if (it == families.end()) {
      ADD_FAILURE() << name << " was not written";
      return std::nan("");
    }
    EXPECT_EQ(it->second.values.size(), 1u) << name;
    return it->second.values.empty() ? std::nan("") : it->second.values.front();
  }
  bool has(const std::string& name) const { return families.count(name) != 0; }
  bool closed() const { return !open_; }

  std::map<std::string, family> families;
  std::vector<std::string> order;

 private:
  family& sample(label_values values, metric_type type) {
    EXPECT_TRUE(open_) << "sample outside a family";
    EXPECT_TRUE(values.empty()) << "process metrics have no labels";
    auto& f = families[current_];
    EXPECT_EQ(f.desc.type, type) << current_;
    ++f.samples;
    return f;
  }

  bool open_ = false;
  std::string current_;
};

double clock_ticks() { return static_cast<double>(sysconf(_SC_CLK_TCK)); }
double page_size() { return static_cast<double>(sysconf(_SC_PAGESIZE)); }

void write_file(const fs::path& p, std::string_view contents) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << p;
}

// A temporary directory removed on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "operant_proc_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The output of `cat /proc/self/stat` on Linux 6.x, verbatim.
constexpr std::string_view kernel_stat_line =
    "4084 (cat) R 4082 4082 3467 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 48646 3133440 387 "
    "18446744073709551615 94407828865024 94407828884905 140730947643136 0 0 0 0 0 0 0 0 0 17 1 0 "
    "0 0 0 0 94407828900912 94407828902528 94407891259392 140730947648139 140730947648159 "
    "140730947648159 140730947649515 0\n";

// A hand-written line whose comm holds spaces and parentheses: utime 1234, stime 566,
// num_threads 3, starttime 12345, vsize 10485760, rss 256.
constexpr std::string_view weird_stat_line =
    "1234 ((my) (weird proc)) S 1 1234 1234 0 -1 4194560 100 0 2 0 1234 566 7 8 20 0 3 0 12345 "
    "10485760 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";

// /proc/<pid>/limits as the kernel formats it ("%-25s %-20s %-20s %-10s\n").
constexpr std::string_view limits_file =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max file size             unlimited            unlimited            bytes     \n"
    "Max data size             unlimited            unlimited            bytes     \n"
    "Max stack size            8388608              unlimited            bytes     \n"
    "Max core file size        0                    unlimited            bytes     \n"
    "Max resident set          unlimited            unlimited            bytes     \n"
    "Max processes             96364                96364                processes \n"
    "Max open files            1024                 1048576              files     \n"
    "Max locked memory         8388608              8388608              bytes     \n"
    "Max address space         8589934592           unlimited            bytes     \n"
    "Max file locks            unlimited            unlimited            locks     \n"
    "Max pending signals       96364                96364                signals   \n"
    "Max msgqueue size         819200               819200               bytes     \n"
    "Max nice priority         0                    0                    \n"
    "Max realtime priority     0                    0                    \n"
    "Max realtime timeout      unlimited            unlimited            us        \n";

constexpr std::string_view unlimited_limits_file =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max open files            unlimited            unlimited            files     \n"
    "Max address space         unlimited            unlimited            bytes     \n";

constexpr std::string_view global_stat_file =
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n"
    "cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0\n"
    "intr 1462898 0 0 0 0 0 0 0 0 1 0\n"
    "ctxt 206060218\n"
    "btime 1700000000\n"
    "processes 26442\n"
    "procs_running 2\n"
    "procs_blocked 0\n"
    "softirq 5057579 250191 1481983 1647 211099 186066 0 1783454 622196 12499 508444\n";

// Lays out <root>/stat and <root>/<pid_dir>/{stat,limits,fd/0..2}.
void make_fake_proc(const fs::path& root, const std::string& pid_dir = "self") {
  const fs::path p = root / pid_dir;
  fs::create_directories(p / "fd");
  write_file(root / "stat", global_stat_file);
  write_file(p / "stat", weird_stat_line);
  write_file(p / "limits", limits_file);
  for (const char* fd : {"0", "1", "2"}) fs::create_symlink("/dev/null", p / "fd" / fd);
}

process_collector_options fake_options(const fs::path& root) {
  process_collector_options o;
  o.proc_root = root.string();
  return o;
}

const std::vector<std::string> all_families = {
    "process_cpu_seconds_total",    "process_open_fds",
    "process_max_fds",              "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes", "process_resident_memory_bytes",
    "process_start_time_seconds",
};

// Expects `fn` to throw operant::metrics::error whose what() contains every one of `needles`.
template <typename Fn>
void expect_error_mentions(Fn&& fn, std::initializer_list<std::string_view> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const error& e) {
    const std::string what = e.what();
    for (auto n : needles) {
      EXPECT_NE(what.find(n), std::string::npos) << "\"" << what << "\" lacks \"" << n << "\"";
    }
  }
}

// ---- parse_proc_stat ---------------------------------------------------------------------------

TEST(ProcStatParse, CommWithSpacesAndParenthesesGivesExactFields) {
  const detail::proc_stat s = detail::parse_proc_stat(weird_stat_line);
  EXPECT_EQ(s.pid, 1234);
  EXPECT_EQ(s.comm, "(my) (weird proc)");
  EXPECT_EQ(s.state, 'S');
  EXPECT_EQ(s.ppid, 1);
  EXPECT_EQ(s.utime_ticks, 1234.0);
  EXPECT_EQ(s.stime_ticks, 566.0);
  EXPECT_EQ(s.num_threads, 3);
  EXPECT_EQ(s.starttime_ticks, 12345.0);
  EXPECT_EQ(s.vsize, 10485760u);
  EXPECT_EQ(s.rss_pages, 256);
}

TEST(ProcStatParse, RealKernelLine) {
  const detail::proc_stat s = detail::parse_proc_stat(kernel_stat_line);
  EXPECT_EQ(s.pid, 4084);
  EXPECT_EQ(s.comm, "cat");
  EXPECT_EQ(s.state, 'R');
  EXPECT_EQ(s.ppid, 4082);
  EXPECT_EQ(s.utime_ticks, 0.0);
  EXPECT_EQ(s.stime_ticks, 0.0);
  EXPECT_EQ(s.num_threads, 1);
  EXPECT_EQ(s.starttime_ticks, 48646.0);
  EXPECT_EQ(s.vsize, 3133440u);
  EXPECT_EQ(s.rss_pages, 387);
}

TEST(ProcStatParse, CommWithClosingParenFollowedByDigitsUsesLastParen) {
  // A comm that itself looks like the start of the fields: only the last ')' ends it.
  const detail::proc_stat s = detail::parse_proc_stat(
      "7 (a) R 1 2 3) S 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 99 4096 2\n");
  EXPECT_EQ(s.comm, "a) R 1 2 3");
  EXPECT_EQ(s.state, 'S');
  EXPECT_EQ(s.utime_ticks, 5.0);
  EXPECT_EQ(s.stime_ticks, 6.0);
  EXPECT_EQ(s.starttime_ticks, 99.0);
  EXPECT_EQ(s.vsize, 4096u);
  EXPECT_EQ(s.rss_pages, 2);
}

TEST(ProcStatParse, LineEndingAtRssIsEnoughAndLargeValuesAreExact) {
  const detail::proc_stat s = detail::parse_proc_stat(
      "1 (x) S 0 1 1 0 -1 0 0 0 0 0 18446744073709551615 0 0 0 20 0 1 0 0 "
      "18446744073709551615 9223372036854775807");
  EXPECT_EQ(s.utime_ticks, 18446744073709551615.0);
  EXPECT_EQ(s.vsize, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(s.rss_pages, std::numeric_limits<std::int64_t>::max());
}

TEST(ProcStatParse, TruncatedLineNamesTheMissingField) {
  // Cut after field 15 (stime).
  expect_error_mentions(
      [] { detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6\n"); },
      {"field 16 (cutime)", "missing"});
  // Cut after field 23 (vsize).
  expect_error_mentions(
      [] { detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096"); },
      {"field 24 (rss)", "missing"});
  // Nothing after comm.
  expect_error_mentions([] { detail::parse_proc_stat("1 (x)"); }, {"field 3 (state)"});
  expect_error_mentions([] { detail::parse_proc_stat("1 (x) "); }, {"field 3 (state)"});
  // No pid.
  expect_error_mentions(
      [] { detail::parse_proc_stat("(x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2"); },
      {"field 1 (pid)"});
}

TEST(ProcStatParse, NonNumericFieldIsNamed) {
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 12x 6 0 0 20 0 1 0 9 4096 2\n");
      },
      {"field 14 (utime)", "\"12x\""});
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 six 0 0 20 0 1 0 9 4096 2\n");
      },
      {"field 15 (stime)", "\"six\""});
  // Unsigned fields take no sign.
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 -4096 2\n");
      },
      {"field 23 (vsize)", "\"-4096\""});
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 +9 4096 2\n");
      },
      {"field 22 (starttime)"});
  // Out of range of 64 bits.
  expect_error_mentions(
      [] {
        detail::parse_proc_stat(
            "1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 18446744073709551616 2\n");
      },
      {"field 23 (vsize)"});
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2.5\n");
      },
      {"field 24 (rss)"});
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("1 (x) SS 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2\n");
      },
      {"field 3 (state)"});
  expect_error_mentions(
      [] {
        detail::parse_proc_stat("p1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2\n");
      },
      {"field 1 (pid)"});
}

TEST(ProcStatParse, MissingParenthesesAreNamed) {
  expect_error_mentions(
      [] { detail::parse_proc_stat("1 (x S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2\n"); },
      {"field 2 (comm)", "')'"});
  expect_error_mentions(
      [] { detail::parse_proc_stat("1 x) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2\n"); },
      {"field 2 (comm)", "'('"});
  expect_error_mentions([] { detail::parse_proc_stat("1 )x( S"); }, {"field 2 (comm)", "')'"});
  expect_error_mentions([] { detail::parse_proc_stat(""); }, {"field 2 (comm)"});
  expect_error_mentions(
      [] { detail::parse_proc_stat("1 (x)S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 4096 2\n"); },
      {"field 2 (comm)", "whitespace"});
}

// ---- parse_boot_time, parse_max_fds, parse_vm_limit ---------------------------------------------

TEST(ProcStatParse, BootTimeFromGlobalStat) {
  EXPECT_EQ(detail::parse_boot_time(global_stat_file), 1700000000.0);
  EXPECT_EQ(detail::parse_boot_time("btime 42"), 42.0);
  expect_error_mentions([] { detail::parse_boot_time("cpu 1 2 3\nctxt 5\n"); }, {"btime"});
  expect_error_mentions([] { detail::parse_boot_time("btime\n"); }, {"btime"});
  expect_error_mentions([] { detail::parse_boot_time("btime -5\n"); }, {"btime", "\"-5\""});
  expect_error_mentions([] { detail::parse_boot_time("btime 17e8\n"); }, {"btime", "\"17e8\""});
  // "btimex" is not "btime".
  expect_error_mentions([] { detail::parse_boot_time("btimex 5\n"); }, {"btime"});
}

TEST(ProcLimitsParse, SoftLimitsOfRealFormat) {
  EXPECT_EQ(detail::parse_max_fds(limits_file), 1024.0);
  EXPECT_EQ(detail::parse_vm_limit(limits_file), 8589934592u);
}

TEST(ProcLimitsParse, Unlimited) {
  EXPECT_EQ(detail::parse_max_fds(unlimited_limits_file),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(detail::parse_vm_limit(unlimited_limits_file),
            std::numeric_limits<std::uint64_t>::max());
  // The limits of the real /proc/self/limits above: soft "Max address space" unlimited.
  EXPECT_EQ(detail::parse_vm_limit("Max address space         unlimited            unlimited   "
                                   "         bytes     \n"),
            std::numeric_limits<std::uint64_t>::max());
}

TEST(ProcLimitsParse, MissingOrMalformedLineIsNamed) {
  expect_error_mentions([] { detail::parse_max_fds("Limit   Soft Limit\n"); },
                        {"Max open files"});
  expect_error_mentions([] { detail::parse_vm_limit("Max open files  10  10  files\n"); },
                        {"Max address space"});
  expect_error_mentions([] { detail::parse_max_fds("Max open files            lots   1 files\n"); },
                        {"Max open files", "\"lots\""});
  expect_error_mentions([] { detail::parse_max_fds("Max open files            -1   1 files\n"); },
                        {"Max open files", "\"-1\""});
  expect_error_mentions([] { detail::parse_max_fds("Max open files      \n"); },
                        {"Max open files", "no soft limit"});
  expect_error_mentions([] { detail::parse_max_fds(""); }, {"Max open files"});
}

// ---- the collector on a fake procfs -------------------------------------------------------------

TEST(ProcessCollector, DescribeMatchesClientGolang) {
  const process_collector c;
  const auto descs = c.describe();
  ASSERT_EQ(descs.size(), 7u);
  struct expected {
    const char* name;
    const char* help;
    metric_type type;
  };
  const expected want[] = {
      {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
       metric_type::counter},
      {"process_open_fds", "Number of open file descriptors.", metric_type::gauge},
      {"process_max_fds", "Maximum number of open file descriptors.", metric_type::gauge},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", metric_type::gauge},
      {"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
       metric_type::gauge},
      {"process_resident_memory_bytes", "Resident memory size in bytes.", metric_type::gauge},
      {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
       metric_type::gauge},
  };
  for (std::size_t i = 0; i < descs.size(); ++i) {
    EXPECT_EQ(descs[i].name, want[i].name);
    EXPECT_EQ(descs[i].help, want[i].help);
    EXPECT_EQ(descs[i].type, want[i].type) << descs[i].name;
    EXPECT_TRUE(descs[i].label_names.empty());
    EXPECT_TRUE(descs[i].const_labels.empty());
    EXPECT_TRUE(descs[i].unit.empty());
  }
}

TEST(ProcessCollector, NamespacePrefixesEveryFamily) {
  temp_dir dir;
  make_fake_proc(dir.path());
  auto opts = fake_options(dir.path());
  opts.ns = "myapp";
  const process_collector c(opts);
  for (const auto& d : c.describe()) {
    EXPECT_EQ(d.name.rfind("myapp_process_", 0), 0u) << d.name;
  }
  recording_writer w;
  c.collect(w);
  for (const auto& name : all_families) EXPECT_TRUE(w.has("myapp_" + name)) << name;
  EXPECT_EQ(w.families.size(), 7u);
}

TEST(ProcessCollector, RejectsBadOptions) {
  process_collector_options o;
  o.pid = -1;
  expect_error_mentions([&] { process_collector c(o); }, {"pid", "-1"});
  process_collector_options bad_ns;
  bad_ns.ns = "my-app";
  expect_error_mentions([&] { process_collector c(bad_ns); }, {"my-app_process_cpu_seconds_total"});
  process_collector_options no_root;
  no_root.proc_root = "";
  expect_error_mentions([&] { process_collector c(no_root); }, {"proc_root"});
}

TEST(ProcessCollector, FakeProcGivesExactValues) {
  temp_dir dir;
  make_fake_proc(dir.path());
  const process_collector c(fake_options(dir.path()));
  recording_writer w;
  c.collect(w);
  EXPECT_TRUE(w.closed());
  EXPECT_EQ(w.order, all_families);  // describe() order, each once

  const double tck = clock_ticks();
  EXPECT_EQ(w.value("process_cpu_seconds_total"), (1234.0 + 566.0) / tck);
  EXPECT_EQ(w.families["process_cpu_seconds_total"].created, std::vector<double>{0.0});
  EXPECT_EQ(w.value("process_open_fds"), 3.0);
  EXPECT_EQ(w.value("process_max_fds"), 1024.0);
  EXPECT_EQ(w.value("process_virtual_memory_bytes"), 10485760.0);
  EXPECT_EQ(w.value("process_virtual_memory_max_bytes"), 8589934592.0);
  EXPECT_EQ(w.value("process_resident_memory_bytes"), 256.0 * page_size());
  EXPECT_EQ(w.value("process_start_time_seconds"), 1700000000.0 + 12345.0 / tck);
  if (tck == 100.0) {  // USER_HZ on every mainstream Linux
    EXPECT_EQ(w.value("process_cpu_seconds_total"), 18.0);
    EXPECT_DOUBLE_EQ(w.value("process_start_time_seconds"), 1700000123.45);
  }
  for (const auto& [name, f] : w.families) {
    EXPECT_EQ(f.samples, 1) << name;
    EXPECT_EQ(f.desc.name, name);
  }
}

TEST(ProcessCollector, FakeProcByPidAndUnlimitedLimits) {
  temp_dir dir;
  make_fake_proc(dir.path(), "4242");
  write_file(dir.path() / "4242" / "limits", unlimited_limits_file);
  auto opts = fake_options(dir.path().string() + "/");  // a trailing '/' is fine
  opts.pid = 4242;
  const process_collector c(opts);
  recording_writer w;
  c.collect(w);
  EXPECT_EQ(w.families.size(), 7u);
  EXPECT_EQ(w.value("process_max_fds"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(w.value("process_virtual_memory_max_bytes"), 18446744073709551615.0);
  EXPECT_EQ(w.value("process_open_fds"), 3.0);
}

TEST(ProcessCollector, EachCollectReadsProcAfresh) {
  temp_dir dir;
  make_fake_proc(dir.path());
  const process_collector c(fake_options(dir.path()));
  {
    recording_writer w;
    c.collect(w);
    EXPECT_EQ(w.value("process_open_fds"), 3.0);
    EXPECT_EQ(w.value("process_virtual_memory_bytes"), 10485760.0);
  }
  write_file(dir.path() / "self" / "stat",
             "1234 (p) S 1 1 1 0 -1 0 0 0 0 0 200 100 0 0 20 0 1 0 12345 20971520 512\n");
  fs::create_symlink("/dev/null", dir.path() / "self" / "fd" / "3");
  {
    recording_writer w;
    c.collect(w);
    EXPECT_EQ(w.value("process_open_fds"), 4.0);
    EXPECT_EQ(w.value("process_virtual_memory_bytes"), 20971520.0);
    EXPECT_EQ(w.value("process_resident_memory_bytes"), 512.0 * page_size());
    EXPECT_EQ(w.value("process_cpu_seconds_total"), 300.0 / clock_ticks());
  }
}

TEST(ProcessCollector, MissingFilesAreSkippedByDefault) {
  temp_dir dir;
  make_fake_proc(dir.path());
  fs::remove(dir.path() / "self" / "limits");
  fs::remove_all(dir.path() / "self" / "fd");
  fs::remove(dir.path() / "stat");
  const process_collector c(fake_options(dir.path()));
  recording_writer w;
  EXPECT_NO_THROW(c.collect(w));
  EXPECT_EQ(w.order, (std::vector<std::string>{"process_cpu_seconds_total",
                                               "process_virtual_memory_bytes",
                                               "process_resident_memory_bytes"}));

  // Without <pid>/stat only the limits and fd families remain.
  temp_dir dir2;
  make_fake_proc(dir2.path());
  fs::remove(dir2.path() / "self" / "stat");
  const process_collector c2(fake_options(dir2.path()));
  recording_writer w2;
  EXPECT_NO_THROW(c2.collect(w2));
  EXPECT_EQ(w2.order,
            (std::vector<std::string>{"process_open_fds", "process_max_fds",
                                      "process_virtual_memory_max_bytes"}));
}

TEST(ProcessCollector, MissingFilesThrowWithReportErrors) {
  temp_dir dir;
  make_fake_proc(dir.path());
  fs::remove(dir.path() / "self" / "limits");
  fs::remove_all(dir.path() / "self" / "fd");
  auto opts = fake_options(dir.path());
  opts.report_errors = true;
  const process_collector c(opts);
  recording_writer w;
  expect_error_mentions([&] { c.collect(w); },
                        {(dir.path() / "self" / "limits").string(),
                         (dir.path() / "self" / "fd").string(), "No such file or directory"});
  EXPECT_TRUE(w.order.empty()) << "nothing is written before the error";
}

TEST(ProcessCollector, MalformedFilesAreSkippedOrReported) {
  temp_dir dir;
  make_fake_proc(dir.path());
  write_file(dir.path() / "self" / "stat", "1234 (p) S 1 1 1 0 -1 0 0 0 0 0 2x0 100\n");
  write_file(dir.path() / "stat", "cpu 1 2 3\n");  // no btime
  write_file(dir.path() / "self" / "limits",
             "Max open files            many                 1048576              files\n"
             "Max address space         4096                 unlimited            bytes\n");
  {
    const process_collector c(fake_options(dir.path()));
    recording_writer w;
    c.collect(w);
    // Each limits line stands alone.
    EXPECT_EQ(w.order, (std::vector<std::string>{"process_open_fds",
                                                 "process_virtual_memory_max_bytes"}));
    EXPECT_EQ(w.value("process_virtual_memory_max_bytes"), 4096.0);
  }
  {
    auto opts = fake_options(dir.path());
    opts.report_errors = true;
    const process_collector c(opts);
    recording_writer w;
    expect_error_mentions([&] { c.collect(w); }, {"field 14 (utime)", "Max open files"});
    EXPECT_TRUE(w.order.empty());
  }
  // A good <pid>/stat with a global stat lacking btime loses only the start time.
  write_file(dir.path() / "self" / "stat", weird_stat_line);
  {
    const process_collector c(fake_options(dir.path()));
    recording_writer w;
    c.collect(w);
    EXPECT_TRUE(w.has("process_cpu_seconds_total"));
    EXPECT_FALSE(w.has("process_start_time_seconds"));
    auto opts = fake_options(dir.path());
    opts.report_errors = true;
    const process_collector reporting(opts);
    recording_writer w2;
    expect_error_mentions([&] { reporting.collect(w2); },
                          {(dir.path() / "stat").string(), "btime"});
  }
}

TEST(ProcessCollector, NoProcfsAtAll) {
  temp_dir dir;
  auto opts = fake_options(dir.path() / "nonexistent");
  const process_collector quiet(opts);
  recording_writer w;
  EXPECT_NO_THROW(quiet.collect(w));
  EXPECT_TRUE(w.order.empty());

  opts.report_errors = true;
  const process_collector loud(opts);
  expect_error_mentions([&] { loud.collect(w); }, {"nonexistent/self/stat"});
}

// ---- the collector on the real /proc ------------------------------------------------------------

TEST(ProcessCollector, RealProcSelfHasPlausibleValues) {
  if (!fs::exists("/proc/self/stat")) GTEST_SKIP() << "no procfs";
  process_collector_options opts;
  opts.report_errors = true;
  const process_collector c(opts);
  recording_writer w;
  ASSERT_NO_THROW(c.collect(w));
  EXPECT_EQ(w.order, all_families);

  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(w.value("process_cpu_seconds_total"), 0.0);
  EXPECT_GT(w.value("process_open_fds"), 0.0);
  EXPECT_GE(w.value("process_max_fds"), w.value("process_open_fds"));
  EXPECT_GT(w.value("process_virtual_memory_bytes"), 0.0);
  EXPECT_GT(w.value("process_virtual_memory_max_bytes"), 0.0);
  EXPECT_GT(w.value("process_resident_memory_bytes"), 0.0);
  EXPECT_LE(w.value("process_resident_memory_bytes"), w.value("process_virtual_memory_bytes"));
  const double start = w.value("process_start_time_seconds");
  EXPECT_GT(start, now - 86400.0);
  EXPECT_LT(start, now + 5.0);  // btime is whole seconds; allow for rounding

  // Same answer by explicit pid.
  opts.pid = static_cast<int>(getpid());
  const process_collector by_pid(opts);
  recording_writer w2;
  ASSERT_NO_THROW(by_pid.collect(w2));
  EXPECT_EQ(w2.value("process_start_time_seconds"), start);
  EXPECT_EQ(w2.value("process_max_fds"), w.value("process_max_fds"));
}

TEST(ProcessCollector, ConcurrentCollectsOnRealProc) {
  if (!fs::exists("/proc/self/stat")) GTEST_SKIP() << "no procfs";
  const process_collector c;
  std::atomic<int> complete{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        recording_writer w;
        c.collect(w);
        if (w.families.size() == 7) complete.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(complete.load(), 200);
}

}  // namespace

// Tests of the registry (client_golang's Registry rules), auto-registration (promauto),
// wrapping registerers, gatherers, callback metrics and custom collectors.
#include "operant/metrics/registry.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "operant/metrics/exposition.h"
#include "operant/metrics/family.h"
#include "operant/metrics/snapshot.h"
#include "operant/metrics/testutil.h"

namespace {

namespace m = operant::metrics;

std::string text(const m::gatherer& g) { return m::encode_to_string(g, m::format::text); }
std::string om(const m::gatherer& g) { return m::encode_to_string(g, m::format::openmetrics); }

// The what() of the operant::metrics::error that fn throws, or a marker if it throws none.
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const m::error& e) {
    return e.what();
  }
  return "<no error thrown>";
}

std::vector<std::string> gathered_names(const m::gatherer& g) {
  std::vector<std::string> names;
  for (const m::family_snapshot& f : m::snapshot(g)) names.push_back(f.desc.name);
  return names;
}

template <class M>
std::shared_ptr<m::family<M>> make(const m::metric_opts& o) {
  return std::make_shared<m::family<M>>(o);
}

m::family_desc desc(std::string name, m::metric_type type, std::vector<std::string> label_names = {},
                    m::labels const_labels = {}, std::string help = "Help.") {
  m::family_desc d;
  d.name = std::move(name);
  d.help = std::move(help);
  d.type = type;
  d.label_names = std::move(label_names);
  d.const_labels = std::move(const_labels);
  return d;
}

m::series_snapshot value_series(std::vector<std::string> values, double v) {
  m::series_snapshot s;
  s.values = std::move(values);
  s.value = v;
  return s;
}

m::series_snapshot histogram_series(std::vector<double> bounds, std::vector<std::uint64_t> cumulative,
                                    double sum) {
  m::series_snapshot s;
  s.upper_bounds = std::move(bounds);
  s.cumulative_counts = std::move(cumulative);
  s.count = s.cumulative_counts.back();
  s.sum = sum;
  return s;
}

// A collector that describes `described` (empty = unchecked) and writes `families` verbatim.
class fixed_collector final : public m::collector {
 public:
  fixed_collector(std::vector<m::family_desc> described, std::vector<m::family_snapshot> families)
      : described_(std::move(described)), families_(std::move(families)) {}
  std::span<const m::family_desc> describe() const override { return described_; }
  void collect(m::metric_writer& out) const override {
    for (const m::family_snapshot& f : families_) m::replay(f, out);
  }

 private:
  std::vector<m::family_desc> described_;
  std::vector<m::family_snapshot> families_;
};

// A checked collector writing exactly what it describes.
std::shared_ptr<fixed_collector> checked(std::vector<m::family_snapshot> families) {
  std::vector<m::family_desc> d;
  for (const auto& f : families) d.push_back(f.desc);
  return std::make_shared<fixed_collector>(std::move(d), std::move(families));
}
std::shared_ptr<fixed_collector> unchecked(std::vector<m::family_snapshot> families) {
  return std::make_shared<fixed_collector>(std::vector<m::family_desc>{}, std::move(families));
}

// ---- registration ---------------------------------------------------------------------------------

TEST(RegistryTest, RegistersValidCollectorsAndGathersThemSortedByName) {
  m::registry reg;
  auto jobs = make<m::counter>({.name = "zz_jobs_total", .help = "Jobs done."});
  auto queue = make<m::gauge>({.name = "aa_queue_length", .help = "Queue length."});
  reg.register_collector(jobs);
  reg.register_collector(queue);
  jobs->labels().inc();
  queue->labels().set(7);
  EXPECT_EQ(text(reg),
            "# HELP aa_queue_length Queue length.\n"
            "# TYPE aa_queue_length gauge\n"
            "aa_queue_length 7\n"
            "# HELP zz_jobs_total Jobs done.\n"
            "# TYPE zz_jobs_total counter\n"
            "zz_jobs_total 1\n");
}

TEST(RegistryTest, EmptyRegistryGathersNothing) {
  m::registry reg;
  EXPECT_EQ(text(reg), "");
  EXPECT_EQ(om(reg), "# EOF\n");
}

TEST(RegistryTest, NullCollectorIsRejected) {
  m::registry reg;
  EXPECT_EQ(error_of([&] { reg.register_collector(nullptr); }), "cannot register a null collector");
}

TEST(RegistryTest, AnEqualCollectorGetsTheExistingOneToShare) {
  // client_golang's AlreadyRegisteredError.ExistingCollector: a second user of the same families
  // finds the collector registered first and uses it.
  m::registry reg;
  auto first = std::make_shared<m::family<m::counter>>(
      m::metric_opts{.name = "shared_total", .help = "Shared.", .label_names = {"code"}});
  reg.register_collector(first);
  try {
    reg.register_collector(std::make_shared<m::family<m::counter>>(
        m::metric_opts{.name = "shared_total", .help = "Shared.", .label_names = {"code"}}));
    ADD_FAILURE() << "an equal collector was registered twice";
  } catch (const m::already_registered_error& e) {
    EXPECT_EQ(e.existing(), first);
    EXPECT_STREQ(e.what(), "family \"shared_total\" with constant labels {} is already registered");
  }
  // A collector describing more (or other) families than the one there is a plain conflict.
  struct two final : m::collector {
    std::vector<m::family_desc> d;
    two() {
      d.push_back(m::family_desc{});
      d.back().name = "shared_total";
      d.back().help = "Shared.";
      d.back().type = m::metric_type::counter;
      d.back().label_names = {"code"};
      d.push_back(m::family_desc{});
      d.back().name = "other_total";
      d.back().help = "Other.";
      d.back().type = m::metric_type::counter;
    }
    std::span<const m::family_desc> describe() const override { return d; }
    void collect(m::metric_writer&) const override {}
  };
  try {
    reg.register_collector(std::make_shared<two>());
    ADD_FAILURE();
  } catch (const m::already_registered_error&) {
    ADD_FAILURE() << "a different collector was taken for the registered one";
  } catch (const m::error& e) {
    EXPECT_NE(std::string(e.what()).find("shared_total"), std::string::npos) << e.what();
  }
  EXPECT_EQ(gathered_names(reg), (std::vector<std::string>{"shared_total"}));
}

TEST(RegistryTest, DuplicateFamilyWithSameConstLabelsIsRejectedNamingTheFamily) {
  m::registry reg;
  reg.register_collector(
      make<m::counter>({.name = "dup_total", .help = "Dup.", .const_labels = {{"a", "1"}}}));
  EXPECT_EQ(error_of([&] {
              reg.register_collector(make<m::counter>(
                  {.name = "dup_total", .help = "Dup.", .const_labels = {{"a", "1"}}}));
            }),
            "family \"dup_total\" with constant labels {a=\"1\"} is already registered");
  // Without constant labels.
  reg.register_collector(make<m::gauge>({.name = "plain", .help = "Plain."}));
  EXPECT_EQ(error_of([&] { reg.register_collector(make<m::gauge>({.name = "plain", .help = "Plain."})); }),
            "family \"plain\" with constant labels {} is already registered");
  // The failed registrations left nothing behind.
  EXPECT_EQ(gathered_names(reg), (std::vector<std::string>{"dup_total", "plain"}));
}

TEST(RegistryTest, SameNameWithDifferentConstLabelsIsExposedAsOneFamily) {
  m::registry reg;
  auto b = make<m::counter>({.name = "shared_total", .help = "Shared.", .const_labels = {{"instance", "b"}}});
  auto a = make<m::counter>({.name = "shared_total", .help = "Shared.", .const_labels = {{"instance", "a"}}});
  reg.register_collector(b);  // registered first, exposed second
  reg.register_collector(a);
  a->labels().inc();
  b->labels().add(2);
  EXPECT_EQ(text(reg),
            "# HELP shared_total Shared.\n"
            "# TYPE shared_total counter\n"
            "shared_total{instance=\"a\"} 1\n"
            "shared_total{instance=\"b\"} 2\n");
  EXPECT_EQ(om(reg),
            "# TYPE shared counter\n"
            "# HELP shared Shared.\n"
            "shared_total{instance=\"a\"} 1.0\n"
            "shared_total{instance=\"b\"} 2.0\n"
            "# EOF\n");
}

TEST(RegistryTest, SameNameWithDifferentTypeIsRejectedNamingTheFamily) {
  m::registry reg;
  reg.register_collector(make<m::counter>({.name = "mixed", .help = "Help.", .const_labels = {{"a", "1"}}}));
  EXPECT_EQ(error_of([&] {
              reg.register_collector(
                  make<m::gauge>({.name = "mixed", .help = "Help.", .const_labels = {{"a", "2"}}}));
            }),
            "cannot register family \"mixed\" as a gauge, but it is already a counter");
}

TEST(RegistryTest, SameNameWithDifferentHelpIsRejectedNamingTheFamily) {
  m::registry reg;
  reg.register_collector(make<m::counter>({.name = "mixed_total", .help = "Help.", .const_labels = {{"a", "1"}}}));
  EXPECT_EQ(error_of([&] {
              reg.register_collector(make<m::counter>(
                  {.name = "mixed_total", .help = "Other.", .const_labels = {{"a", "2"}}}));
            }),
            "cannot register family \"mixed_total\" with help \"Other.\", but it already has help \"Help.\"");
}

TEST(RegistryTest, SameNameWithDifferentLabelNamesIsRejectedNamingTheFamily) {
  m::registry reg;
  reg.register_collector(make<m::counter>(
      {.name = "mixed_total", .help = "Help.", .label_names = {"x"}, .const_labels = {{"a", "1"}}}));
  EXPECT_EQ(error_of([&] {
              reg.register_collector(make<m::counter>(
                  {.name = "mixed_total", .help = "Help.", .label_names = {"y"}, .const_labels = {{"a", "2"}}}));
            }),
            "cannot register family \"mixed_total\" with different label names or unit than the family "
            "already there");
  // A different number of label names as well.
  EXPECT_EQ(error_of([&] {
              reg.register_collector(make<m::counter>({.name = "mixed_total",
                                                       .help = "Help.",
                                                       .label_names = {"x", "y"},
                                                       .const_labels = {{"a", "3"}}}));
            }),
            "cannot register family \"mixed_total\" with different label names or unit than the family "
            "already there");
}

TEST(RegistryTest, RegisteringTheSameCollectorTwiceThrowsAlreadyRegisteredWithTheExistingCollector) {
  m::registry reg;
  auto c = make<m::counter>({.name = "once_total", .help = "Once."});
  reg.register_collector(c);
  try {
    reg.register_collector(c);
    ADD_FAILURE() << "no exception";
  } catch (const m::already_registered_error& e) {
    EXPECT_STREQ(e.what(), "collector is already registered");
    EXPECT_EQ(e.existing(), c);
  }
  // already_registered_error is an operant::metrics::error.
  EXPECT_EQ(error_of([&] { reg.register_collector(c); }), "collector is already registered");
  c->labels().inc();
  EXPECT_EQ(text(reg), "# HELP once_total Once.\n# TYPE once_total counter\nonce_total 1\n");
}

TEST(RegistryTest, HistogramAndCounterNamedLikeItsCountSampleCollide) {
  {
    m::registry reg;
    reg.register_collector(make<m::histogram>({.name = "foo", .help = "Foo."}));
    EXPECT_EQ(error_of([&] { reg.register_collector(make<m::counter>({.name = "foo_count", .help = "C."})); }),
              "family \"foo_count\" would expose samples named \"foo_count\", which family \"foo\" "
              "already exposes");
    EXPECT_EQ(error_of([&] { reg.register_collector(make<m::gauge>({.name = "foo_bucket", .help = "C."})); }),
              "family \"foo_bucket\" would expose samples named \"foo_bucket\", which family \"foo\" "
              "already exposes");
    EXPECT_EQ(error_of([&] { reg.register_collector(make<m::gauge>({.name = "foo_sum", .help = "C."})); }),
              "family \"foo_sum\" would expose samples named \"foo_sum\", which family \"foo\" "
              "already exposes");
  }
  {  // The other registration order.
    m::registry reg;
    reg.register_collector(make<m::counter>({.name = "foo_count", .help = "C."}));
    EXPECT_EQ(error_of([&] { reg.register_collector(make<m::histogram>({.name = "foo", .help = "Foo."})); }),
              "family \"foo\" would expose samples named \"foo_count\", which family \"foo_count\" "
              "already exposes");
  }
}

TEST(RegistryTest, SummaryAndGaugeNamedLikeItsSumSampleCollide) {
  {
    m::registry reg;
    reg.register_collector(make<m::summary>({.name = "x", .help = "X."}));
    EXPECT_EQ(error_of([&] { reg.register_collector(make<m::gauge>({.name = "x_sum", .help = "S."})); }),
              "family \"x_sum\" would expose samples named \"x_sum\", which family \"x\" already exposes");
  }
  {
    m::registry reg;
    reg.register_collector(make<m::gauge>({.name = "x_sum", .help = "S."}));
    EXPECT_EQ(error_of([&] { reg.register_collector(make<m::summary>({.name = "x", .help = "X."})); }),
              "family \"x\" would expose samples named \"x_sum\", which family \"x_sum\" already exposes");
  }
  {  // A summary has no _bucket samples: a gauge x_bucket beside summary x is fine (client_golang).
    m::registry reg;
    reg.register_collector(make<m::summary>({.name = "x", .help = "X."}));
    EXPECT_NO_THROW(reg.register_collector(make<m::gauge>({.name = "x_bucket", .help = "B."})));
  }
}

TEST(RegistryTest, InfoAndGaugeNamedLikeItsInfoSampleCollide) {
  m::registry reg;
  reg.register_collector(make<m::info>({.name = "build", .help = "Build."}));
  EXPECT_EQ(error_of([&] { reg.register_collector(make<m::gauge>({.name = "build_info", .help = "G."})); }),
            "family \"build_info\" would expose samples named \"build_info\", which family \"build\" "
            "already exposes");
}

// One collector describing two families whose samples collide must be rejected just like two
// collectors doing so (client_golang checks every descriptor of a collector).
TEST(RegistryTest, CollectorDescribingCollidingFamiliesIsRejected) {
  m::registry reg;
  auto c = checked({{desc("foo", m::metric_type::histogram), {}}, {desc("foo_count", m::metric_type::counter), {}}});
  EXPECT_EQ(error_of([&] { reg.register_collector(c); }),
            "family \"foo_count\" would expose samples named \"foo_count\", which family \"foo\" "
            "already exposes");
}

// One collector describing one name with two types (different constant labels) is inconsistent
// (client_golang: "a previously registered descriptor with the same fully-qualified name ...").
TEST(RegistryTest, CollectorDescribingOneNameWithTwoTypesIsRejectedAtRegistration) {
  m::registry reg;
  auto c = checked({{desc("twice", m::metric_type::counter, {}, {{"a", "1"}}), {}},
                    {desc("twice", m::metric_type::gauge, {}, {{"a", "2"}}), {}}});
  EXPECT_EQ(error_of([&] { reg.register_collector(c); }),
            "cannot register family \"twice\" as a gauge, but it is already a counter");
}

TEST(RegistryTest, CollectorDescribingOneFamilyTwiceIsRejected) {
  m::registry reg;
  auto c = checked({{desc("twice", m::metric_type::gauge), {}}, {desc("twice", m::metric_type::gauge), {}}});
  EXPECT_EQ(error_of([&] { reg.register_collector(c); }), "collector describes family \"twice\" twice");
}

TEST(RegistryTest, InvalidMetricNameIsRejectedWithTheName) {
  // Through a family: its constructor validates.
  EXPECT_EQ(error_of([] { make<m::counter>({.name = "1bad_total", .help = "H."}); }),
            "invalid metric name \"1bad_total\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_EQ(error_of([] { make<m::gauge>({.name = "bad-name", .help = "H."}); }),
            "invalid metric name \"bad-name\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_EQ(error_of([] { make<m::gauge>({.name = "", .help = "H."}); }),
            "invalid metric name \"\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  // Through a custom collector: the registry validates what describe() returns.
  m::registry reg;
  EXPECT_EQ(error_of([&] { reg.register_collector(checked({{desc("1bad", m::metric_type::gauge), {}}})); }),
            "descriptor \"1bad\" is invalid: invalid metric name \"1bad\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_EQ(text(reg), "");
}

TEST(RegistryTest, InvalidLabelNamesAreRejectedWithTheName) {
  EXPECT_EQ(error_of([] { make<m::counter>({.name = "ok_total", .help = "H.", .label_names = {"bad-label"}}); }),
            "invalid variable label name \"bad-label\" for metric \"ok_total\": expected "
            "[a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
  EXPECT_EQ(error_of([] { make<m::counter>({.name = "ok_total", .help = "H.", .label_names = {"1x"}}); }),
            "invalid variable label name \"1x\" for metric \"ok_total\": expected "
            "[a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
  EXPECT_EQ(error_of([] { make<m::counter>({.name = "ok_total", .help = "H.", .label_names = {"__reserved"}}); }),
            "invalid variable label name \"__reserved\" for metric \"ok_total\": expected "
            "[a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
  EXPECT_EQ(error_of([] {
              make<m::counter>({.name = "ok_total", .help = "H.", .const_labels = {{"__name__", "x"}}});
            }),
            "invalid constant label name \"__name__\" for metric \"ok_total\": expected "
            "[a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
  m::registry reg;
  EXPECT_EQ(error_of([&] {
              reg.register_collector(checked({{desc("ok", m::metric_type::gauge, {"a.b"}), {}}}));
            }),
            "descriptor \"ok\" is invalid: invalid variable label name \"a.b\" for metric \"ok\": expected "
            "[a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
}

TEST(RegistryTest, ReservedLeAndQuantileLabelsAreRejected) {
  EXPECT_EQ(error_of([] { make<m::histogram>({.name = "h_seconds", .help = "H.", .label_names = {"le"}}); }),
            "label name \"le\" is reserved for the buckets of histogram \"h_seconds\"");
  EXPECT_EQ(error_of([] { make<m::histogram>({.name = "h_seconds", .help = "H.", .const_labels = {{"le", "1"}}}); }),
            "label name \"le\" is reserved for the buckets of histogram \"h_seconds\"");
  EXPECT_EQ(error_of([] { make<m::summary>({.name = "s_seconds", .help = "H.", .label_names = {"quantile"}}); }),
            "label name \"quantile\" is reserved for the quantiles of summary \"s_seconds\"");
  EXPECT_EQ(error_of([] {
              make<m::summary>({.name = "s_seconds", .help = "H.", .const_labels = {{"quantile", "0.5"}}});
            }),
            "label name \"quantile\" is reserved for the quantiles of summary \"s_seconds\"");
  // Only reserved for their own type (client_golang allows `le` on a gauge, `quantile` on a histogram).
  EXPECT_NO_THROW(make<m::gauge>({.name = "g", .help = "H.", .label_names = {"le", "quantile"}}));
  EXPECT_NO_THROW(make<m::histogram>({.name = "h", .help = "H.", .label_names = {"quantile"}}));
}

TEST(RegistryTest, DuplicateLabelNamesAreRejected) {
  EXPECT_EQ(error_of([] { make<m::counter>({.name = "d_total", .help = "H.", .label_names = {"x", "x"}}); }),
            "duplicate label name \"x\" for metric \"d_total\"");
  EXPECT_EQ(error_of([] {
              make<m::counter>({.name = "d_total", .help = "H.", .label_names = {"x"}, .const_labels = {{"x", "1"}}});
            }),
            "duplicate label name \"x\" for metric \"d_total\"");
  EXPECT_EQ(error_of([] {
              make<m::counter>({.name = "d_total", .help = "H.", .const_labels = {{"y", "1"}, {"y", "2"}}});
            }),
            "duplicate label name \"y\" for metric \"d_total\"");
}

TEST(RegistryTest, UnregisterThenRegisterAgainWorks) {
  m::registry reg;
  auto c = make<m::counter>({.name = "again_total", .help = "Again."});
  reg.register_collector(c);
  c->labels().inc();
  EXPECT_TRUE(reg.unregister(*c));
  EXPECT_EQ(text(reg), "");
  EXPECT_FALSE(reg.unregister(*c));
  reg.register_collector(c);
  EXPECT_EQ(text(reg), "# HELP again_total Again.\n# TYPE again_total counter\nagain_total 1\n");
  // Another collector of the same family can take the place of an unregistered one.
  EXPECT_TRUE(reg.unregister(*c));
  auto other = make<m::counter>({.name = "again_total", .help = "Again."});
  reg.register_collector(other);
  EXPECT_EQ(text(reg), "# HELP again_total Again.\n# TYPE again_total counter\nagain_total 0\n");
}

TEST(RegistryTest, UnregisterReleasesSampleNames) {
  m::registry reg;
  auto h = make<m::histogram>({.name = "foo", .help = "Foo."});
  reg.register_collector(h);
  EXPECT_TRUE(reg.unregister(*h));
  EXPECT_NO_THROW(reg.register_collector(make<m::counter>({.name = "foo_count", .help = "C."})));
}

TEST(RegistryTest, UnregisterKeepsSampleNamesOfTheRemainingPartOfAFamily) {
  m::registry reg;
  auto a = make<m::histogram>({.name = "foo", .help = "Foo.", .const_labels = {{"p", "a"}}});
  auto b = make<m::histogram>({.name = "foo", .help = "Foo.", .const_labels = {{"p", "b"}}});
  reg.register_collector(a);
  reg.register_collector(b);
  EXPECT_TRUE(reg.unregister(*a));
  EXPECT_EQ(error_of([&] { reg.register_collector(make<m::counter>({.name = "foo_count", .help = "C."})); }),
            "family \"foo_count\" would expose samples named \"foo_count\", which family \"foo\" "
            "already exposes");
}

TEST(RegistryTest, UnregisterOfUnknownCollectorReturnsFalse) {
  m::registry reg;
  auto c = make<m::counter>({.name = "never_total", .help = "Never."});
  EXPECT_FALSE(reg.unregister(*c));
  reg.register_collector(make<m::counter>({.name = "other_total", .help = "Other."}));
  EXPECT_FALSE(reg.unregister(*c));
}

// ---- factory / promauto ---------------------------------------------------------------------------

TEST(RegistryFactoryTest, WithRegistryCreatesAndRegistersEveryKind) {
  m::registry reg;
  auto f = m::with(reg);
  m::counter& c = f.new_counter({.name = "f_counter_total", .help = "C."});
  m::gauge& g = f.new_gauge({.name = "f_gauge", .help = "G."});
  m::histogram& h = f.new_histogram({.name = "f_histogram", .help = "H.", .buckets = {1}});
  m::summary& s = f.new_summary({.name = "f_summary", .help = "S."});
  auto& cf = f.new_counter_family({.name = "f_family_total", .help = "CF.", .label_names = {"k"}});
  auto& i = f.new_info({.name = "f_info_about", .help = "I.", .label_names = {"version"}});
  m::info& unlabelled_info = f.new_info({.name = "f_plain", .help = "P."}).labels();
  static_cast<void>(unlabelled_info);
  c.inc();
  g.set(2);
  h.observe(0.5);
  s.observe(3);
  cf.labels("v").add(4);
  i.labels("1.0");
  EXPECT_EQ(text(reg),
            "# HELP f_counter_total C.\n# TYPE f_counter_total counter\nf_counter_total 1\n"
            "# HELP f_family_total CF.\n# TYPE f_family_total counter\nf_family_total{k=\"v\"} 4\n"
            "# HELP f_gauge G.\n# TYPE f_gauge gauge\nf_gauge 2\n"
            "# HELP f_histogram H.\n# TYPE f_histogram histogram\n"
            "f_histogram_bucket{le=\"1\"} 1\nf_histogram_bucket{le=\"+Inf\"} 1\n"
            "f_histogram_sum 0.5\nf_histogram_count 1\n"
            "# HELP f_info_about_info I.\n# TYPE f_info_about_info gauge\nf_info_about_info{version=\"1.0\"} 1\n"
            "# HELP f_plain_info P.\n# TYPE f_plain_info gauge\nf_plain_info 1\n"
            "# HELP f_summary S.\n# TYPE f_summary summary\nf_summary_sum 3\nf_summary_count 1\n");
}

TEST(RegistryFactoryTest, NewCounterWithLabelNamesIsRejectedAndRegistersNothing) {
  m::registry reg;
  EXPECT_EQ(error_of([&] { m::with(reg).new_counter({.name = "l_total", .help = "L.", .label_names = {"a"}}); }),
            "metric \"l_total\" has label names; create it with the *_family function to use labels");
  EXPECT_EQ(error_of([&] { m::with(reg).new_gauge({.name = "l_gauge", .help = "L.", .label_names = {"a"}}); }),
            "metric \"l_gauge\" has label names; create it with the *_family function to use labels");
  EXPECT_EQ(text(reg), "");
}

TEST(RegistryFactoryTest, FactoryPropagatesRegistrationErrors) {
  m::registry reg;
  m::with(reg).new_counter({.name = "twice_total", .help = "T."});
  EXPECT_EQ(error_of([&] { m::with(reg).new_counter({.name = "twice_total", .help = "T."}); }),
            "family \"twice_total\" with constant labels {} is already registered");
  EXPECT_EQ(error_of([&] { m::with(reg).new_counter({.name = "nohelp_total"}); }),
            "metric \"nohelp_total\" has no help text; help is required");
}

TEST(RegistryFactoryTest, DefaultRegistryHasProcessFamiliesAndBuildInfo) {
  const std::vector<m::family_snapshot> fams = m::snapshot(m::default_registry());
  auto find = [&](const std::string& name) -> const m::family_snapshot* {
    for (const auto& f : fams) {
      if (f.desc.name == name) return &f;
    }
    return nullptr;
  };
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    const m::family_snapshot* f = find(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->series.size(), 1u) << name;
  }
  EXPECT_EQ(find("process_cpu_seconds_total")->desc.type, m::metric_type::counter);
  EXPECT_EQ(find("process_open_fds")->desc.type, m::metric_type::gauge);
  const m::family_snapshot* build = find("operant_build");
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->desc.type, m::metric_type::info);
  ASSERT_EQ(build->desc.const_labels.size(), 2u);
  EXPECT_EQ(build->desc.const_labels[0].name, "compiler");
  EXPECT_EQ(build->desc.const_labels[1].name, "version");
  EXPECT_FALSE(build->desc.const_labels[1].value.empty());
  const std::string body = text(m::default_registry());
  EXPECT_NE(body.find("# TYPE operant_build_info gauge\noperant_build_info{compiler=\""), std::string::npos);
  EXPECT_NE(body.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  // The default registry's families are sorted too.
  EXPECT_TRUE(std::is_sorted(fams.begin(), fams.end(),
                             [](const auto& a, const auto& b) { return a.desc.name < b.desc.name; }));
}

TEST(RegistryFactoryTest, PromautoFunctionsRegisterOnTheDefaultRegistry) {
  m::counter& c = m::new_counter({.name = "registry_test_promauto_counter_total", .help = "C."});
  m::gauge& g = m::new_gauge({.name = "registry_test_promauto_gauge", .help = "G."});
  auto& fam = m::new_counter_family(
      {.name = "registry_test_promauto_family_total", .help = "F.", .label_names = {"k"}});
  c.add(3);
  g.set(-1.5);
  fam.labels("v").inc();
  m::registry& def = m::default_registry();
  EXPECT_EQ(m::testutil::sample_value(def, "registry_test_promauto_counter_total"), 3);
  EXPECT_EQ(m::testutil::sample_value(def, "registry_test_promauto_gauge"), -1.5);
  EXPECT_EQ(m::testutil::sample_value(def, "registry_test_promauto_family_total", {{"k", "v"}}), 1);
  // A second registration of the same name fails on the default registry as on any other.
  EXPECT_EQ(error_of([] { m::new_counter({.name = "registry_test_promauto_counter_total", .help = "C."}); }),
            "family \"registry_test_promauto_counter_total\" with constant labels {} is already registered");
}

// ---- wrapping registerer --------------------------------------------------------------------------

TEST(RegistryWrappingTest, PrefixAndExtraConstLabelsApplyToEveryFamily) {
  m::registry reg;
  m::wrapping_registerer w(reg, "myop_", {{"shard", "1"}});
  auto runs = make<m::counter>({.name = "controller_runs_total", .help = "Runs.", .label_names = {"ctrl"}});
  auto lat = make<m::histogram>({.name = "controller_seconds", .help = "Lat.", .buckets = {1}});
  w.register_collector(runs);
  w.register_collector(lat);
  runs->labels("x").inc();
  lat->labels().observe(2);
  EXPECT_EQ(text(reg),
            "# HELP myop_controller_runs_total Runs.\n"
            "# TYPE myop_controller_runs_total counter\n"
            "myop_controller_runs_total{ctrl=\"x\",shard=\"1\"} 1\n"
            "# HELP myop_controller_seconds Lat.\n"
            "# TYPE myop_controller_seconds histogram\n"
            "myop_controller_seconds_bucket{shard=\"1\",le=\"1\"} 0\n"
            "myop_controller_seconds_bucket{shard=\"1\",le=\"+Inf\"} 1\n"
            "myop_controller_seconds_sum{shard=\"1\"} 2\n"
            "myop_controller_seconds_count{shard=\"1\"} 1\n");
}

TEST(RegistryWrappingTest, PrefixOnlyAndLabelsOnly) {
  m::registry reg;
  m::wrapping_registerer prefix_only(reg, "p_");
  m::wrapping_registerer labels_only(reg, "", {{"zone", "eu"}, {"app", "x"}});
  auto a = make<m::gauge>({.name = "a", .help = "A."});
  auto b = make<m::gauge>({.name = "b", .help = "B.", .const_labels = {{"m", "1"}}});
  prefix_only.register_collector(a);
  labels_only.register_collector(b);
  EXPECT_EQ(text(reg),
            "# HELP b B.\n# TYPE b gauge\nb{app=\"x\",m=\"1\",zone=\"eu\"} 0\n"
            "# HELP p_a A.\n# TYPE p_a gauge\np_a 0\n");
}

TEST(RegistryWrappingTest, ExtraLabelClashingWithAnExistingLabelIsRejected) {
  m::registry reg;
  m::wrapping_registerer w(reg, "myop_", {{"shard", "1"}});
  EXPECT_EQ(error_of([&] {
              w.register_collector(make<m::counter>({.name = "v_total", .help = "V.", .label_names = {"shard"}}));
            }),
            "cannot add constant label \"shard\" to family \"v_total\": it already has a label of that name");
  EXPECT_EQ(error_of([&] {
              w.register_collector(
                  make<m::counter>({.name = "c_total", .help = "C.", .const_labels = {{"shard", "2"}}}));
            }),
            "cannot add constant label \"shard\" to family \"c_total\": it already has a label of that name");
  EXPECT_EQ(text(reg), "");
}

TEST(RegistryWrappingTest, InvalidPrefixOrLabelsAreRejected) {
  m::registry reg;
  EXPECT_EQ(error_of([&] { m::wrapping_registerer w(reg, "9x_"); }),
            "invalid metric name prefix \"9x_\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_EQ(error_of([&] { m::wrapping_registerer w(reg, "", {{"__x", "1"}}); }),
            "invalid constant label name \"__x\"");
  EXPECT_EQ(error_of([&] { m::wrapping_registerer w(reg, "", {{"a", "1"}, {"a", "2"}}); }),
            "constant label \"a\" given twice");
}

TEST(RegistryWrappingTest, UnregisterThroughTheWrapper) {
  m::registry reg;
  m::wrapping_registerer w(reg, "myop_");
  auto c = make<m::counter>({.name = "u_total", .help = "U."});
  w.register_collector(c);
  EXPECT_EQ(gathered_names(reg), (std::vector<std::string>{"myop_u_total"}));
  EXPECT_FALSE(reg.unregister(*c));  // the registry holds the wrapper, not c
  EXPECT_TRUE(w.unregister(*c));
  EXPECT_EQ(text(reg), "");
  EXPECT_FALSE(w.unregister(*c));
  w.register_collector(c);  // and back again
  EXPECT_EQ(gathered_names(reg), (std::vector<std::string>{"myop_u_total"}));
}

// client_golang unwraps: AlreadyRegisteredError.ExistingCollector is the collector that was
// registered, not the internal wrapper (promhttp's InstrumentMetricHandler relies on that).
TEST(RegistryWrappingTest, AlreadyRegisteredThroughWrapperCarriesTheOriginalCollector) {
  m::registry reg;
  m::wrapping_registerer w(reg, "myop_");
  auto c = make<m::counter>({.name = "dup_total", .help = "D."});
  w.register_collector(c);
  try {
    w.register_collector(c);
    ADD_FAILURE() << "no exception";
  } catch (const m::already_registered_error& e) {
    EXPECT_EQ(e.existing().get(), static_cast<m::collector*>(c.get()));
    EXPECT_NE(std::dynamic_pointer_cast<m::family<m::counter>>(e.existing()), nullptr);
  }
}

// A collector describing one name twice with different constant labels keeps them apart when
// wrapped: each part gets its own constant labels plus the extra ones.
TEST(RegistryWrappingTest, FamiliesOfOneNameKeepTheirOwnConstLabelsWhenWrapped) {
  m::registry reg;
  m::wrapping_registerer w(reg, "p_", {{"shard", "1"}});
  const m::family_desc da = desc("multi", m::metric_type::gauge, {}, {{"part", "a"}}, "Multi.");
  const m::family_desc db = desc("multi", m::metric_type::gauge, {}, {{"part", "b"}}, "Multi.");
  w.register_collector(checked({{da, {value_series({}, 1)}}, {db, {value_series({}, 2)}}}));
  std::string got;
  EXPECT_EQ(error_of([&] { got = text(reg); }), "<no error thrown>");
  EXPECT_EQ(got,
            "# HELP p_multi Multi.\n# TYPE p_multi gauge\n"
            "p_multi{part=\"a\",shard=\"1\"} 1\n"
            "p_multi{part=\"b\",shard=\"1\"} 2\n");
}

TEST(RegistryWrappingTest, UncheckedCollectorIsWrappedAtCollection) {
  m::registry reg;
  m::wrapping_registerer w(reg, "p_", {{"shard", "1"}});
  w.register_collector(unchecked({{desc("late", m::metric_type::gauge, {"k"}), {value_series({"v"}, 3)}}}));
  EXPECT_EQ(text(reg), "# HELP p_late Help.\n# TYPE p_late gauge\np_late{k=\"v\",shard=\"1\"} 3\n");
}

// ---- gatherers ------------------------------------------------------------------------------------

TEST(RegistryGatherersTest, MergesTheFamiliesOfSeveralRegistriesSorted) {
  m::registry r1, r2;
  m::with(r1).new_counter({.name = "b_total", .help = "B."}).inc();
  m::with(r1).new_gauge({.name = "d", .help = "D."}).set(4);
  m::with(r2).new_gauge({.name = "a", .help = "A."}).set(1);
  m::with(r2).new_counter({.name = "c_total", .help = "C."}).add(3);
  m::gatherers g({&r1, &r2});
  EXPECT_EQ(text(g),
            "# HELP a A.\n# TYPE a gauge\na 1\n"
            "# HELP b_total B.\n# TYPE b_total counter\nb_total 1\n"
            "# HELP c_total C.\n# TYPE c_total counter\nc_total 3\n"
            "# HELP d D.\n# TYPE d gauge\nd 4\n");
  const m::registry* both[] = {&r2, &r1};
  m::snapshot_writer w;
  m::registry::gather_all(both, w);
  ASSERT_EQ(w.families().size(), 4u);
  EXPECT_EQ(w.families()[0].desc.name, "a");
  EXPECT_EQ(w.families()[3].desc.name, "d");
}

TEST(RegistryGatherersTest, SameFamilyWithDifferentConstLabelsIsMergedIntoOne) {
  m::registry r1, r2;
  m::with(r1).new_counter({.name = "x_total", .help = "X.", .const_labels = {{"r", "2"}}}).add(2);
  m::with(r2).new_counter({.name = "x_total", .help = "X.", .const_labels = {{"r", "1"}}}).add(1);
  m::gatherers g({&r1, &r2});
  EXPECT_EQ(text(g),
            "# HELP x_total X.\n# TYPE x_total counter\nx_total{r=\"1\"} 1\nx_total{r=\"2\"} 2\n");
}

TEST(RegistryGatherersTest, SameFamilyWithSameConstLabelsInBothIsAnError) {
  m::registry r1, r2;
  m::with(r1).new_counter({.name = "x_total", .help = "X."});
  m::with(r2).new_counter({.name = "x_total", .help = "X."});
  m::gatherers g({&r1, &r2});
  EXPECT_EQ(error_of([&] { text(g); }),
            "family \"x_total\" with constant labels {} was gathered twice (registered in two merged "
            "registries?)");
}

TEST(RegistryGatherersTest, InconsistentFamiliesAcrossRegistriesAreAnError) {
  m::registry r1, r2;
  m::with(r1).new_counter({.name = "x", .help = "X.", .const_labels = {{"r", "1"}}});
  m::with(r2).new_gauge({.name = "x", .help = "X.", .const_labels = {{"r", "2"}}});
  EXPECT_EQ(error_of([&] { text(m::gatherers({&r1, &r2})); }),
            "gathered family \"x\" as a gauge, but it is already a counter");
  m::registry r3;
  m::with(r3).new_counter({.name = "x", .help = "Other.", .const_labels = {{"r", "3"}}});
  EXPECT_EQ(error_of([&] { text(m::gatherers({&r1, &r3})); }),
            "gathered family \"x\" with help \"Other.\", but it already has help \"X.\"");
}

// ---- callback metrics -----------------------------------------------------------------------------

TEST(RegistryCallbackTest, GaugeFuncAndCounterFuncAreReadAtCollection) {
  m::registry reg;
  double level = 1.5;
  double total = 10;
  m::with(reg).new_gauge_func({.name = "cb_level", .help = "Level."}, [&level] { return level; });
  m::with(reg).new_counter_func({.name = "cb_events_total", .help = "Events."}, [&total] { return total; });
  EXPECT_EQ(text(reg),
            "# HELP cb_events_total Events.\n# TYPE cb_events_total counter\ncb_events_total 10\n"
            "# HELP cb_level Level.\n# TYPE cb_level gauge\ncb_level 1.5\n");
  level = -2;
  total = 11.25;
  EXPECT_EQ(text(reg),
            "# HELP cb_events_total Events.\n# TYPE cb_events_total counter\ncb_events_total 11.25\n"
            "# HELP cb_level Level.\n# TYPE cb_level gauge\ncb_level -2\n");
  EXPECT_EQ(om(reg),
            "# TYPE cb_events counter\n# HELP cb_events Events.\ncb_events_total 11.25\n"
            "# TYPE cb_level gauge\n# HELP cb_level Level.\ncb_level -2.0\n# EOF\n");
}

TEST(RegistryCallbackTest, ExceptionInTheCallbackPropagatesFromGather) {
  m::registry reg;
  bool fail = false;
  m::with(reg).new_gauge_func({.name = "cb_fragile", .help = "F."}, [&fail]() -> double {
    if (fail) throw std::runtime_error("callback failed");
    return 1;
  });
  EXPECT_EQ(text(reg), "# HELP cb_fragile F.\n# TYPE cb_fragile gauge\ncb_fragile 1\n");
  fail = true;
  try {
    text(reg);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "callback failed");
  }
  fail = false;
  EXPECT_EQ(text(reg), "# HELP cb_fragile F.\n# TYPE cb_fragile gauge\ncb_fragile 1\n");
}

TEST(RegistryCallbackTest, InvalidCallbackMetricsAreRejected) {
  auto one = [] { return 1.0; };
  EXPECT_EQ(error_of([&] { m::callback_metric({.name = "cb_l", .help = "L.", .label_names = {"a"}}, m::metric_type::gauge, one); }),
            "callback metric \"cb_l\" cannot have variable labels");
  EXPECT_EQ(error_of([&] { m::callback_metric({.name = "cb_h", .help = "H."}, m::metric_type::histogram, one); }),
            "callback metric \"cb_h\" must be a counter, gauge or unknown, not histogram");
  EXPECT_EQ(error_of([&] { m::callback_metric({.name = "cb_n", .help = "N."}, m::metric_type::gauge, nullptr); }),
            "callback metric \"cb_n\" needs a function");
  m::registry reg;
  reg.register_collector(std::make_shared<m::callback_metric>(
      m::metric_opts{.name = "cb_untyped", .help = "U.", .const_labels = {{"k", "v"}}}, m::metric_type::unknown, one));
  EXPECT_EQ(text(reg), "# HELP cb_untyped U.\n# TYPE cb_untyped untyped\ncb_untyped{k=\"v\"} 1\n");
}

// ---- custom collectors ----------------------------------------------------------------------------

TEST(RegistryCustomCollectorTest, MultiFamilyCollectorOutputIsSortedByName) {
  m::registry reg;
  reg.register_collector(checked({{desc("zeta", m::metric_type::gauge), {value_series({}, 1)}},
                                  {desc("alpha", m::metric_type::gauge), {value_series({}, 2)}}}));
  m::with(reg).new_gauge({.name = "mid", .help = "Help."}).set(3);
  EXPECT_EQ(text(reg),
            "# HELP alpha Help.\n# TYPE alpha gauge\nalpha 2\n"
            "# HELP mid Help.\n# TYPE mid gauge\nmid 3\n"
            "# HELP zeta Help.\n# TYPE zeta gauge\nzeta 1\n");
}

TEST(RegistryCustomCollectorTest, UncheckedCollectorOutputIsSortedByName) {
  m::registry reg;
  reg.register_collector(unchecked({{desc("d", m::metric_type::gauge), {value_series({}, 4)}},
                                    {desc("b", m::metric_type::counter), {value_series({}, 2)}}}));
  m::with(reg).new_gauge({.name = "c", .help = "Help."}).set(3);
  m::with(reg).new_gauge({.name = "a", .help = "Help."}).set(1);
  EXPECT_EQ(text(reg),
            "# HELP a Help.\n# TYPE a gauge\na 1\n"
            "# HELP b Help.\n# TYPE b counter\nb 2\n"
            "# HELP c Help.\n# TYPE c gauge\nc 3\n"
            "# HELP d Help.\n# TYPE d gauge\nd 4\n");
  // Two unchecked collectors may write the same name (client_golang allows this).
  m::registry reg2;
  reg2.register_collector(unchecked({{desc("u", m::metric_type::gauge), {value_series({}, 1)}}}));
  EXPECT_NO_THROW(reg2.register_collector(unchecked({{desc("u", m::metric_type::gauge), {value_series({}, 1)}}})));
}

TEST(RegistryCustomCollectorTest, DuplicateSeriesOfAnUncheckedCollectorIsAnErrorAtGather) {
  m::registry reg;
  reg.register_collector(unchecked(
      {{desc("dup", m::metric_type::gauge, {"k"}), {value_series({"v"}, 1), value_series({"v"}, 2)}}}));
  EXPECT_EQ(error_of([&] { text(reg); }),
            "collected family \"dup\" has a series that was collected before with the same label values");
}

TEST(RegistryCustomCollectorTest, DuplicateSeriesOfACheckedMultiFamilyCollectorIsAnErrorAtGather) {
  m::registry reg;
  reg.register_collector(checked({{desc("a", m::metric_type::gauge), {value_series({}, 1)}},
                                  {desc("b", m::metric_type::gauge, {"k"}),
                                   {value_series({"x"}, 1), value_series({"y"}, 1), value_series({"x"}, 1)}}}));
  EXPECT_EQ(error_of([&] { text(reg); }),
            "collected family \"b\" has a series that was collected before with the same label values");
}

TEST(RegistryCustomCollectorTest, UncheckedFamilyWrittenTwiceIsAnErrorAtGather) {
  m::registry reg;
  const m::family_desc d = desc("twice", m::metric_type::gauge, {"k"});
  reg.register_collector(unchecked({{d, {value_series({"x"}, 1)}}, {d, {value_series({"y"}, 1)}}}));
  EXPECT_EQ(error_of([&] { text(reg); }),
            "family \"twice\" with constant labels {} was gathered twice (registered in two merged registries?)");
}

TEST(RegistryCustomCollectorTest, UncheckedFamiliesWithConflictingTypesAreAnErrorAtGather) {
  m::registry reg;
  reg.register_collector(unchecked({{desc("t", m::metric_type::gauge, {}, {{"a", "1"}}), {value_series({}, 1)}}}));
  reg.register_collector(unchecked({{desc("t", m::metric_type::counter, {}, {{"a", "2"}}), {value_series({}, 1)}}}));
  EXPECT_EQ(error_of([&] { text(reg); }), "gathered family \"t\" as a counter, but it is already a gauge");
}

TEST(RegistryCustomCollectorTest, UncheckedFamilyWithWrongLabelValueCountIsAnErrorAtGather) {
  m::registry reg;
  reg.register_collector(unchecked({{desc("w", m::metric_type::gauge, {"a", "b"}), {value_series({"x"}, 1)}}}));
  EXPECT_EQ(error_of([&] { text(reg); }),
            "collected family \"w\" has a series with 1 label values for 2 label names");
}

// "its output is checked at gather time" (collector.h): an unchecked collector writing a family
// that could never be registered must not produce an unparseable exposition. client_golang
// rejects such metrics while gathering.
TEST(RegistryCustomCollectorTest, UncheckedFamilyWithInvalidMetricNameIsAnErrorAtGather) {
  m::registry reg;
  reg.register_collector(unchecked({{desc("bad name", m::metric_type::gauge), {value_series({}, 1)}}}));
  std::string body;
  const std::string err = error_of([&] { body = text(reg); });
  EXPECT_NE(err, "<no error thrown>") << "gathered:\n" << body;
  EXPECT_NE(err.find("\"bad name\""), std::string::npos) << err;
}

// client_golang's Gather runs checkSuffixCollisions on every gathered family, so an unchecked
// collector cannot put a counter `foo_count` beside a histogram `foo` either.
TEST(RegistryCustomCollectorTest, UncheckedSampleNameCollisionIsAnErrorAtGather) {
  m::registry reg;
  reg.register_collector(unchecked({{desc("foo", m::metric_type::histogram), {histogram_series({1}, {1, 1}, 0.5)}},
                                    {desc("foo_count", m::metric_type::counter), {value_series({}, 1)}}}));
  std::string body;
  const std::string err = error_of([&] { body = text(reg); });
  EXPECT_NE(err, "<no error thrown>") << "gathered:\n" << body;
}

// ---- gathering from another thread ---------------------------------------------------------------

// Runs fn in a forked child process and reports how it ended, killing it after `timeout`: a
// deadlock then fails the test instead of hanging the whole test binary.
template <class Fn>
std::string run_in_child(Fn&& fn, std::chrono::seconds timeout) {
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    fn();
    _exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return "still running after " + std::to_string(timeout.count()) + " s (deadlock?)";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "killed by signal " + std::to_string(WTERMSIG(status));
}

// A scrape usually runs on a thread of the HTTP server that never updates a metric itself.
TEST(RegistryThreadTest, GatherFromAThreadThatNeverUsedAMetricCompletes) {
  const std::string how = run_in_child(
      [] {
        m::registry reg;
        std::thread updater([&] { m::with(reg).new_counter({.name = "t_total", .help = "T."}).inc(); });
        updater.join();
        std::string body;
        std::thread scraper([&] { body = text(reg); });
        scraper.join();
        _exit(body == "# HELP t_total T.\n# TYPE t_total counter\nt_total 1\n" ? 0 : 3);
      },
      std::chrono::seconds(5));
  EXPECT_EQ(how, "exited with status 0");
}

TEST(RegistryThreadTest, GatherOfALabelledFamilyFromAFreshThreadCompletes) {
  const std::string how = run_in_child(
      [] {
        std::thread scraper([] {
          m::registry reg;
          m::with(reg).new_gauge_family({.name = "g", .help = "G.", .label_names = {"k"}});
          _exit(text(reg) == "# HELP g G.\n# TYPE g gauge\n" ? 0 : 3);
        });
        scraper.join();
      },
      std::chrono::seconds(5));
  EXPECT_EQ(how, "exited with status 0");
}

// ---- OpenMetrics name clashes ---------------------------------------------------------------------
//
// OpenMetrics exposes a counter `foo_total` as family `foo` with samples `foo_total` (and
// `foo_created`), and a histogram/summary `foo` may have `foo_created` samples. The registry's
// collision check ("no sample-name collisions ... in either format") must keep families apart
// whose OpenMetrics names clash, or every OpenMetrics scrape of the registry is invalid.
TEST(RegistryOpenMetricsClashTest, CounterTotalAndGaugeOfItsBaseNameCollide) {
  m::registry reg;
  reg.register_collector(make<m::counter>({.name = "foo_total", .help = "C."}));
  const std::string err =
      error_of([&] { reg.register_collector(make<m::gauge>({.name = "foo", .help = "G."})); });
  EXPECT_NE(err, "<no error thrown>") << "OpenMetrics output:\n" << om(reg);
}

TEST(RegistryOpenMetricsClashTest, CounterTotalAndCounterWithoutTotalOfItsBaseNameCollide) {
  m::registry reg;
  reg.register_collector(make<m::counter>({.name = "bar_total", .help = "C."}));
  const std::string err =
      error_of([&] { reg.register_collector(make<m::counter>({.name = "bar", .help = "C."})); });
  EXPECT_NE(err, "<no error thrown>") << "OpenMetrics output:\n" << om(reg);
}

TEST(RegistryOpenMetricsClashTest, HistogramAndGaugeNamedLikeItsCreatedSampleCollide) {
  m::registry reg;
  reg.register_collector(make<m::histogram>({.name = "lat", .help = "H."}));
  const std::string err =
      error_of([&] { reg.register_collector(make<m::gauge>({.name = "lat_created", .help = "G."})); });
  EXPECT_NE(err, "<no error thrown>") << "OpenMetrics output:\n" << om(reg);
}

}  // namespace

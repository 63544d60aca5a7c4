// Labelled families: lookup, currying, removal, errors, and their concurrency guarantees.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "operant/metrics/detail/cells.h"
#include "operant/metrics/family.h"
#include "operant/metrics/snapshot.h"

namespace om = operant::metrics;

namespace {

om::metric_opts two_labels() {
  return {.name = "req_total", .help = "Requests.", .label_names = {"method", "code"}};
}

// label values -> value of every series, in collection order.
std::vector<std::pair<std::vector<std::string>, double>> series_of(const om::collector& c) {
  std::vector<std::pair<std::vector<std::string>, double>> out;
  for (const auto& f : om::snapshot(c)) {
    for (const auto& s : f.series) out.emplace_back(s.values, s.value);
  }
  return out;
}

using series_list = std::vector<std::pair<std::vector<std::string>, double>>;

TEST(Family, same_label_values_return_the_same_series) {
  om::family<om::counter> f(two_labels());
  om::counter& a = f.labels("GET", "200");
  om::counter& b = f.labels(std::string("GET"), std::string_view("200"));
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &f.labels("GET", "500"));
  EXPECT_EQ(f.size(), 2u);
}

TEST(Family, with_maps_names_to_values_in_any_order) {
  om::family<om::counter> f(two_labels());
  f.with({{"code", "200"}, {"method", "GET"}}).inc();
  EXPECT_EQ(&f.with({{"method", "GET"}, {"code", "200"}}), &f.labels("GET", "200"));
  EXPECT_EQ(f.labels("GET", "200").value(), 1);
}

TEST(Family, wrong_label_count_unknown_or_missing_names_are_errors) {
  om::family<om::counter> f(two_labels());
  try {
    f.labels("GET");
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "metric \"req_total\" expects 2 label values but got 1");
  }
  try {
    f.with({{"method", "GET"}, {"status", "200"}});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "metric \"req_total\" has no label \"status\"");
  }
  try {
    f.with({{"method", "GET"}});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "metric \"req_total\" needs a value for label \"code\"");
  }
  EXPECT_THROW(f.with({{"method", "GET"}, {"method", "PUT"}}), om::error);
  EXPECT_EQ(f.size(), 0u);
}

TEST(Family, invalid_utf8_label_value_is_rejected) {
  om::family<om::counter> f(two_labels());
  try {
    f.labels("GET", "\xc3\x28");
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "value of label \"code\" for metric \"req_total\" is not valid UTF-8");
  }
  EXPECT_EQ(f.size(), 0u);
}

TEST(Family, hostile_values_are_distinct_series_kept_byte_exact) {
  om::family<om::counter> f(two_labels());
  const std::vector<std::string> values = {"", "\"", "\\", "\n", "é", "日本", "a\"b\\c\nd", "x"};
  for (const auto& v : values) f.labels(v, v).inc();
  EXPECT_EQ(f.size(), values.size());
  for (const auto& v : values) EXPECT_EQ(f.labels(v, v).value(), 1) << v;
  // "a","bc" and "ab","c" must not collide.
  f.labels("a", "bc").inc();
  f.labels("ab", "c").add(2);
  EXPECT_EQ(f.labels("a", "bc").value(), 1);
  EXPECT_EQ(f.labels("ab", "c").value(), 2);
}

// Sorted as client_golang sorts: by the values taken in label-name order (code before method).
TEST(Family, collects_series_sorted_by_label_values_in_label_name_order) {
  om::family<om::counter> f(two_labels());
  f.labels("POST", "200").add(1);
  f.labels("GET", "500").add(2);
  f.labels("GET", "200").add(3);
  EXPECT_EQ(series_of(f), (series_list{{{"GET", "200"}, 3}, {{"POST", "200"}, 1}, {{"GET", "500"}, 2}}));
}

TEST(Family, remove_deletes_one_series) {
  om::family<om::counter> f(two_labels());
  f.labels("GET", "200").inc();
  f.labels("GET", "500").inc();
  EXPECT_TRUE(f.remove("GET", "200"));
  EXPECT_FALSE(f.remove("GET", "200"));
  EXPECT_EQ(series_of(f), (series_list{{{"GET", "500"}, 1}}));
  // Recreated series start again at zero.
  EXPECT_EQ(f.labels("GET", "200").value(), 0);
}

TEST(Family, remove_matching_deletes_every_series_with_the_partial_labels) {
  om::family<om::counter> f(two_labels());
  f.labels("GET", "200").inc();
  f.labels("GET", "500").inc();
  f.labels("PUT", "200").inc();
  EXPECT_EQ(f.remove_matching({{"code", "200"}}), 2u);
  EXPECT_EQ(series_of(f), (series_list{{{"GET", "500"}, 1}}));
  EXPECT_EQ(f.remove_matching({{"code", "404"}}), 0u);
  EXPECT_THROW(f.remove_matching({{"nope", "1"}}), om::error);
}

TEST(Family, clear_removes_everything) {
  om::family<om::counter> f(two_labels());
  for (int i = 0; i < 100; ++i) f.labels("GET", std::to_string(i)).inc();
  EXPECT_EQ(f.size(), 100u);
  f.clear();
  EXPECT_EQ(f.size(), 0u);
  EXPECT_TRUE(series_of(f).empty());
}

TEST(Family, unlabelled_family_has_one_series_from_the_start) {
  om::family<om::counter> f({.name = "c_total", .help = "H."});
  EXPECT_EQ(series_of(f), (series_list{{{}, 0}}));
  EXPECT_THROW(f.clear(), om::error);
  EXPECT_THROW(f.labels("x"), om::error);
}

TEST(Family, curry_fixes_labels_and_shares_series) {
  om::family<om::counter> f({.name = "req_total", .help = "H.", .label_names = {"method", "code", "path"}});
  auto get = f.curry({{"method", "GET"}});
  get.labels("200", "/a").inc();
  EXPECT_EQ(f.labels("GET", "200", "/a").value(), 1);
  auto get_ok = get.curry({{"code", "200"}});
  get_ok.labels("/b").add(2);
  EXPECT_EQ(f.labels("GET", "200", "/b").value(), 2);
  EXPECT_THROW(get.labels("200"), om::error);
  EXPECT_THROW(f.curry({{"nope", "x"}}), om::error);
  EXPECT_THROW(get.curry({{"method", "PUT"}}), om::error);
  EXPECT_TRUE(get_ok.remove({"/b"}));
  EXPECT_EQ(get.remove_matching({}), 1u);  // only GET series: /a
  EXPECT_EQ(f.size(), 0u);
}

TEST(Family, many_series_survive_table_growth) {
  om::family<om::counter> f(two_labels());
  for (int i = 0; i < 20000; ++i) f.labels("m" + std::to_string(i % 7), std::to_string(i)).add(i);
  EXPECT_EQ(f.size(), 20000u);
  for (int i = 0; i < 20000; i += 997) {
    EXPECT_EQ(f.labels("m" + std::to_string(i % 7), std::to_string(i)).value(), i);
  }
  // Remove half, add more: tombstones are reused and lookups stay correct.
  for (int i = 0; i < 20000; i += 2) EXPECT_TRUE(f.remove("m" + std::to_string(i % 7), std::to_string(i)));
  for (int i = 20000; i < 25000; ++i) f.labels("x", std::to_string(i)).inc();
  EXPECT_EQ(f.size(), 15000u);
  EXPECT_EQ(f.labels("m1", "1").value(), 1);
  EXPECT_EQ(f.labels("x", "24999").value(), 1);
}

TEST(FamilyConcurrency, concurrent_increments_of_one_series_sum_exactly) {
  om::family<om::counter> f(two_labels());
  constexpr int threads = 8, per_thread = 200000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) f.labels("GET", "200").inc();
    });
  }
  for (auto& t : ts) t.join();
  // The threads have exited: their cells were folded into the retired arena.
  EXPECT_EQ(f.labels("GET", "200").value(), double{threads} * per_thread);
}

TEST(FamilyConcurrency, values_never_go_down_while_threads_exit) {
  om::family<om::counter> f({.name = "c_total", .help = "H."});
  om::counter& c = f.labels();
  std::atomic<bool> stop{false};
  std::atomic<bool> monotonic{true};
  std::thread reader([&] {
    double last = 0;
    while (!stop.load()) {
      const double v = c.value();
      if (v < last) monotonic = false;
      last = v;
    }
  });
  for (int round = 0; round < 50; ++round) {
    std::thread w([&] {
      for (int i = 0; i < 1000; ++i) c.inc();
    });
    w.join();
  }
  stop = true;
  reader.join();
  EXPECT_TRUE(monotonic.load());
  EXPECT_EQ(c.value(), 50000);
}

TEST(FamilyConcurrency, lookups_race_with_creation_and_removal_safely) {
  om::family<om::counter> f(two_labels());
  std::atomic<bool> stop{false};
  std::atomic<long> hits{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        f.labels("stable", std::to_string(t)).inc();
        ++n;
      }
      hits += n;
    });
  }
  std::thread churn([&] {
    for (int i = 0; i < 3000; ++i) {
      f.labels("churn", std::to_string(i)).inc();
      if (i % 3 == 0) f.remove("churn", std::to_string(i - 1 < 0 ? 0 : i - 1));
      if (i % 500 == 0) f.remove_matching({{"method", "churn"}});
    }
    stop = true;
  });
  churn.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(f.labels("stable", "0").value() + f.labels("stable", "1").value(),
            static_cast<double>(hits.load()));
}

TEST(FamilyConcurrency, scrape_sees_consistent_histograms_while_writers_run) {
  om::family<om::histogram> f({.name = "h", .help = "H.", .label_names = {"k"}});
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      std::uint64_t i = static_cast<std::uint64_t>(t);
      while (!stop.load(std::memory_order_relaxed)) {
        f.labels("a").observe(static_cast<double>(i % 13));
        i += 7;
      }
    });
  }
  std::uint64_t last_count = 0;
  // Scrape while the writers run: at least 300 scrapes and 100k observations.
  for (int scrape = 0; scrape < 300 || last_count < 100000; ++scrape) {
    for (const auto& fam : om::snapshot(f)) {
      for (const auto& s : fam.series) {
        ASSERT_EQ(s.cumulative_counts.back(), s.count);
        for (std::size_t i = 1; i < s.cumulative_counts.size(); ++i) {
          ASSERT_LE(s.cumulative_counts[i - 1], s.cumulative_counts[i]);
        }
        ASSERT_GE(s.count, last_count);
        last_count = s.count;
      }
    }
  }
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_GT(last_count, 0u);
}

TEST(Cells, freed_cells_are_zero_when_reused) {
  {
    om::family<om::counter> f({.name = "c_total", .help = "H."});
    f.labels().add(41);
  }
  // A new counter may reuse the freed cells; it must start at zero.
  for (int i = 0; i < 10; ++i) {
    om::family<om::counter> g({.name = "c_total", .help = "H."});
    EXPECT_EQ(g.labels().value(), 0);
    g.labels().inc();
  }
}

}  // namespace

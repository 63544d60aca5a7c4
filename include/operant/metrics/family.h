// operant/metrics/family.h — a labelled family of metrics (client_golang's CounterVec & co).
//
// A family<M> is a collector holding one series of metric type M (counter, gauge, histogram,
// summary, info) per combination of label values:
//
//   family<counter> requests({.name = "http_requests_total", .help = "Requests served.",
//                             .label_names = {"method", "code"}});
//   requests.labels("GET", "200").inc();
//   requests.with({{"code", "500"}, {"method", "GET"}}).inc();
//   auto get = requests.curry({{"method", "GET"}});
//   get.labels("404").inc();
//
// Lookups of existing series take no lock and allocate nothing: the series table is read under
// RCU (detail/cells.h), so readers never wait for writers. Creating a series takes the family's
// mutex once. A family without label names has exactly one series, created with the family, and
// labels() with no arguments returns it.
//
// Lifetime: the reference returned by labels()/with() stays valid until that series is removed
// (remove, remove_matching, clear) or the family is destroyed; keep it and reuse it in hot paths.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operant/metrics/collector.h"
#include "operant/metrics/counter.h"
#include "operant/metrics/detail/cells.h"
#include "operant/metrics/gauge.h"
#include "operant/metrics/histogram.h"
#include "operant/metrics/opts.h"
#include "operant/metrics/summary.h"

namespace operant::metrics {

// A label name and the value wanted for it, for with(), curry() and remove_matching().
using label_pair = std::pair<std::string_view, std::string_view>;

namespace detail {

std::uint64_t hash_label_values(std::span<const std::string_view> values) noexcept;

// A series: the hash of its label values, the metric, then (in the same allocation) the label
// values as uint32 lengths followed by the bytes.
struct series_base {
  std::uint64_t hash;
};

// Builds the validated description of a family from options (name joined, type-specific fields
// checked against the type).
family_desc make_desc(const metric_opts& opts, metric_type type);

// The type-independent part of a family: the series table and its life cycle.
class family_core {
 public:
  using construct_fn = series_base* (*)(void* memory, const void* config);
  using destroy_fn = void (*)(series_base*);

  family_core(family_desc desc, std::size_t node_size, construct_fn construct, destroy_fn destroy,
              const void* config);
  ~family_core();
  family_core(const family_core&) = delete;
  family_core& operator=(const family_core&) = delete;

  const family_desc& desc() const noexcept { return desc_; }
  std::size_t label_count() const noexcept { return nlabels_; }

  // The series for `values` (in label-name order), created if missing. Throws error if the count
  // does not match the label names or a value is not valid UTF-8.
  series_base* get(std::span<const std::string_view> values) {
    if (values.size() != nlabels_) [[unlikely]] throw_cardinality(values.size());
    const std::uint64_t h = hash_label_values(values);
    rcu_enter();
    series_base* s = find(values, h);
    rcu_exit();
    if (s != nullptr) [[likely]] return s;
    return create(values, h);
  }
  // Maps name→value pairs (any order) to values in label-name order. Throws error for an unknown,
  // missing or repeated name.
  void order_values(std::span<const label_pair> pairs, std::span<std::string_view> out) const;

  bool remove(std::span<const std::string_view> values);
  // Removes every series whose labels include all of `partial`; returns how many. Throws error
  // for a name that is not one of the family's label names.
  std::size_t remove_matching(std::span<const label_pair> partial);
  void clear();
  std::size_t size() const;

  // Calls fn(series, values) for every series sorted by label values. Runs inside an RCU read
  // section; series removed meanwhile stay valid until it returns.
  //
  // Sorted order is not allocation order, so each series is a cache miss on its node and on its
  // cells. The walk therefore prefetches the node `node_ahead` series early, and calls
  // prefetch(series) `cell_ahead` series early (when the node is already in cache) so the caller
  // can prefetch the series' cells.
  template <class Fn, class Prefetch>
  void for_each_sorted(Fn&& fn, Prefetch&& prefetch) const {
    constexpr std::size_t node_ahead = 16;
    constexpr std::size_t cell_ahead = 8;
    rcu_guard guard;
    std::shared_ptr<const std::vector<series_base*>> snapshot = sorted();
    std::array<std::string_view, 16> small;
    std::vector<std::string_view> large(nlabels_ > small.size() ? nlabels_ : 0);
    std::span<std::string_view> values =
        nlabels_ > small.size() ? std::span<std::string_view>(large)
                                : std::span<std::string_view>(small.data(), nlabels_);
    const std::vector<series_base*>& all = *snapshot;
    const std::size_t n = all.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (i + node_ahead < n) {
        const char* node = reinterpret_cast<const char*>(all[i + node_ahead]);
        __builtin_prefetch(node);
        __builtin_prefetch(node + node_size_ + sizeof(std::uint32_t) * nlabels_);  // label bytes
      }
      if (i + cell_ahead < n) prefetch(static_cast<const series_base*>(all[i + cell_ahead]));
      fill_values(all[i], values);
      fn(all[i], std::span<const std::string_view>(values));
    }
  }
  template <class Fn>
  void for_each_sorted(Fn&& fn) const {
    for_each_sorted(std::forward<Fn>(fn), [](const series_base*) noexcept {});
  }

  // The label values stored after the node: nlabels_ lengths, then the bytes.
  void fill_values(const series_base* s, std::span<std::string_view> out) const noexcept {
    const char* blob = reinterpret_cast<const char*>(s) + node_size_;
    const char* p = blob + nlabels_ * sizeof(std::uint32_t);
    for (std::size_t i = 0; i < nlabels_; ++i) {
      std::uint32_t len;
      std::memcpy(&len, blob + i * sizeof(std::uint32_t), sizeof len);
      out[i] = std::string_view(p, len);
      p += len;
    }
  }

 private:
  struct table {
    std::size_t mask;
    std::atomic<series_base*>* slots;
  };
  static series_base* tombstone() noexcept {
    return reinterpret_cast<series_base*>(std::uintptr_t{1});
  }

  series_base* find(std::span<const std::string_view> values, std::uint64_t h) const noexcept {
    const table* t = table_.load(std::memory_order_acquire);
    for (std::size_t i = h & t->mask;; i = (i + 1) & t->mask) {
      series_base* s = t->slots[i].load(std::memory_order_acquire);
      if (s == nullptr) return nullptr;
      if (s != tombstone() && s->hash == h && equals(s, values)) return s;
    }
  }
  bool equals(const series_base* s, std::span<const std::string_view> values) const noexcept {
    const char* blob = reinterpret_cast<const char*>(s) + node_size_;
    std::uint32_t len;
    const char* p = blob + nlabels_ * sizeof(std::uint32_t);
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::memcpy(&len, blob + i * sizeof(std::uint32_t), sizeof len);
      if (len != values[i].size() || std::memcmp(p, values[i].data(), len) != 0) return false;
      p += len;
    }
    return true;
  }

  [[noreturn]] void throw_cardinality(std::size_t got) const;
  series_base* create(std::span<const std::string_view> values, std::uint64_t h);
  // Unlinks the slots' series under mu_ (held by the caller); returns them for release().
  void unlink_locked(std::atomic<series_base*>& slot, std::vector<series_base*>& removed);
  void release(std::vector<series_base*>& removed);
  table* grow_locked(std::size_t min_live);
  std::shared_ptr<const std::vector<series_base*>> sorted() const;

  family_desc desc_;
  std::size_t nlabels_;
  std::vector<std::size_t> sort_order_;  // label indices by label name: series sort in name order
  std::size_t node_size_;
  construct_fn construct_;
  destroy_fn destroy_;
  const void* config_;

  std::atomic<table*> table_;
  mutable std::mutex mu_;
  std::size_t live_ = 0;
  std::size_t tombstones_ = 0;
  mutable std::shared_ptr<const std::vector<series_base*>> sorted_;
  mutable bool dirty_ = true;
};

template <class M>
struct series_node : series_base {
  explicit series_node(const typename M::config& c) : metric(c) {}
  M metric;
};

}  // namespace detail

template <class M>
class curried;

template <class M>
class family final : public collector {
 public:
  using metric_type_t = M;

  // Validates `opts` for M's type; throws error naming the bad field.
  explicit family(const metric_opts& opts)
      : config_(opts),
        core_(detail::make_desc(opts, M::type), sizeof(detail::series_node<M>), &construct,
              &destroy, &config_) {
    if (core_.label_count() == 0) unlabelled_ = &node(core_.get({}));
  }

  // The series for these label values (as many as label names, in their order).
  template <class... V>
    requires(std::convertible_to<const V&, std::string_view> && ...)
  M& labels(const V&... values) {
    if constexpr (sizeof...(V) == 0) {
      if (unlabelled_ != nullptr) return *unlabelled_;
    }
    const std::array<std::string_view, sizeof...(V)> v{std::string_view(values)...};
    return node(core_.get(v));
  }
  M& labels(std::span<const std::string_view> values) { return node(core_.get(values)); }
  // The series for name→value pairs in any order; every label name exactly once.
  M& with(std::initializer_list<label_pair> pairs) {
    return with(std::span<const label_pair>(pairs.begin(), pairs.size()));
  }
  M& with(std::span<const label_pair> pairs) {
    std::vector<std::string_view> v(core_.label_count());
    core_.order_values(pairs, v);
    return node(core_.get(v));
  }
  // A view with some labels fixed; its labels() takes the remaining ones in order.
  curried<M> curry(std::initializer_list<label_pair> fixed);

  // Removes one series; false if it did not exist. References to it become invalid.
  template <class... V>
    requires(std::convertible_to<const V&, std::string_view> && ...)
  bool remove(const V&... values) {
    const std::array<std::string_view, sizeof...(V)> v{std::string_view(values)...};
    return core_.remove(v);
  }
  bool remove(std::span<const std::string_view> values) { return core_.remove(values); }
  // Removes every series whose labels include all the given pairs; returns how many.
  std::size_t remove_matching(std::initializer_list<label_pair> partial) {
    return core_.remove_matching(std::span<const label_pair>(partial.begin(), partial.size()));
  }
  std::size_t remove_matching(std::span<const label_pair> partial) {
    return core_.remove_matching(partial);
  }
  // Removes every series (a family without labels cannot be cleared: its one series is the metric).
  void clear() { core_.clear(); }
  std::size_t size() const { return core_.size(); }

  const family_desc& desc() const noexcept { return core_.desc(); }
  const typename M::config& config() const noexcept { return config_; }
  detail::family_core& core() noexcept { return core_; }

  std::span<const family_desc> describe() const override { return {&core_.desc(), 1}; }
  void collect(metric_writer& out) const override {
    detail::cell_reader reader;
    out.begin_family(core_.desc());
    core_.for_each_sorted(
        [&](detail::series_base* s, label_values values) {
          static_cast<const detail::series_node<M>*>(s)->metric.collect(values, config_, reader, out);
        },
        [&](const detail::series_base* s) noexcept {
          if constexpr (requires(const M& m) { m.prefetch(reader); }) {
            static_cast<const detail::series_node<M>*>(s)->metric.prefetch(reader);
          }
        });
    out.end_family();
  }

 private:
  static detail::series_base* construct(void* memory, const void* config) {
    return new (memory) detail::series_node<M>(*static_cast<const typename M::config*>(config));
  }
  static void destroy(detail::series_base* s) {
    static_cast<detail::series_node<M>*>(s)->~series_node<M>();
  }
  static M& node(detail::series_base* s) { return static_cast<detail::series_node<M>*>(s)->metric; }

  typename M::config config_;
  detail::family_core core_;
  M* unlabelled_ = nullptr;
};

// A family with some label values fixed (client_golang's CurryWith). Cheap to copy; valid while
// the family lives.
template <class M>
class curried {
 public:
  curried(family<M>& f, std::span<const label_pair> fixed) : family_(&f) {
    const auto& names = f.desc().label_names;
    fixed_.resize(names.size());
    for (const auto& [name, value] : fixed) {
      auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) {
        throw error("cannot curry unknown label \"" + std::string(name) + "\" of metric \"" +
                    f.desc().name + "\"");
      }
      auto& slot = fixed_[static_cast<std::size_t>(it - names.begin())];
      if (slot.has_value()) {
        throw error("label \"" + std::string(name) + "\" of metric \"" + f.desc().name +
                    "\" is curried twice");
      }
      slot = std::string(value);
    }
  }

  template <class... V>
    requires(std::convertible_to<const V&, std::string_view> && ...)
  M& labels(const V&... values) {
    const std::array<std::string_view, sizeof...(V)> v{std::string_view(values)...};
    return family_->labels(std::span<const std::string_view>(merge(v)));
  }
  bool remove(std::initializer_list<std::string_view> values) {
    return family_->remove(std::span<const std::string_view>(
        merge(std::span<const std::string_view>(values.begin(), values.size()))));
  }
  // Removes every series matching the curried labels plus `partial`.
  std::size_t remove_matching(std::initializer_list<label_pair> partial) {
    std::vector<label_pair> all(partial);
    const auto& names = family_->desc().label_names;
    for (std::size_t i = 0; i < fixed_.size(); ++i) {
      if (fixed_[i]) all.emplace_back(names[i], *fixed_[i]);
    }
    return family_->remove_matching(all);
  }
  curried curry(std::initializer_list<label_pair> more) const {
    curried c = *this;
    curried extra(*family_, std::span<const label_pair>(more.begin(), more.size()));
    for (std::size_t i = 0; i < fixed_.size(); ++i) {
      if (!extra.fixed_[i]) continue;
      if (c.fixed_[i]) {
        throw error("label \"" + family_->desc().label_names[i] + "\" of metric \"" +
                    family_->desc().name + "\" is curried twice");
      }
      c.fixed_[i] = extra.fixed_[i];
    }
    return c;
  }

 private:
  std::vector<std::string_view> merge(std::span<const std::string_view> rest) const {
    std::vector<std::string_view> all(fixed_.size());
    std::size_t next = 0;
    for (std::size_t i = 0; i < fixed_.size(); ++i) {
      if (fixed_[i]) {
        all[i] = *fixed_[i];
      } else if (next < rest.size()) {
        all[i] = rest[next++];
      } else {
        ++next;  // counted below
      }
    }
    const std::size_t free_count = static_cast<std::size_t>(
        std::count(fixed_.begin(), fixed_.end(), std::nullopt));
    if (rest.size() != free_count) {
      throw error("metric \"" + family_->desc().name + "\" (curried) expects " +
                  std::to_string(free_count) + " label values but got " +
                  std::to_string(rest.size()));
    }
    return all;
  }

  family<M>* family_;
  std::vector<std::optional<std::string>> fixed_;
};

template <class M>
curried<M> family<M>::curry(std::initializer_list<label_pair> fixed) {
  return curried<M>(*this, std::span<const label_pair>(fixed.begin(), fixed.size()));
}

}  // namespace operant::metrics

// operant/metrics/registry.h — registering collectors and gathering them for a scrape.
//
// A registry checks every collector when it is registered (client_golang's rules: valid names,
// no family registered twice with the same constant label values, no two families of one name
// with different type, help or label names, no sample-name collisions such as a counter
// `foo_count` beside a histogram `foo`) and gathers all of them in name order for a scrape.
//
// Auto-registration (client_golang's promauto) creates a metric and registers it in one call:
//
//   auto& requests = operant::metrics::new_counter({.name = "myapp_http_requests_total",
//                                                    .help = "Requests served."});
//   auto& latency = operant::metrics::with(my_registry).new_histogram_family(
//       {.name = "myapp_request_duration_seconds", .help = "...", .label_names = {"route"}});
//
// Objects created this way are owned by the registry and live until unregistered or the registry
// is destroyed; the default registry lives until the process exits.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "operant/metrics/collector.h"
#include "operant/metrics/family.h"

namespace operant::metrics {

class registry final : public registerer, public gatherer {
 public:
  registry();
  ~registry() override;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  void register_collector(std::shared_ptr<collector> c) override;
  bool unregister(const collector& c) override;
  void gather(metric_writer& out) const override;

  // Gathers several registries as one (client_golang's Gatherers): families of the same name are
  // merged, and their consistency is checked as within one registry. Registries must outlive the
  // call.
  static void gather_all(std::span<const registry* const> registries, metric_writer& out);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// Merges registries for one scrape; holds pointers, so the registries must outlive it.
class gatherers final : public gatherer {
 public:
  explicit gatherers(std::vector<const registry*> registries) : registries_(std::move(registries)) {}
  void gather(metric_writer& out) const override { registry::gather_all(registries_, out); }

 private:
  std::vector<const registry*> registries_;
};

// Registers every collector into `inner` with a name prefix and/or extra constant labels
// (client_golang's WrapRegistererWithPrefix / WrapRegistererWith). Kooper's "namespace" is a
// prefix: wrap(reg, "myoperator_") exposes `controller_...` as `myoperator_controller_...`.
// Throws error at registration if an extra label clashes with a label of a wrapped family.
class wrapping_registerer final : public registerer {
 public:
  wrapping_registerer(registerer& inner, std::string prefix, labels extra_const_labels = {});
  void register_collector(std::shared_ptr<collector> c) override;
  bool unregister(const collector& c) override;

 private:
  registerer* inner_;
  std::string prefix_;
  labels extra_;
  std::mutex mu_;
  std::vector<std::pair<const collector*, std::shared_ptr<collector>>> wrapped_;
};

// A gauge, counter or untyped metric whose value a function returns at collection
// (client_golang's GaugeFunc / CounterFunc / UntypedFunc). `type` must be counter, gauge or
// unknown. The function is called from the scraping thread; an exception fails that gather.
class callback_metric final : public collector {
 public:
  callback_metric(const metric_opts& opts, metric_type type, std::function<double()> fn);
  std::span<const family_desc> describe() const override { return {&desc_, 1}; }
  void collect(metric_writer& out) const override;

 private:
  family_desc desc_;
  std::function<double()> fn_;
  double created_;
};

// The process-wide registry, with the process collector (process_cpu_seconds_total, ...) and
// operant_build_info registered. Created on first use; never destroyed.
registry& default_registry();

// Creates metrics and registers them on one registerer (client_golang's promauto.With).
class factory {
 public:
  explicit factory(registerer& r) noexcept : reg_(&r) {}

  counter& new_counter(const metric_opts& o) { return new_family<counter>(o, 0).labels(); }
  gauge& new_gauge(const metric_opts& o) { return new_family<gauge>(o, 0).labels(); }
  histogram& new_histogram(const metric_opts& o) { return new_family<histogram>(o, 0).labels(); }
  summary& new_summary(const metric_opts& o) { return new_family<summary>(o, 0).labels(); }
  family<counter>& new_counter_family(const metric_opts& o) { return new_family<counter>(o, 1); }
  family<gauge>& new_gauge_family(const metric_opts& o) { return new_family<gauge>(o, 1); }
  family<histogram>& new_histogram_family(const metric_opts& o) { return new_family<histogram>(o, 1); }
  family<summary>& new_summary_family(const metric_opts& o) { return new_family<summary>(o, 1); }
  // An info family; with no label names its one series exists at once (value 1).
  family<info>& new_info(const metric_opts& o) { return new_family<info>(o, -1); }
  callback_metric& new_gauge_func(const metric_opts& o, std::function<double()> fn);
  callback_metric& new_counter_func(const metric_opts& o, std::function<double()> fn);

  // Registers a ready-made collector and returns it (any type derived from collector).
  template <class C>
  C& add(std::shared_ptr<C> c) {
    C& ref = *c;
    reg_->register_collector(std::move(c));
    return ref;
  }

 private:
  // labelled: 0 = must have no label names, 1 = must have some, -1 = either.
  template <class M>
  family<M>& new_family(const metric_opts& o, int labelled) {
    check_labels(o, labelled);
    return add(std::make_shared<family<M>>(o));
  }
  static void check_labels(const metric_opts& o, int labelled);
  registerer* reg_;
};

inline factory with(registerer& r) noexcept { return factory(r); }

// promauto's top-level functions: create and register on the default registry.
counter& new_counter(const metric_opts& o);
gauge& new_gauge(const metric_opts& o);
histogram& new_histogram(const metric_opts& o);
summary& new_summary(const metric_opts& o);
family<counter>& new_counter_family(const metric_opts& o);
family<gauge>& new_gauge_family(const metric_opts& o);
family<histogram>& new_histogram_family(const metric_opts& o);
family<summary>& new_summary_family(const metric_opts& o);
family<info>& new_info(const metric_opts& o);
callback_metric& new_gauge_func(const metric_opts& o, std::function<double()> fn);
callback_metric& new_counter_func(const metric_opts& o, std::function<double()> fn);

}  // namespace operant::metrics

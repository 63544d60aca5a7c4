// operant/metrics/detail/exemplars.h — the latest exemplar per counter or histogram bucket
// (internal). Allocated on the first exemplar, so metrics without exemplars pay one null pointer.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "operant/metrics/types.h"

namespace operant::metrics::detail {

class exemplar_store {
 public:
  explicit exemplar_store(std::size_t slots) : slots_(slots) {}
  void set(std::size_t i, exemplar e) {
    std::lock_guard lock(mu_);
    slots_[i] = std::move(e);
  }
  // Copies the current exemplars into `out` (resized to the slot count).
  void copy(std::vector<std::optional<exemplar>>& out) const {
    std::lock_guard lock(mu_);
    out = slots_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::optional<exemplar>> slots_;
};

// A lazily created exemplar_store.
class exemplar_slot {
 public:
  exemplar_slot() = default;
  exemplar_slot(const exemplar_slot&) = delete;
  exemplar_slot& operator=(const exemplar_slot&) = delete;
  ~exemplar_slot() { delete store_.load(std::memory_order_acquire); }

  exemplar_store& get(std::size_t slots) {
    exemplar_store* s = store_.load(std::memory_order_acquire);
    if (s != nullptr) return *s;
    auto fresh = std::make_unique<exemplar_store>(slots);
    if (store_.compare_exchange_strong(s, fresh.get(), std::memory_order_acq_rel)) {
      return *fresh.release();
    }
    return *s;
  }
  const exemplar_store* find() const noexcept { return store_.load(std::memory_order_acquire); }

 private:
  std::atomic<exemplar_store*> store_{nullptr};
};

// Builds a validated exemplar stamped with the current time.
exemplar make_exemplar(double value, labels l);

}  // namespace operant::metrics::detail

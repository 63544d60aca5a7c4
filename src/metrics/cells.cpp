#include "operant/metrics/detail/cells.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>

namespace operant::metrics::detail {

constinit thread_local thread_cells* tls_cells __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

bool register_membarrier() noexcept {
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

template <class T>
T* zeroed_array(std::size_t n) {
  // calloc, not new[]: large zero allocations come from fresh mmap pages that cost no resident
  // memory until touched. std::atomic of a pointer or integer has the same representation.
  void* p = std::calloc(n, sizeof(T));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<T*>(p);
}

thread_cells* new_record() {
  auto* t = new thread_cells;
  t->pages = zeroed_array<std::atomic<cell*>>(max_pages);
  return t;
}

// Process-wide state. Leaked on purpose: threads (and static destructors) may still touch metrics
// after main returns.
struct arena_state {
  std::shared_mutex threads_mu;  // shared: readers; exclusive: threads joining or leaving
  std::vector<thread_cells*> threads;
  thread_cells* retired = new_record();

  std::mutex alloc_mu;  // after threads_mu in lock order
  std::uint32_t bump = 0;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> free_lists;
  std::vector<std::uint64_t> double_bits;  // one bit a cell

  bool is_double(std::uint32_t slot) const {
    const std::size_t w = slot / 64;
    return w < double_bits.size() && ((double_bits[w] >> (slot % 64)) & 1u) != 0;
  }
  void set_double(std::uint32_t slot, bool on) {
    const std::size_t w = slot / 64;
    if (w >= double_bits.size()) double_bits.resize(w + 1, 0);
    if (on) {
      double_bits[w] |= std::uint64_t{1} << (slot % 64);
    } else {
      double_bits[w] &= ~(std::uint64_t{1} << (slot % 64));
    }
  }
};

arena_state& arena() {
  static arena_state* s = new arena_state;
  return *s;
}

cell* page_of(thread_cells* t, std::uint32_t page_index, bool create) {
  cell* page = t->pages[page_index].load(std::memory_order_acquire);
  if (page == nullptr && create) {
    page = zeroed_array<cell>(page_cells);
    t->pages[page_index].store(page, std::memory_order_release);
  }
  return page;
}

// Folds an exiting thread's cells into the retired arena and frees them, so the totals a scrape
// sees never change when a thread exits.
void retire(thread_cells* t) {
  arena_state& a = arena();
  std::unique_lock threads_lock(a.threads_mu);
  std::erase(a.threads, t);
  std::lock_guard alloc_lock(a.alloc_mu);
  for (std::uint32_t p = 0; p < max_pages; ++p) {
    cell* page = t->pages[p].load(std::memory_order_relaxed);
    if (page == nullptr) continue;
    cell* into = nullptr;
    for (std::uint32_t i = 0; i < page_cells; ++i) {
      const std::uint64_t v = page[i].load(std::memory_order_relaxed);
      if (v == 0) continue;
      if (into == nullptr) into = page_of(a.retired, p, true);
      const std::uint32_t slot = (p << page_bits) | i;
      if (a.is_double(slot)) {
        cell_add_double(&into[i], std::bit_cast<double>(v));
      } else {
        cell_add(&into[i], v);
      }
    }
    std::free(page);
  }
  std::free(t->pages);
  delete t;
}

struct exit_guard {
  bool armed = false;
  ~exit_guard() {
    if (!armed || tls_cells == nullptr) return;
    thread_cells* t = tls_cells;
    tls_cells = nullptr;
    retire(t);
  }
};
thread_local exit_guard t_exit_guard;
thread_local bool t_exiting = false;

}  // namespace

constinit std::atomic<bool> g_membarrier{false};

namespace {
void ensure_membarrier() {
  static const bool registered = [] {
    const bool ok = register_membarrier();
    g_membarrier.store(ok, std::memory_order_relaxed);
    return ok;
  }();
  (void)registered;
}
}  // namespace

thread_cells* thread_record_slow() {
  if (tls_cells != nullptr) return tls_cells;
  ensure_membarrier();
  thread_cells* t = new_record();
  {
    arena_state& a = arena();
    std::unique_lock lock(a.threads_mu);
    a.threads.push_back(t);
  }
  tls_cells = t;
  if (!t_exiting) {
    // A metric touched from a thread_local destructor that runs after our guard's gets a record
    // that is never retired: it stays readable forever rather than losing the update.
    t_exit_guard.armed = true;
    t_exiting = true;  // the guard is registered once; later records (during exit) stay live
  }
  return t;
}

cell* cell_slow(std::uint32_t slot) {
  thread_cells* t = tls_cells != nullptr ? tls_cells : thread_record_slow();
  return page_of(t, slot >> page_bits, true) + (slot & (page_cells - 1));
}

std::uint32_t allocate_cells(std::uint32_t n, std::uint32_t double_cell) {
  if (n == 0 || n > page_cells) {
    throw std::length_error("a metric needs 1 to " + std::to_string(page_cells) +
                            " cells; asked for " + std::to_string(n));
  }
  arena_state& a = arena();
  std::lock_guard lock(a.alloc_mu);
  std::uint32_t first;
  auto it = a.free_lists.find(n);
  if (it != a.free_lists.end() && !it->second.empty()) {
    first = it->second.back();
    it->second.pop_back();
  } else {
    if ((a.bump & (page_cells - 1)) + n > page_cells) {
      a.bump = (a.bump | (page_cells - 1)) + 1;  // next page: ranges never straddle pages
    }
    if (static_cast<std::uint64_t>(a.bump) + n > std::uint64_t{max_pages} * page_cells) {
      throw std::length_error("operant metrics: cell arena exhausted (" +
                              std::to_string(std::uint64_t{max_pages} * page_cells) + " cells)");
    }
    first = a.bump;
    a.bump += n;
  }
  if (double_cell < n) a.set_double(first + double_cell, true);
  return first;
}

void free_cells(std::uint32_t first, std::uint32_t n) noexcept {
  arena_state& a = arena();
  std::shared_lock threads_lock(a.threads_mu);
  std::lock_guard alloc_lock(a.alloc_mu);
  auto zero = [&](thread_cells* t) {
    cell* page = t->pages[first >> page_bits].load(std::memory_order_acquire);
    if (page == nullptr) return;
    for (std::uint32_t i = 0; i < n; ++i) {
      page[(first & (page_cells - 1)) + i].store(0, std::memory_order_relaxed);
    }
  };
  for (thread_cells* t : a.threads) zero(t);
  zero(a.retired);
  for (std::uint32_t i = 0; i < n; ++i) a.set_double(first + i, false);
  try {
    a.free_lists[n].push_back(first);
  } catch (...) {
    // Out of memory while recording a free range: the cells are leaked, never reused wrongly.
  }
}

cell_reader::cell_reader() {
  // Register this thread first: a collection enters RCU read sections, and registering while we
  // hold the shared lock would wait for ourselves (the scraping thread often never wrote a metric).
  if (tls_cells == nullptr) thread_record_slow();
  arena_state& a = arena();
  a.threads_mu.lock_shared();
  threads_.reserve(a.threads.size() + 1);
  threads_.push_back(a.retired);
  threads_.insert(threads_.end(), a.threads.begin(), a.threads.end());
}

cell_reader::~cell_reader() { arena().threads_mu.unlock_shared(); }

std::uint64_t cell_reader::u64(std::uint32_t slot) const noexcept {
  std::uint64_t sum = 0;
  for (thread_cells* t : threads_) {
    const cell* page = t->pages[slot >> page_bits].load(std::memory_order_acquire);
    if (page != nullptr) sum += page[slot & (page_cells - 1)].load(std::memory_order_relaxed);
  }
  return sum;
}

double cell_reader::f64(std::uint32_t slot) const noexcept {
  double sum = 0;
  for (thread_cells* t : threads_) {
    const cell* page = t->pages[slot >> page_bits].load(std::memory_order_acquire);
    if (page != nullptr) {
      sum += std::bit_cast<double>(page[slot & (page_cells - 1)].load(std::memory_order_relaxed));
    }
  }
  return sum;
}

void cell_reader::u64_f64(std::uint32_t slot, std::uint64_t& whole, double& fraction) const noexcept {
  std::uint64_t w = 0;
  double f = 0;
  for (thread_cells* t : threads_) {
    const cell* page = t->pages[slot >> page_bits].load(std::memory_order_acquire);
    if (page == nullptr) continue;
    const cell* c = page + (slot & (page_cells - 1));
    w += c[0].load(std::memory_order_relaxed);
    // A counter's cells never straddle a page (allocate_cells keeps a range within one page).
    f += std::bit_cast<double>(c[1].load(std::memory_order_relaxed));
  }
  whole = w;
  fraction = f;
}

void cell_reader::u64_range(std::uint32_t first, std::uint32_t n, std::uint64_t* out) const noexcept {
  for (std::uint32_t i = 0; i < n; ++i) out[i] = 0;
  for (thread_cells* t : threads_) {
    const cell* page = t->pages[first >> page_bits].load(std::memory_order_acquire);
    if (page == nullptr) continue;
    const cell* c = page + (first & (page_cells - 1));
    for (std::uint32_t i = 0; i < n; ++i) out[i] += c[i].load(std::memory_order_relaxed);
  }
}

void rcu_synchronize() noexcept {
  // Through the synchronised initialiser: a writer must not see false where readers saw true.
  ensure_membarrier();
  if (g_membarrier.load(std::memory_order_relaxed)) {
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  } else {
    full_fence();
  }
  arena_state& a = arena();
  std::shared_lock lock(a.threads_mu);
  for (thread_cells* t : a.threads) {
    if (t == tls_cells) continue;  // our own read section, if any, is the caller's business
    const std::uint64_t s = t->rcu_state.load(std::memory_order_acquire);
    if ((s & 1u) == 0) continue;
    for (unsigned spins = 0; t->rcu_state.load(std::memory_order_acquire) == s; ++spins) {
      if (spins > 64) std::this_thread::yield();
    }
  }
}

std::size_t live_thread_count() {
  arena_state& a = arena();
  std::shared_lock lock(a.threads_mu);
  return a.threads.size();
}

}  // namespace operant::metrics::detail

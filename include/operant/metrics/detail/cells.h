// operant/metrics/detail/cells.h — where counter and histogram values live (internal).
//
// Why: an atomic read-modify-write costs ~6 ns even uncontended and far more when two cores share
// a cache line; client_golang and prometheus-cpp pay it on every increment. Here every thread owns
// a private arena of 64-bit cells and is the only writer of its cells, so an increment is a relaxed
// load and store to memory no other core writes. A scrape sums a slot across all threads (plus the
// cells of threads that have exited, folded into a "retired" arena under an exclusive lock).
//
// A metric owns a *slot range* of cells: a counter two (an integer part and a double part), a
// histogram one per bucket plus one for the sum. Ranges never straddle a page, so a metric's cells
// are found with one page lookup.
//
// The same per-thread record carries a read-side RCU state used by labelled families for lock-free
// lookups: readers mark entry and exit with plain stores; a writer that unlinks an object calls
// rcu_synchronize(), which issues membarrier(2) (a process-wide barrier, so readers need no fence)
// and waits for every reader that was inside a read section to leave it.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

// Whether this translation unit is built with ThreadSanitizer / AddressSanitizer (GCC defines
// __SANITIZE_*__, clang answers __has_feature).
#if defined(__SANITIZE_THREAD__)
#define OPERANT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OPERANT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define OPERANT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OPERANT_ASAN 1
#endif
#endif

namespace operant::metrics::detail {

inline constexpr std::uint32_t page_bits = 10;
inline constexpr std::uint32_t page_cells = 1u << page_bits;  // 1024 cells = 8 KiB a page
inline constexpr std::uint32_t max_pages = 1u << 16;           // 64M cells in all

using cell = std::atomic<std::uint64_t>;

struct thread_cells {
  // max_pages entries, zero-filled by calloc so untouched parts of the table cost no memory.
  std::atomic<cell*>* pages = nullptr;
  // RCU: odd while this thread is inside a read section. Written only by the owner.
  std::atomic<std::uint64_t> rcu_state{0};
  std::uint32_t rcu_depth = 0;  // owner only
};

// The calling thread's arena, or nullptr before its first use. initial-exec: one %fs-relative
// load even when operant is built as a shared library.
extern constinit thread_local thread_cells* tls_cells __attribute__((tls_model("initial-exec")));

// Slow path: creates the thread's record and/or the page holding `slot`; returns the cell.
cell* cell_slow(std::uint32_t slot);
thread_cells* thread_record_slow();
// True once membarrier(2) is registered (on the first thread's registration, so metrics created
// by static initialisers in any order are safe). While false, readers fence: either way is correct.
extern constinit std::atomic<bool> g_membarrier;

// A sequentially consistent fence. ThreadSanitizer does not model fences, so under TSan a
// seq_cst read-modify-write on a shared word stands in for it.
inline void full_fence() noexcept {
#if defined(OPERANT_TSAN)
  static std::atomic<unsigned> word{0};
  word.fetch_add(1, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline cell* cell_at(std::uint32_t slot) noexcept {
  thread_cells* t = tls_cells;
  if (t != nullptr) [[likely]] {
    cell* page = t->pages[slot >> page_bits].load(std::memory_order_relaxed);
    if (page != nullptr) [[likely]] return page + (slot & (page_cells - 1));
  }
  return cell_slow(slot);
}

// Single-writer updates: a plain load and store, no lock prefix. On x86-64 the integer add is
// one memory-destination `add` (no lock prefix either): the same single aligned 8-byte store that
// readers' relaxed loads see whole, but a shorter store-to-load dependency between consecutive
// increments on CPUs without memory renaming (AMD Zen 1: 2.9 ns instead of 3.3 ns). Sanitizer
// builds keep the C++ atomics so ThreadSanitizer sees every write.
inline void cell_add(cell* c, std::uint64_t n) noexcept {
#if defined(__x86_64__) && !defined(OPERANT_TSAN) && !defined(OPERANT_ASAN)
  static_assert(sizeof(cell) == sizeof(std::uint64_t) && alignof(cell) == alignof(std::uint64_t));
  asm volatile("addq %1, %0" : "+m"(*reinterpret_cast<std::uint64_t*>(c)) : "er"(n));
#else
  c->store(c->load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#endif
}
inline void cell_add_double(cell* c, double v) noexcept {
  const double cur = std::bit_cast<double>(c->load(std::memory_order_relaxed));
  c->store(std::bit_cast<std::uint64_t>(cur + v), std::memory_order_relaxed);
}

// Allocates `n` (1..page_cells) contiguous cells, zero in every thread. Cell `double_cell` of the
// range holds a double (summed as a double when a thread exits); the others hold integers. Pass
// no_double_cell if none does. Throws std::length_error when the arena is exhausted.
inline constexpr std::uint32_t no_double_cell = ~std::uint32_t{0};
std::uint32_t allocate_cells(std::uint32_t n, std::uint32_t double_cell);
// Returns cells to the allocator; they are zeroed in every thread first. The caller guarantees
// no thread writes them any more.
void free_cells(std::uint32_t first, std::uint32_t n) noexcept;

// Reads cells summed over all threads. Holds the thread registry's shared lock for its lifetime, so
// threads exiting meanwhile wait; keep it for one collection, not longer.
class cell_reader {
 public:
  cell_reader();
  ~cell_reader();
  cell_reader(const cell_reader&) = delete;
  cell_reader& operator=(const cell_reader&) = delete;
  std::uint64_t u64(std::uint32_t slot) const noexcept;
  double f64(std::uint32_t slot) const noexcept;
  // Sums cell `slot` as an integer and cell `slot + 1` as a double (a counter's two parts) in one
  // pass over the threads.
  void u64_f64(std::uint32_t slot, std::uint64_t& whole, double& fraction) const noexcept;
  // Sums cells [first, first + n) into out[0..n) as integers.
  void u64_range(std::uint32_t first, std::uint32_t n, std::uint64_t* out) const noexcept;
  // Asks the CPU to start loading cells [first, first + n) of every thread, for a read a few
  // series later. A hint only: no effect on what is read. n is at most page_cells.
  void prefetch(std::uint32_t first, std::uint32_t n) const noexcept {
    for (thread_cells* t : threads_) {
      const cell* page = t->pages[first >> page_bits].load(std::memory_order_relaxed);
      if (page == nullptr) continue;
      const char* p = reinterpret_cast<const char*>(page + (first & (page_cells - 1)));
      const char* end = reinterpret_cast<const char*>(page + (first & (page_cells - 1)) + n);
      for (; p < end; p += 64) __builtin_prefetch(p);
      __builtin_prefetch(end - 1);
    }
  }

 private:
  std::vector<thread_cells*> threads_;  // including the retired arena
};

// RCU read side. Nestable. Readers inside a section may not call rcu_synchronize.
inline void rcu_enter() noexcept {
  thread_cells* t = tls_cells;
  if (t == nullptr) [[unlikely]] t = thread_record_slow();
  if (t->rcu_depth++ == 0) {
    t->rcu_state.store(t->rcu_state.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (g_membarrier.load(std::memory_order_relaxed)) [[likely]] {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      full_fence();
    }
  }
}
inline void rcu_exit() noexcept {
  thread_cells* t = tls_cells;
  if (--t->rcu_depth == 0) {
    t->rcu_state.store(t->rcu_state.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
}
struct rcu_guard {
  rcu_guard() noexcept { rcu_enter(); }
  ~rcu_guard() { rcu_exit(); }
  rcu_guard(const rcu_guard&) = delete;
  rcu_guard& operator=(const rcu_guard&) = delete;
};

// Waits until every read section that began before the call has ended. After it returns, objects
// unlinked before the call may be freed.
void rcu_synchronize() noexcept;

// Number of threads with a live arena (for tests and the memory figures).
std::size_t live_thread_count();

}  // namespace operant::metrics::detail

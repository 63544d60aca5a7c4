#include "operant/metrics/family.h"
#include "message.h"

#include <cstdlib>
#include <new>

namespace operant::metrics::detail {

namespace {

// wyhash-style multiply-fold: two 64-bit words a step, so short label values hash in a few
// cycles (FNV-1a, client_golang's choice, works a byte at a time).
__extension__ typedef unsigned __int128 u128;
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint64_t load32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// 1..3 bytes without a variable-length copy (wyhash's _wyr3).
inline std::uint64_t load_1_3(const char* p, std::size_t n) noexcept {
  return (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
         (std::uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8) |
         static_cast<unsigned char>(p[n - 1]);
}
constexpr std::uint64_t k0 = 0xa0761d6478bd642full;
constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbull;
constexpr std::uint64_t k2 = 0x8ebc6af09c88c6e3ull;

using detail::quoted;

}  // namespace

std::uint64_t hash_label_values(std::span<const std::string_view> values) noexcept {
  std::uint64_t h = k0 ^ values.size();
  for (std::string_view v : values) {
    const char* p = v.data();
    std::size_t n = v.size();
    std::uint64_t a = 0, b = 0;
    if (n <= 16) {
      // Overlapping fixed-width loads (wyhash): no byte-wise copy through the stack, whose
      // narrow stores followed by a wide load defeat store-to-load forwarding.
      if (n >= 4) {
        const std::size_t off = (n >> 3) << 2;
        a = (load32(p) << 32) | load32(p + off);
        b = (load32(p + n - 4) << 32) | load32(p + n - 4 - off);
      } else if (n > 0) {
        a = load_1_3(p, n);
      }
    } else {
      while (n > 16) {
        h = mum(load64(p) ^ k1 ^ h, load64(p + 8) ^ k2);
        p += 16;
        n -= 16;
      }
      a = load64(p + n - 16);
      b = load64(p + n - 8);
    }
    h = mum(a ^ k1 ^ h, b ^ k2 ^ v.size());
  }
  return mum(h ^ k0, k1);
}

family_desc make_desc(const metric_opts& opts, metric_type type) {
  family_desc d;
  d.name = build_fq_name(opts.ns, opts.subsystem, opts.name);
  d.help = opts.help;
  d.type = type;
  d.unit = opts.unit;
  d.label_names = opts.label_names;
  d.const_labels = opts.const_labels;
  validate_desc(d);
  if (d.help.empty()) {
    throw error("metric " + quoted(d.name) + " has no help text; help is required");
  }
  if (type != metric_type::histogram && !opts.buckets.empty()) {
    throw error("metric " + quoted(d.name) + " is a " + std::string(to_string(type)) +
                "; buckets apply to histograms only");
  }
  if (type != metric_type::summary && !opts.objectives.empty()) {
    throw error("metric " + quoted(d.name) + " is a " + std::string(to_string(type)) +
                "; objectives apply to summaries only");
  }
  return d;
}

family_core::family_core(family_desc desc, std::size_t node_size, construct_fn construct,
                         destroy_fn destroy, const void* config)
    : desc_(std::move(desc)),
      nlabels_(desc_.label_names.size()),
      node_size_((node_size + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1)),
      construct_(construct),
      destroy_(destroy),
      config_(config) {
  sort_order_.resize(nlabels_);
  for (std::size_t i = 0; i < nlabels_; ++i) sort_order_[i] = i;
  std::sort(sort_order_.begin(), sort_order_.end(), [&](std::size_t a, std::size_t b) {
    return desc_.label_names[a] < desc_.label_names[b];
  });
  auto* t = new table{7, nullptr};
  t->slots = static_cast<std::atomic<series_base*>*>(std::calloc(8, sizeof(std::atomic<series_base*>)));
  if (t->slots == nullptr) {
    delete t;
    throw std::bad_alloc();
  }
  table_.store(t, std::memory_order_relaxed);
}

family_core::~family_core() {
  table* t = table_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i <= t->mask; ++i) {
    series_base* s = t->slots[i].load(std::memory_order_relaxed);
    if (s != nullptr && s != tombstone()) {
      destroy_(s);
      ::operator delete(s);
    }
  }
  std::free(t->slots);
  delete t;
}

void family_core::throw_cardinality(std::size_t got) const {
  throw error("metric " + quoted(desc_.name) + " expects " + std::to_string(nlabels_) +
              " label values but got " + std::to_string(got));
}

void family_core::order_values(std::span<const label_pair> pairs,
                               std::span<std::string_view> out) const {
  std::vector<bool> set(nlabels_, false);
  for (const auto& [name, value] : pairs) {
    auto it = std::find(desc_.label_names.begin(), desc_.label_names.end(), name);
    if (it == desc_.label_names.end()) {
      throw error("metric " + quoted(desc_.name) + " has no label " + quoted(name));
    }
    const auto i = static_cast<std::size_t>(it - desc_.label_names.begin());
    if (set[i]) throw error("label " + quoted(name) + " given twice for metric " + quoted(desc_.name));
    set[i] = true;
    out[i] = value;
  }
  for (std::size_t i = 0; i < nlabels_; ++i) {
    if (!set[i]) {
      throw error("metric " + quoted(desc_.name) + " needs a value for label " +
                  quoted(desc_.label_names[i]));
    }
  }
}

family_core::table* family_core::grow_locked(std::size_t min_live) {
  std::size_t cap = 8;
  while (cap * 3 < min_live * 4 + 4) cap *= 2;  // load factor at most 3/4 after insert
  auto* t = new table{cap - 1, nullptr};
  t->slots = static_cast<std::atomic<series_base*>*>(std::calloc(cap, sizeof(std::atomic<series_base*>)));
  if (t->slots == nullptr) {
    delete t;
    throw std::bad_alloc();
  }
  table* old = table_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i <= old->mask; ++i) {
    series_base* s = old->slots[i].load(std::memory_order_relaxed);
    if (s == nullptr || s == tombstone()) continue;
    std::size_t j = s->hash & t->mask;
    while (t->slots[j].load(std::memory_order_relaxed) != nullptr) j = (j + 1) & t->mask;
    t->slots[j].store(s, std::memory_order_relaxed);
  }
  tombstones_ = 0;
  table_.store(t, std::memory_order_release);
  return old;
}

series_base* family_core::create(std::span<const std::string_view> values, std::uint64_t h) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!is_valid_utf8(values[i])) {
      throw error("value of label " + quoted(desc_.label_names[i]) + " for metric " +
                  quoted(desc_.name) + " is not valid UTF-8");
    }
  }
  table* retired = nullptr;
  series_base* result;
  {
    std::lock_guard lock(mu_);
    if (series_base* s = find(values, h)) return s;  // created meanwhile
    std::size_t blob = nlabels_ * sizeof(std::uint32_t);
    for (std::string_view v : values) blob += v.size();
    void* memory = ::operator new(node_size_ + blob);
    series_base* s;
    try {
      s = construct_(memory, config_);
    } catch (...) {
      ::operator delete(memory);
      throw;
    }
    s->hash = h;
    char* b = static_cast<char*>(memory) + node_size_;
    char* p = b + nlabels_ * sizeof(std::uint32_t);
    for (std::size_t i = 0; i < nlabels_; ++i) {
      const auto len = static_cast<std::uint32_t>(values[i].size());
      std::memcpy(b + i * sizeof(std::uint32_t), &len, sizeof len);
      if (len != 0) std::memcpy(p, values[i].data(), len);
      p += len;
    }
    table* t = table_.load(std::memory_order_relaxed);
    if ((live_ + tombstones_ + 1) * 4 > (t->mask + 1) * 3) {
      retired = grow_locked(live_ + 1);
      t = table_.load(std::memory_order_relaxed);
    }
    std::size_t i = h & t->mask;
    for (;; i = (i + 1) & t->mask) {
      series_base* cur = t->slots[i].load(std::memory_order_relaxed);
      if (cur == nullptr) break;
      if (cur == tombstone()) {
        --tombstones_;
        break;
      }
    }
    t->slots[i].store(s, std::memory_order_release);
    ++live_;
    dirty_ = true;
    result = s;
  }
  if (retired != nullptr) {
    rcu_synchronize();  // readers may still probe the old table
    std::free(retired->slots);
    delete retired;
  }
  return result;
}

void family_core::unlink_locked(std::atomic<series_base*>& slot, std::vector<series_base*>& removed) {
  removed.push_back(slot.load(std::memory_order_relaxed));
  slot.store(tombstone(), std::memory_order_release);
  --live_;
  ++tombstones_;
  dirty_ = true;
}

void family_core::release(std::vector<series_base*>& removed) {
  if (removed.empty()) return;
  rcu_synchronize();  // lookups and collections that saw them have finished
  for (series_base* s : removed) {
    destroy_(s);
    ::operator delete(s);
  }
}

bool family_core::remove(std::span<const std::string_view> values) {
  if (values.size() != nlabels_) throw_cardinality(values.size());
  if (nlabels_ == 0) throw error("metric " + quoted(desc_.name) + " has no labels; nothing to remove");
  const std::uint64_t h = hash_label_values(values);
  std::vector<series_base*> removed;
  {
    std::lock_guard lock(mu_);
    table* t = table_.load(std::memory_order_relaxed);
    for (std::size_t i = h & t->mask;; i = (i + 1) & t->mask) {
      series_base* s = t->slots[i].load(std::memory_order_relaxed);
      if (s == nullptr) break;
      if (s != tombstone() && s->hash == h && equals(s, values)) {
        unlink_locked(t->slots[i], removed);
        break;
      }
    }
  }
  release(removed);
  return !removed.empty();
}

std::size_t family_core::remove_matching(std::span<const label_pair> partial) {
  if (nlabels_ == 0) throw error("metric " + quoted(desc_.name) + " has no labels; nothing to remove");
  std::vector<std::pair<std::size_t, std::string_view>> want;
  for (const auto& [name, value] : partial) {
    auto it = std::find(desc_.label_names.begin(), desc_.label_names.end(), name);
    if (it == desc_.label_names.end()) {
      throw error("metric " + quoted(desc_.name) + " has no label " + quoted(name));
    }
    want.emplace_back(static_cast<std::size_t>(it - desc_.label_names.begin()), value);
  }
  std::vector<series_base*> removed;
  std::vector<std::string_view> values(nlabels_);
  {
    std::lock_guard lock(mu_);
    table* t = table_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i <= t->mask; ++i) {
      series_base* s = t->slots[i].load(std::memory_order_relaxed);
      if (s == nullptr || s == tombstone()) continue;
      fill_values(s, values);
      if (std::all_of(want.begin(), want.end(),
                      [&](const auto& w) { return values[w.first] == w.second; })) {
        unlink_locked(t->slots[i], removed);
      }
    }
  }
  release(removed);
  return removed.size();
}

void family_core::clear() {
  if (nlabels_ == 0) throw error("metric " + quoted(desc_.name) + " has no labels; nothing to clear");
  remove_matching({});
}

std::size_t family_core::size() const {
  std::lock_guard lock(mu_);
  return live_;
}

std::shared_ptr<const std::vector<series_base*>> family_core::sorted() const {
  std::lock_guard lock(mu_);
  if (!dirty_ && sorted_) return sorted_;
  auto v = std::make_shared<std::vector<series_base*>>();
  v->reserve(live_);
  const table* t = table_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i <= t->mask; ++i) {
    series_base* s = t->slots[i].load(std::memory_order_relaxed);
    if (s != nullptr && s != tombstone()) v->push_back(s);
  }
  if (nlabels_ > 0) {
    std::vector<std::string_view> a(nlabels_), b(nlabels_);
    std::sort(v->begin(), v->end(), [&](const series_base* x, const series_base* y) {
      fill_values(x, a);
      fill_values(y, b);
      for (std::size_t i : sort_order_) {
        if (a[i] != b[i]) return a[i] < b[i];
      }
      return false;
    });
  }
  sorted_ = std::move(v);
  dirty_ = false;
  return sorted_;
}

}  // namespace operant::metrics::detail

#include "operant/metrics/registry.h"
#include "message.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>

#include "operant/metrics/process_collector.h"
#include "operant/metrics/snapshot.h"

#ifndef OPERANT_VERSION
#define OPERANT_VERSION "unknown"
#endif

namespace operant::metrics {

namespace {

using detail::quoted;

std::string render_labels(const labels& l) {
  std::string out = "{";
  for (const auto& [n, v] : l) {
    if (out.size() > 1) out += ", ";
    out += n + "=" + quoted(v);
  }
  return out + "}";
}

// The names a family claims in either format (samples, and OpenMetrics family names, which drop
// a counter's _total), for collision checks.
std::vector<std::string> sample_names(const family_desc& d) {
  switch (d.type) {
    case metric_type::histogram:
      return {d.name + "_bucket", d.name + "_count", d.name + "_sum", d.name + "_created", d.name};
    case metric_type::summary:
      return {d.name, d.name + "_count", d.name + "_sum", d.name + "_created"};
    case metric_type::info: return {d.name + "_info", d.name};
    case metric_type::counter:
      if (d.name.size() > 6 && d.name.ends_with("_total")) {
        const std::string base = d.name.substr(0, d.name.size() - 6);
        return {d.name, base, base + "_created"};
      }
      return {d.name};
    default: return {d.name};
  }
}

// Adds d's names to `claimed`; throws if another family already claims one of them.
void claim_names(const family_desc& d, std::map<std::string, std::string>& claimed) {
  for (const std::string& s : sample_names(d)) {
    auto [it, inserted] = claimed.emplace(s, d.name);
    if (!inserted && it->second != d.name) {
      throw error("family \"" + d.name + "\" would expose samples named \"" + s + "\", which family \"" +
                  it->second + "\" already exposes");
    }
  }
}

std::vector<std::string> sorted_names(const family_desc& d) {
  std::vector<std::string> names = d.label_names;
  for (const auto& l : d.const_labels) names.push_back(l.name);
  std::sort(names.begin(), names.end());
  return names;
}

// Checks that two families of one name can be exposed together.
void check_compatible(const family_desc& a, const family_desc& b, const char* when) {
  if (a.type != b.type) {
    throw error(std::string(when) + " family " + quoted(a.name) + " as a " +
                std::string(to_string(a.type)) + ", but it is already a " +
                std::string(to_string(b.type)));
  }
  if (a.help != b.help) {
    throw error(std::string(when) + " family " + quoted(a.name) + " with help " + quoted(a.help) +
                ", but it already has help " + quoted(b.help));
  }
  if (sorted_names(a) != sorted_names(b) || a.unit != b.unit) {
    throw error(std::string(when) + " family " + quoted(a.name) +
                " with different label names or unit than the family already there");
  }
}

double unix_now() noexcept {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct registry::state {
  mutable std::mutex mu;
  std::vector<std::shared_ptr<collector>> collectors;
  struct registered {
    family_desc desc;
    const collector* owner;
  };
  std::multimap<std::string, registered> by_name;
  std::map<std::string, std::string> samples;  // sample name -> family name
};

registry::registry() : state_(std::make_unique<state>()) {}
registry::~registry() = default;

void registry::register_collector(std::shared_ptr<collector> c) {
  if (c == nullptr) throw error("cannot register a null collector");
  std::vector<family_desc> descs;
  for (const family_desc& d : c->describe()) {
    family_desc copy = d;
    try {
      validate_desc(copy);
    } catch (const error& e) {
      throw error("descriptor " + quoted(d.name) + " is invalid: " + e.what());
    }
    descs.push_back(std::move(copy));
  }
  std::lock_guard lock(state_->mu);
  for (const auto& existing : state_->collectors) {
    if (existing == c) throw already_registered_error("collector is already registered", existing);
  }
  std::map<std::string, std::string> new_samples = state_->samples;
  std::string duplicate;  // the first family this collector describes that is already there
  const collector* duplicate_owner = nullptr;
  for (std::size_t i = 0; i < descs.size(); ++i) {
    const family_desc& d = descs[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (descs[j].name != d.name) continue;
      if (descs[j].const_labels == d.const_labels) {
        throw error("collector describes family " + quoted(d.name) + " twice");
      }
      check_compatible(d, descs[j], "cannot register");
    }
    auto [lo, hi] = state_->by_name.equal_range(d.name);
    for (auto it = lo; it != hi; ++it) {
      check_compatible(d, it->second.desc, "cannot register");
      if (it->second.desc.const_labels == d.const_labels && duplicate.empty()) {
        duplicate = "family " + quoted(d.name) + " with constant labels " +
                    render_labels(d.const_labels) + " is already registered";
        duplicate_owner = it->second.owner;
      }
    }
    if (duplicate.empty()) claim_names(d, new_samples);
  }
  if (!duplicate.empty()) {
    // client_golang: a collector describing exactly the families (names and constant labels) of
    // one already registered is that collector again: AlreadyRegisteredError with the existing
    // one, so that a second user can share it.
    const auto owner = std::find_if(state_->collectors.begin(), state_->collectors.end(),
                                    [&](const auto& x) { return x.get() == duplicate_owner; });
    const auto key = [](const family_desc& d) { return std::make_pair(d.name, d.const_labels); };
    std::vector<std::pair<std::string, labels>> mine, theirs;
    for (const auto& d : descs) mine.push_back(key(d));
    if (owner != state_->collectors.end()) {
      for (const auto& d : (*owner)->describe()) theirs.push_back(key(d));
    }
    std::sort(mine.begin(), mine.end());
    std::sort(theirs.begin(), theirs.end());
    if (owner != state_->collectors.end() && mine == theirs) {
      throw already_registered_error(duplicate, *owner);
    }
    throw error(duplicate);
  }
  for (auto& d : descs) {
    std::string name = d.name;
    state_->by_name.emplace(std::move(name), state::registered{std::move(d), c.get()});
  }
  state_->samples = std::move(new_samples);
  state_->collectors.push_back(std::move(c));
}

bool registry::unregister(const collector& c) {
  std::lock_guard lock(state_->mu);
  auto it = std::find_if(state_->collectors.begin(), state_->collectors.end(),
                         [&](const auto& p) { return p.get() == &c; });
  if (it == state_->collectors.end()) return false;
  std::set<std::string> names;
  for (auto d = state_->by_name.begin(); d != state_->by_name.end();) {
    if (d->second.owner == &c) {
      names.insert(d->first);
      d = state_->by_name.erase(d);
    } else {
      ++d;
    }
  }
  for (const std::string& n : names) {
    if (state_->by_name.count(n) != 0) continue;  // another collector still has this family
    std::erase_if(state_->samples, [&](const auto& kv) { return kv.second == n; });
  }
  state_->collectors.erase(it);
  return true;
}

void registry::gather(metric_writer& out) const {
  const registry* self = this;
  gather_all(std::span<const registry* const>(&self, 1), out);
}

void registry::gather_all(std::span<const registry* const> registries, metric_writer& out) {
  std::vector<std::shared_ptr<collector>> collectors;
  for (const registry* r : registries) {
    std::lock_guard lock(r->state_->mu);
    collectors.insert(collectors.end(), r->state_->collectors.begin(), r->state_->collectors.end());
  }
  struct entry {
    const family_desc* desc;
    const collector* stream;        // writes exactly this family
    const family_snapshot* buffer;  // or a recorded family
  };
  std::vector<entry> entries;
  std::deque<std::vector<family_snapshot>> buffers;
  for (const auto& c : collectors) {
    const std::span<const family_desc> descs = c->describe();
    if (descs.size() == 1) {
      entries.push_back({&descs[0], c.get(), nullptr});
      continue;
    }
    // Several families or unknown ones: record them so they can be sorted and checked.
    buffers.push_back(snapshot(*c));
    for (const family_snapshot& f : buffers.back()) entries.push_back({&f.desc, nullptr, &f});
  }
  // Recorded families were written by code we do not control: validate them as registration
  // would, and check that no two families claim the same names.
  std::map<std::string, std::string> claimed;
  for (const entry& e : entries) {
    if (e.buffer != nullptr) {
      family_desc copy = *e.desc;
      try {
        validate_desc(copy);
      } catch (const error& ex) {
        throw error("collected family " + quoted(e.desc->name) + " is invalid: " + ex.what());
      }
    }
    claim_names(*e.desc, claimed);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
    if (a.desc->name != b.desc->name) return a.desc->name < b.desc->name;
    return a.desc->const_labels < b.desc->const_labels;
  });
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const entry& e = entries[i];
    if (i > 0 && entries[i - 1].desc->name == e.desc->name) {
      check_compatible(*e.desc, *entries[i - 1].desc, "gathered");
      if (entries[i - 1].desc->const_labels == e.desc->const_labels) {
        throw error("family " + quoted(e.desc->name) + " with constant labels " +
                    render_labels(e.desc->const_labels) +
                    " was gathered twice (registered in two merged registries?)");
      }
    }
    if (e.stream != nullptr) {
      e.stream->collect(out);
    } else {
      // Recorded families were written by code we do not control: check for duplicate series.
      std::set<std::vector<std::string>> seen;
      for (const series_snapshot& s : e.buffer->series) {
        if (s.values.size() != e.desc->label_names.size()) {
          throw error("collected family " + quoted(e.desc->name) + " has a series with " +
                      std::to_string(s.values.size()) + " label values for " +
                      std::to_string(e.desc->label_names.size()) + " label names");
        }
        if (!seen.insert(s.values).second) {
          throw error("collected family " + quoted(e.desc->name) +
                      " has a series that was collected before with the same label values");
        }
      }
      replay(*e.buffer, out);
    }
  }
}

// ---- wrapping -------------------------------------------------------------------------------------

namespace {

family_desc wrap_desc(const family_desc& d, const std::string& prefix, const labels& extra) {
  family_desc w = d;
  w.name = prefix + d.name;
  for (const label& l : extra) {
    if (std::find(w.label_names.begin(), w.label_names.end(), l.name) != w.label_names.end() ||
        std::any_of(w.const_labels.begin(), w.const_labels.end(),
                    [&](const label& c) { return c.name == l.name; })) {
      throw error("cannot add constant label " + quoted(l.name) + " to family " + quoted(d.name) +
                  ": it already has a label of that name");
    }
    w.const_labels.push_back(l);
  }
  validate_desc(w);
  return w;
}

class wrapped_collector final : public collector {
 public:
  wrapped_collector(std::shared_ptr<collector> inner, std::string prefix, labels extra)
      : inner_(std::move(inner)), prefix_(std::move(prefix)), extra_(std::move(extra)) {
    for (const family_desc& d : inner_->describe()) {
      originals_.push_back(d);
      descs_.push_back(wrap_desc(d, prefix_, extra_));
    }
  }
  const std::shared_ptr<collector>& inner() const noexcept { return inner_; }
  std::span<const family_desc> describe() const override { return descs_; }
  void collect(metric_writer& out) const override {
    forwarding fw(*this, out);
    inner_->collect(fw);
  }

 private:
  class forwarding final : public metric_writer {
   public:
    forwarding(const wrapped_collector& w, metric_writer& out) : w_(w), out_(out) {}
    void begin_family(const family_desc& d) override {
      const family_desc* known = nullptr;
      for (std::size_t i = 0; i < w_.originals_.size(); ++i) {
        if (w_.originals_[i].name == d.name && w_.originals_[i].const_labels == d.const_labels) {
          known = &w_.descs_[i];
          break;
        }
      }
      if (known == nullptr) {
        adhoc_ = wrap_desc(d, w_.prefix_, w_.extra_);
        known = &adhoc_;
      }
      out_.begin_family(*known);
    }
    void counter(label_values v, double value, double created, const exemplar* ex) override {
      out_.counter(v, value, created, ex);
    }
    void gauge(label_values v, double value) override { out_.gauge(v, value); }
    void histogram(label_values v, const histogram_sample& h) override { out_.histogram(v, h); }
    void summary(label_values v, const summary_sample& s) override { out_.summary(v, s); }
    void end_family() override { out_.end_family(); }

   private:
    const wrapped_collector& w_;
    metric_writer& out_;
    family_desc adhoc_;
  };

  std::shared_ptr<collector> inner_;
  std::string prefix_;
  labels extra_;
  std::vector<family_desc> originals_;
  std::vector<family_desc> descs_;
};

}  // namespace

wrapping_registerer::wrapping_registerer(registerer& inner, std::string prefix, labels extra)
    : inner_(&inner), prefix_(std::move(prefix)), extra_(std::move(extra)) {
  if (!prefix_.empty() && !is_valid_metric_name(prefix_)) {
    throw error("invalid metric name prefix " + quoted(prefix_) + ": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  std::sort(extra_.begin(), extra_.end());
  for (std::size_t i = 0; i < extra_.size(); ++i) {
    if (!is_valid_label_name(extra_[i].name)) {
      throw error("invalid constant label name " + quoted(extra_[i].name));
    }
    if (i > 0 && extra_[i - 1].name == extra_[i].name) {
      throw error("constant label " + quoted(extra_[i].name) + " given twice");
    }
  }
}

void wrapping_registerer::register_collector(std::shared_ptr<collector> c) {
  if (c == nullptr) throw error("cannot register a null collector");
  const collector* key = c.get();
  auto w = std::make_shared<wrapped_collector>(std::move(c), prefix_, extra_);
  std::lock_guard lock(mu_);
  for (const auto& [k, existing] : wrapped_) {
    if (k == key) {
      throw already_registered_error("collector is already registered",
                                     static_cast<const wrapped_collector&>(*existing).inner());
    }
  }
  inner_->register_collector(w);
  wrapped_.emplace_back(key, std::move(w));
}

bool wrapping_registerer::unregister(const collector& c) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(wrapped_.begin(), wrapped_.end(), [&](const auto& p) { return p.first == &c; });
  if (it == wrapped_.end()) return false;
  const bool done = inner_->unregister(*it->second);
  wrapped_.erase(it);
  return done;
}

// ---- callback metrics -----------------------------------------------------------------------------

callback_metric::callback_metric(const metric_opts& opts, metric_type type, std::function<double()> fn)
    : desc_(detail::make_desc(opts, type)), fn_(std::move(fn)), created_(unix_now()) {
  if (type != metric_type::counter && type != metric_type::gauge && type != metric_type::unknown) {
    throw error("callback metric " + quoted(desc_.name) + " must be a counter, gauge or unknown, not " +
                std::string(to_string(type)));
  }
  if (!desc_.label_names.empty()) {
    throw error("callback metric " + quoted(desc_.name) + " cannot have variable labels");
  }
  if (!fn_) throw error("callback metric " + quoted(desc_.name) + " needs a function");
}

void callback_metric::collect(metric_writer& out) const {
  const double v = fn_();
  out.begin_family(desc_);
  if (desc_.type == metric_type::counter) {
    out.counter({}, v, created_, nullptr);
  } else {
    out.gauge({}, v);
  }
  out.end_family();
}

// ---- default registry and auto-registration ----------------------------------------------------

registry& default_registry() {
  static registry* r = [] {
    auto* reg = new registry;
    reg->register_collector(std::make_shared<process_collector>());
    std::string compiler;
#if defined(__clang__)
    compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    compiler = "gcc " __VERSION__;
#endif
    auto build = std::make_shared<family<info>>(metric_opts{
        .name = "operant_build",
        .help = "A metric with a constant '1' value labeled by the version and compiler operant "
                "was built with.",
        .const_labels = {{"compiler", compiler}, {"version", OPERANT_VERSION}}});
    reg->register_collector(build);
    return reg;
  }();
  return *r;
}

void factory::check_labels(const metric_opts& o, int labelled) {
  if (labelled == 0 && !o.label_names.empty()) {
    throw error("metric " + quoted(o.name) +
                " has label names; create it with the *_family function to use labels");
  }
}

callback_metric& factory::new_gauge_func(const metric_opts& o, std::function<double()> fn) {
  return add(std::make_shared<callback_metric>(o, metric_type::gauge, std::move(fn)));
}
callback_metric& factory::new_counter_func(const metric_opts& o, std::function<double()> fn) {
  return add(std::make_shared<callback_metric>(o, metric_type::counter, std::move(fn)));
}

counter& new_counter(const metric_opts& o) { return with(default_registry()).new_counter(o); }
gauge& new_gauge(const metric_opts& o) { return with(default_registry()).new_gauge(o); }
histogram& new_histogram(const metric_opts& o) { return with(default_registry()).new_histogram(o); }
summary& new_summary(const metric_opts& o) { return with(default_registry()).new_summary(o); }
family<counter>& new_counter_family(const metric_opts& o) {
  return with(default_registry()).new_counter_family(o);
}
family<gauge>& new_gauge_family(const metric_opts& o) { return with(default_registry()).new_gauge_family(o); }
family<histogram>& new_histogram_family(const metric_opts& o) {
  return with(default_registry()).new_histogram_family(o);
}
family<summary>& new_summary_family(const metric_opts& o) {
  return with(default_registry()).new_summary_family(o);
}
family<info>& new_info(const metric_opts& o) { return with(default_registry()).new_info(o); }
callback_metric& new_gauge_func(const metric_opts& o, std::function<double()> fn) {
  return with(default_registry()).new_gauge_func(o, std::move(fn));
}
callback_metric& new_counter_func(const metric_opts& o, std::function<double()> fn) {
  return with(default_registry()).new_counter_func(o, std::move(fn));
}

}  // namespace operant::metrics

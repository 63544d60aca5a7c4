#include "operant/kube/leader_election.h"

#include <unistd.h>

#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <random>
#include <thread>

#include "operant/metrics/family.h"
#include "operant/metrics/gauge.h"
#include "sleep.h"

namespace operant::kube {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

std::string random_uuid() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(
      buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
      static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xffff),
      static_cast<unsigned long long>(a & 0xffff), static_cast<unsigned long long>(b >> 48),
      static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  return buf;
}

// metav1.MicroTime: RFC 3339 with microseconds, UTC.
std::string micro_time(std::chrono::system_clock::time_point t) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(us % 1'000'000));
  return buf;
}

// client-go's wait.Jitter(retryPeriod, 1.2): a delay in [d, 2.2 d).
std::chrono::milliseconds jittered(std::chrono::milliseconds d) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> f(0.0, 1.2);
  return d +
         std::chrono::milliseconds(static_cast<long long>(static_cast<double>(d.count()) * f(rng)));
}

void validate(const lease_options& o) {
  const auto bad = [](const std::string& why) {
    throw std::invalid_argument("lease_options: " + why);
  };
  if (o.name.empty()) bad("name is required (the Lease's name)");
  if (o.ns.empty()) bad("ns is required (the Lease's namespace)");
  if (o.lease_duration.count() <= 0) bad("lease_duration must be greater than zero");
  if (o.renew_deadline.count() <= 0) bad("renew_deadline must be greater than zero");
  if (o.retry_period.count() <= 0) bad("retry_period must be greater than zero");
  if (o.lease_duration <= o.renew_deadline) {
    bad("lease_duration (" + std::to_string(o.lease_duration.count()) +
        " ms) must be greater than renew_deadline (" + std::to_string(o.renew_deadline.count()) +
        " ms)");
  }
  if (static_cast<double>(o.renew_deadline.count()) <=
      1.2 * static_cast<double>(o.retry_period.count())) {
    bad("renew_deadline (" + std::to_string(o.renew_deadline.count()) +
        " ms) must be greater than 1.2 × retry_period (" + std::to_string(o.retry_period.count()) +
        " ms)");
  }
}

}  // namespace

lease_elector::lease_elector(rest_client& client, lease_options options)
    : client_(client), opts_(std::move(options)) {
  validate(opts_);
  if (opts_.identity.empty()) opts_.identity = host_name() + "_" + random_uuid();
  if (opts_.registry) {
    auto f = std::make_shared<metrics::family<metrics::gauge>>(
        metrics::metric_opts{.name = "leader_election_master_status",
                             .help = "Gauge of if the reporting system is master of the relevant "
                                     "lease, 0 indicates backup, 1 "
                                     "indicates master. 'name' is the string used to identify the "
                                     "lease. Please make sure to group by name.",
                             .label_names = {"name"}});
    try {
      opts_.registry->register_collector(f);
    } catch (const metrics::already_registered_error& e) {
      auto existing = std::dynamic_pointer_cast<metrics::family<metrics::gauge>>(e.existing());
      if (!existing) throw;
      f = std::move(existing);
    }
    metrics::gauge& g = f->labels(opts_.name);
    g.set(0);
    set_status_ = [&g](double v) { g.set(v); };
    status_family_ = std::move(f);
  }
}

lease_elector::~lease_elector() = default;

std::string lease_elector::leader() const {
  std::lock_guard lock(mu_);
  return observed_holder_;
}

void lease_elector::set_leading(bool v) {
  leading_.store(v);
  if (set_status_) set_status_(v ? 1 : 0);
}

bool lease_elector::try_acquire_or_renew(std::stop_token stop) {
  const auto wall = std::chrono::system_clock::now();
  const long long duration_s = std::max<long long>(1, (opts_.lease_duration.count() + 999) / 1000);
  json mine = {{"holderIdentity", opts_.identity},
               {"leaseDurationSeconds", duration_s},
               {"acquireTime", micro_time(wall)},
               {"renewTime", micro_time(wall)},
               {"leaseTransitions", 0}};

  // client-go's fast path: a leader whose lease is still valid by its own observation renews
  // the lease object it last read or wrote, without reading it first. The update carries that
  // object's resourceVersion, so it succeeds only if nobody wrote the lease since; any failure
  // (409 Conflict, 5xx, a timeout) falls back to reading the lease below.
  json cached;
  {
    std::lock_guard lock(mu_);
    if (observed_holder_ == opts_.identity && observed_lease_.is_object() &&
        observed_time_ + opts_.lease_duration > steady::now()) {
      cached = observed_lease_;
      json renewed = mine;
      if (observed_spec_.contains("acquireTime")) renewed["acquireTime"] = observed_spec_["acquireTime"];
      renewed["leaseTransitions"] = observed_spec_.value("leaseTransitions", 0LL);
      cached["spec"] = std::move(renewed);
    }
  }
  if (!cached.is_null()) {
    try {
      const auto updated = client_.update(resources::leases, opts_.ns, cached, stop);
      std::lock_guard lock(mu_);
      observed_spec_ = cached["spec"];
      observed_time_ = steady::now();
      observed_lease_ = updated.json();
      return true;
    } catch (const std::exception& e) {
      if (stop.stop_requested()) return false;
      if (opts_.log)
        opts_.log->info("could not renew the lease optimistically; reading it",
                        {{"lease", opts_.ns + "/" + opts_.name}, {"error", e.what()}});
    }
  }

  controller::object lease;
  try {
    lease = client_.get(resources::leases, opts_.ns, opts_.name, stop);
  } catch (const api_error& e) {
    if (!e.not_found()) {
      if (opts_.log && !stop.stop_requested())
        opts_.log->error("error retrieving the lease",
                         {{"lease", opts_.ns + "/" + opts_.name}, {"error", e.what()}});
      return false;
    }
    try {
      const json created = {{"apiVersion", "coordination.k8s.io/v1"},
                            {"kind", "Lease"},
                            {"metadata", {{"name", opts_.name}, {"namespace", opts_.ns}}},
                            {"spec", mine}};
      const auto obj = client_.create(resources::leases, opts_.ns, created, stop);
      std::lock_guard lock(mu_);
      observed_spec_ = obj.json()["spec"];
      observed_time_ = steady::now();
      observed_lease_ = obj.json();
      observed_holder_ = opts_.identity;
      return true;
    } catch (const std::exception& ce) {
      if (opts_.log)
        opts_.log->info("could not create the lease",
                        {{"lease", opts_.ns + "/" + opts_.name}, {"error", ce.what()}});
      return false;
    }
  } catch (const std::exception& e) {
    // A request cancelled by stop is a shutdown, not an error.
    if (opts_.log && !stop.stop_requested()) {
      opts_.log->error("error retrieving the lease",
                       {{"lease", opts_.ns + "/" + opts_.name}, {"error", e.what()}});
    }
    return false;
  }

  json& doc = lease.json();
  json spec = doc.contains("spec") && doc["spec"].is_object() ? doc["spec"] : json::object();
  const std::string holder = spec.value("holderIdentity", "");
  long long held_for_s = duration_s;
  if (const auto it = spec.find("leaseDurationSeconds");
      it != spec.end() && it->is_number_integer()) {
    held_for_s = it->get<long long>();
  }
  std::string previous_holder;
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    if (spec != observed_spec_) {
      previous_holder = observed_holder_;
      observed_spec_ = spec;
      observed_time_ = steady::now();
      changed = holder != observed_holder_;
      observed_holder_ = holder;
    }
    observed_lease_ = lease.json();
    if (!holder.empty() && holder != opts_.identity &&
        observed_time_ + std::chrono::seconds(held_for_s) > steady::now()) {
      if (changed && opts_.on_new_leader) opts_.on_new_leader(holder);
      return false;  // held by another candidate and not expired
    }
  }
  if (changed && opts_.on_new_leader && holder != opts_.identity) opts_.on_new_leader(holder);
  long long transitions = spec.value("leaseTransitions", 0LL);
  if (holder == opts_.identity) {
    if (spec.contains("acquireTime")) mine["acquireTime"] = spec["acquireTime"];
    mine["leaseTransitions"] = transitions;
  } else {
    mine["leaseTransitions"] = transitions + 1;  // client-go counts every change of holder
  }
  doc["spec"] = mine;
  try {
    const auto updated =
        client_.update(resources::leases, opts_.ns, doc, stop);  // carries resourceVersion
    std::lock_guard lock(mu_);
    observed_spec_ = mine;
    observed_time_ = steady::now();
    observed_lease_ = updated.json();
    observed_holder_ = opts_.identity;
    return true;
  } catch (const std::exception& e) {
    if (opts_.log)
      opts_.log->info("could not update the lease",
                      {{"lease", opts_.ns + "/" + opts_.name}, {"error", e.what()}});
    return false;
  }
}

void lease_elector::release() {
  try {
    auto lease = client_.get(resources::leases, opts_.ns, opts_.name);
    json& doc = lease.json();
    if (!doc.contains("spec") || doc["spec"].value("holderIdentity", "") != opts_.identity) return;
    const auto now = micro_time(std::chrono::system_clock::now());
    json& spec = doc["spec"];
    spec["holderIdentity"] = "";
    spec["leaseDurationSeconds"] = 1;
    spec["acquireTime"] = now;
    spec["renewTime"] = now;
    client_.update(resources::leases, opts_.ns, doc);
    std::lock_guard lock(mu_);
    observed_holder_.clear();
    observed_spec_ = spec;
  } catch (const std::exception& e) {
    if (opts_.log)
      opts_.log->error("could not release the lease",
                       {{"lease", opts_.ns + "/" + opts_.name}, {"error", e.what()}});
  }
}

void lease_elector::run(std::stop_token stop, const std::function<void(std::stop_token)>& lead) {
  const std::string lease_name = opts_.ns + "/" + opts_.name;
  while (!stop.stop_requested()) {
    if (opts_.log)
      opts_.log->info("attempting to acquire the lease",
                      {{"lease", lease_name}, {"identity", opts_.identity}});
    bool acquired = false;
    while (!stop.stop_requested()) {
      if (try_acquire_or_renew(stop)) {
        acquired = true;
        break;
      }
      if (!detail::sleep_for(jittered(opts_.retry_period), stop)) break;
    }
    if (!acquired) break;
    if (opts_.log)
      opts_.log->info("acquired the lease", {{"lease", lease_name}, {"identity", opts_.identity}});
    set_leading(true);
    if (opts_.on_started_leading) opts_.on_started_leading();

    std::stop_source leading;
    std::stop_callback forward(stop, [&leading] { leading.request_stop(); });
    std::jthread renew([this, &leading, &lease_name](std::stop_token own) {
      while (detail::sleep_for(opts_.retry_period, own)) {
        const auto deadline = steady::now() + opts_.renew_deadline;
        bool renewed = false;
        while (!own.stop_requested()) {
          if (try_acquire_or_renew(own)) {
            renewed = true;
            break;
          }
          if (steady::now() + opts_.retry_period >= deadline) break;
          if (!detail::sleep_for(opts_.retry_period, own)) return;
        }
        if (own.stop_requested()) return;
        if (!renewed) {
          if (opts_.log)
            opts_.log->error("failed to renew the lease within the renew deadline; leadership lost",
                             {{"lease", lease_name}, {"identity", opts_.identity}});
          set_leading(false);
          leading.request_stop();
          return;
        }
      }
    });
    lead(leading.get_token());
    renew.request_stop();
    renew.join();
    const bool still_holder = leading_.load();
    set_leading(false);
    if (opts_.on_stopped_leading) opts_.on_stopped_leading();
    if (opts_.log)
      opts_.log->info("stopped leading", {{"lease", lease_name}, {"identity", opts_.identity}});
    if (stop.stop_requested() && still_holder && opts_.release_on_cancel) release();
  }
}

}  // namespace operant::kube

// Lease leader election against the loopback API server: validation, one leader among three,
// takeover after the leader stops, release on cancel, and lead() stopped when renewals fail.
#include "operant/kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kube_fixture.h"
#include "operant/metrics/testutil.h"

namespace operant::kube {
namespace {

using test::KubeTest;
using namespace std::chrono_literals;

lease_options fast(const std::string& identity) {
  lease_options o;
  o.name = "ctl";
  o.ns = "ns1";
  o.identity = identity;
  o.lease_duration = 1500ms;
  o.renew_deadline = 1000ms;
  o.retry_period = 200ms;
  return o;
}

TEST_F(KubeTest, LeaseOptionsAreValidatedAsClientGoDoes) {
  const auto message = [&](lease_options o) {
    try {
      lease_elector e(api, o);
    } catch (const std::invalid_argument& ex) {
      return std::string(ex.what());
    }
    return std::string();
  };
  auto o = fast("a");
  o.name.clear();
  EXPECT_NE(message(o).find("name"), std::string::npos);
  o = fast("a");
  o.ns.clear();
  EXPECT_NE(message(o).find("ns"), std::string::npos);
  o = fast("a");
  o.renew_deadline = o.lease_duration;
  EXPECT_NE(message(o).find("lease_duration"), std::string::npos);
  o = fast("a");
  o.retry_period = 900ms;  // 1.2 × 900 ms > renew_deadline
  EXPECT_NE(message(o).find("1.2"), std::string::npos);
  o = fast("a");
  o.retry_period = 0ms;
  EXPECT_NE(message(o).find("retry_period"), std::string::npos);
  lease_options defaults;
  defaults.name = "x";
  defaults.ns = "y";
  lease_elector d(api, defaults);                        // 15 s / 10 s / 2 s are valid
  EXPECT_NE(d.identity().find('_'), std::string::npos);  // hostname_uuid
}

struct candidate {
  candidate(rest_client& api, lease_options o) : elector(api, std::move(o)) {}
  void start() {
    thread = std::jthread([this](std::stop_token stop) {
      elector.run(stop, [this](std::stop_token leading) {
        ++terms;
        in_lead = true;
        std::mutex mu;
        std::condition_variable_any cv;
        std::unique_lock lock(mu);
        cv.wait(lock, leading, [] { return false; });
        in_lead = false;
      });
    });
  }
  lease_elector elector;
  std::atomic<int> terms{0};
  std::atomic<bool> in_lead{false};
  std::jthread thread;
};

TEST_F(KubeTest, ExactlyOneOfThreeLeadsAndAnotherTakesOverWhenItStops) {
  std::vector<std::unique_ptr<candidate>> cs;
  for (const char* id : {"a", "b", "c"}) {
    auto o = fast(id);
    o.release_on_cancel = false;  // the leader vanishes without a word: takeover by expiry
    o.registry = &reg;
    cs.push_back(std::make_unique<candidate>(api, o));
  }
  for (auto& c : cs) c->start();
  const auto leaders = [&] {
    int n = 0;
    for (auto& c : cs) n += c->in_lead.load() ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(srv.wait_until([&] { return leaders() == 1; }));
  // Watch for a while (many renewals): never two at once.
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_LE(leaders(), 1);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(leaders(), 1);
  candidate* leader = nullptr;
  for (auto& c : cs) {
    if (c->in_lead) leader = c.get();
  }
  EXPECT_EQ(
      metrics::testutil::sample_value(reg, "leader_election_master_status", {{"name", "ctl"}}),
      1.0);
  for (auto& c : cs) {
    if (c.get() != leader) {
      EXPECT_EQ(c->elector.leader(), leader->elector.identity());
    }
  }
  const auto stopped_at = std::chrono::steady_clock::now();
  leader->thread.request_stop();
  leader->thread.join();
  ASSERT_TRUE(srv.wait_until([&] { return leaders() == 1; }, 10s));
  const auto took = std::chrono::steady_clock::now() - stopped_at;
  // Takeover within lease duration + one jittered retry period (2.2 × 200 ms), plus slack for
  // slow (sanitizer) builds.
  EXPECT_LT(took, 1500ms + 440ms + 1500ms);
  const auto lease = srv.get("/apis/coordination.k8s.io/v1/namespaces/ns1/leases/ctl");
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_NE((*lease)["spec"]["holderIdentity"], leader->elector.identity());
}

std::vector<std::string> lease_verbs(const test::fake_apiserver& srv) {
  std::vector<std::string> verbs;
  for (const auto& r : srv.requests()) {
    if (r.resource == "leases") verbs.push_back(r.verb);
  }
  return verbs;
}

// client-go's fast path: a leader renews with one conditional update of the lease it last wrote;
// when someone else wrote the lease meanwhile, the update gets 409 and the same attempt reads the
// lease, sees the new holder and gives up.
TEST_F(KubeTest, ALeaderRenewsWithOneUpdateAndFallsBackToReadingOnConflict) {
  lease_elector a(api, fast("a"));
  ASSERT_TRUE(a.try_acquire_or_renew());  // creates the lease
  srv.clear_requests();
  ASSERT_TRUE(a.try_acquire_or_renew());
  ASSERT_TRUE(a.try_acquire_or_renew());
  EXPECT_EQ(lease_verbs(srv), (std::vector<std::string>{"update", "update"}));
  const auto renewed = srv.get("/apis/coordination.k8s.io/v1/namespaces/ns1/leases/ctl");
  EXPECT_EQ((*renewed)["spec"]["holderIdentity"], "a");
  EXPECT_EQ((*renewed)["spec"]["leaseTransitions"], 0);

  // Another writer takes the lease (as a candidate would after a's lease expired on its clock).
  auto lease = api.get(resources::leases, "ns1", "ctl");
  lease.json()["spec"]["holderIdentity"] = "b";
  lease.json()["spec"]["leaseTransitions"] = 1;
  api.update(resources::leases, "ns1", lease.json());
  srv.clear_requests();
  EXPECT_FALSE(a.try_acquire_or_renew());
  EXPECT_EQ(lease_verbs(srv), (std::vector<std::string>{"update", "get"}));
  EXPECT_EQ(a.leader(), "b");
  // Not the holder any more: the next attempt reads first.
  srv.clear_requests();
  EXPECT_FALSE(a.try_acquire_or_renew());
  EXPECT_EQ(lease_verbs(srv), (std::vector<std::string>{"get"}));
}

TEST_F(KubeTest, ALeaderThatStopsReleasesTheLeaseForAFastTakeover) {
  auto a = std::make_unique<candidate>(api, fast("a"));
  a->start();
  ASSERT_TRUE(srv.wait_until([&] { return a->in_lead.load(); }));
  candidate b(api, fast("b"));
  b.start();
  a->thread.request_stop();
  a->thread.join();
  ASSERT_TRUE(srv.wait_until([&] { return b.in_lead.load(); }));
  const auto lease = srv.get("/apis/coordination.k8s.io/v1/namespaces/ns1/leases/ctl");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
}

TEST_F(KubeTest, LeadStopsWhenTheLeaseCannotBeRenewed) {
  auto o = fast("a");
  o.registry = &reg;
  std::atomic<int> stopped{0};
  o.on_stopped_leading = [&] { ++stopped; };
  candidate a(api, o);
  a.start();
  ASSERT_TRUE(srv.wait_until([&] { return a.in_lead.load(); }));
  // The lease cannot be written or read for a while: renewals fail for longer than renew_deadline
  // (about 5 attempts 200 ms apart, each an update and then a get), then the API server recovers.
  srv.fail_next(16, 500, "leases");
  ASSERT_TRUE(srv.wait_until([&] { return !a.in_lead.load(); }, 10s));
  // on_stopped_leading and the gauge follow lead()'s return on the elector's own thread (as
  // client-go's OnStoppedLeading follows the end of OnStartedLeading's context): wait for them.
  EXPECT_TRUE(srv.wait_until([&] { return stopped.load() >= 1; }, 10s));
  EXPECT_TRUE(srv.wait_until(
      [&] {
        return metrics::testutil::sample_value(reg, "leader_election_master_status",
                                               {{"name", "ctl"}}) == 0.0;
      },
      10s));
  // It campaigns again and, the lease being its own, leads again.
  ASSERT_TRUE(srv.wait_until([&] { return a.in_lead.load(); }, 10s));
  EXPECT_EQ(a.terms.load(), 2);
}

}  // namespace
}  // namespace operant::kube

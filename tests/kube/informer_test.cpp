// The informer (reflector + store + handlers) and the controller retriever against the loopback
// API server, through dropped watches, split chunks, 500s and 410 relists.
#include "operant/kube/informer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "kube_fixture.h"
#include "operant/controller/controller.h"
#include "operant/controller/handler.h"

namespace operant::kube {
namespace {

using json = nlohmann::json;
using test::KubeTest;
using test::pod;
using test::pods_path;
using namespace std::chrono_literals;

// What the handlers have been told, as key -> (resourceVersion, labels); and every delete.
struct mirror {
  std::mutex mu;
  std::map<std::string, std::string> state;  // key -> resourceVersion
  std::map<std::string, controller::object_ptr> deleted;
  int adds = 0, updates = 0, resyncs = 0;

  event_handlers handlers() {
    return {.on_add =
                [this](const controller::object_ptr& o) {
                  std::lock_guard lock(mu);
                  EXPECT_FALSE(state.contains(o->key())) << "add of a known object " << o->key();
                  state[o->key()] = std::string(o->resource_version());
                  ++adds;
                },
            .on_update =
                [this](const controller::object_ptr& old, const controller::object_ptr& now) {
                  std::lock_guard lock(mu);
                  EXPECT_TRUE(state.contains(now->key()))
                      << "update of an unknown object " << now->key();
                  EXPECT_EQ(old->key(), now->key());
                  if (old == now) ++resyncs;
                  state[now->key()] = std::string(now->resource_version());
                  ++updates;
                },
            .on_delete =
                [this](const controller::object_ptr& last) {
                  std::lock_guard lock(mu);
                  EXPECT_TRUE(state.contains(last->key()))
                      << "delete of an unknown object " << last->key();
                  state.erase(last->key());
                  deleted[last->key()] = last;
                }};
  }
  std::map<std::string, std::string> snapshot() {
    std::lock_guard lock(mu);
    return state;
  }
};

std::map<std::string, std::string> server_state(const test::fake_apiserver& srv,
                                                const std::string& ns) {
  std::map<std::string, std::string> out;
  for (const json& o : srv.list(pods_path(ns))) {
    out[o["metadata"]["namespace"].get<std::string>() + "/" +
        o["metadata"]["name"].get<std::string>()] = o["metadata"]["resourceVersion"];
  }
  return out;
}

informer_options fast(std::string ns) {
  informer_options o;
  o.res = resources::pods;
  o.ns = std::move(ns);
  o.page_size = 7;
  o.backoff_initial = 10ms;
  o.backoff_max = 100ms;
  return o;
}

TEST_F(KubeTest, InformerSyncsPagesAndIndexes) {
  for (int i = 0; i < 30; ++i) {
    srv.create(pods_path("ns1"),
               pod("ns1", "p" + std::to_string(i), {{"app", i < 10 ? "web" : "db"}}));
  }
  informer inf(api, fast("ns1"));
  mirror m;
  inf.add_handlers(m.handlers());
  inf.add_index("app", [](const controller::object& o) {
    const auto app = o.label("app");
    return app ? std::vector<std::string>{std::string(*app)} : std::vector<std::string>{};
  });
  std::jthread t([&](std::stop_token stop) { inf.run(stop); });
  std::stop_source never;
  ASSERT_TRUE(inf.wait_for_sync(never.get_token()));
  EXPECT_EQ(inf.cache().size(), 30u);
  EXPECT_EQ(m.adds, 30);
  EXPECT_EQ(inf.cache().by_index("app", "web").size(), 10u);
  EXPECT_EQ(inf.cache().by_index("namespace", "ns1").size(), 30u);
  EXPECT_EQ(inf.cache().index_values("app"), (std::vector<std::string>{"db", "web"}));
  EXPECT_THROW(inf.cache().by_index("nope", "x"), std::invalid_argument);
  // Pages of 7: 5 list requests.
  int lists = 0;
  for (const auto& r : srv.requests()) lists += r.verb == "list";
  EXPECT_EQ(lists, 5);

  srv.patch(pods_path("ns1") + "/p0", json{{"metadata", {{"labels", {{"app", "db"}}}}}});
  ASSERT_TRUE(srv.wait_until([&] { return inf.cache().by_index("app", "web").size() == 9u; }));
  EXPECT_EQ(inf.cache().by_index("app", "db").size(), 21u);
}

TEST_F(KubeTest, NoEventIsLostAcrossDroppedWatchesSplitChunksErrorsAndRelists) {
  informer inf(api, fast("ns1"));
  mirror m;
  inf.add_handlers(m.handlers());
  std::jthread t([&](std::stop_token stop) { inf.run(stop); });
  std::stop_source never;
  ASSERT_TRUE(inf.wait_for_sync(never.get_token()));

  std::mt19937 rng(42);
  std::vector<std::string> live;
  int next = 0;
  for (int round = 0; round < 12; ++round) {
    // Faults first, then a burst of writes while they play out.
    switch (round % 6) {
      case 0:
        srv.close_watches();
        break;  // dropped mid-stream
      case 1:
        srv.close_watches(3);
        break;  // dropped after 3 more events
      case 2:
        srv.split_watch_lines(4, true, 0ms);
        break;  // lines in pieces
      case 3:
        srv.split_watch_lines(1);
        srv.fail_next(2, 500, "watch");
        srv.close_watches();
        break;
      case 4:
        srv.compact();
        srv.close_watches();
        break;  // the re-watch gets 410: relist
      case 5:
        srv.end_watches();
        break;  // a clean end (watch timeout)
    }
    for (int i = 0; i < 15; ++i) {
      const int op = static_cast<int>(rng() % 3);
      if (op == 0 || live.empty()) {
        const std::string name = "p" + std::to_string(next++);
        srv.create(pods_path("ns1"), pod("ns1", name, {{"gen", "0"}}));
        live.push_back(name);
      } else if (op == 1) {
        const std::string& name = live[rng() % live.size()];
        srv.patch(pods_path("ns1") + "/" + name,
                  json{{"metadata", {{"labels", {{"gen", std::to_string(round)}}}}}});
      } else {
        const std::size_t idx = rng() % live.size();
        srv.remove(pods_path("ns1") + "/" + live[idx]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(idx));
      }
    }
    if (round % 6 == 4) {
      // Deleted while the informer is between watches: it must learn of it from the relist.
      srv.compact();
      srv.close_watches();
    }
  }
  srv.split_watch_lines(1);
  const auto want = server_state(srv, "ns1");
  ASSERT_TRUE(srv.wait_until([&] { return m.snapshot() == want; }, 30s))
      << "handlers saw " << m.snapshot().size() << " objects, the server has " << want.size();
  // The store agrees with the server too.
  std::map<std::string, std::string> cached;
  for (const auto& o : inf.cache().list()) cached[o->key()] = std::string(o->resource_version());
  EXPECT_EQ(cached, want);
  EXPECT_GT(inf.lists(), 1u);  // it did relist
  // Every delete carried an object with its labels.
  std::lock_guard lock(m.mu);
  for (const auto& [key, last] : m.deleted) EXPECT_TRUE(last->label("gen").has_value()) << key;
}

TEST_F(KubeTest, ADeleteMissedDuringARelistCarriesTheLastKnownObject) {
  srv.create(pods_path("ns1"), pod("ns1", "doomed", {{"color", "blue"}}));
  informer inf(api, fast("ns1"));
  mirror m;
  inf.add_handlers(m.handlers());
  std::jthread t([&](std::stop_token stop) { inf.run(stop); });
  std::stop_source never;
  ASSERT_TRUE(inf.wait_for_sync(never.get_token()));
  ASSERT_TRUE(srv.wait_for_watches(1));
  // Make the informer miss the DELETED event: its next five watches fail with 500 (with backoff,
  // at least 10+20+40+80+100 ms) while the writes happen at once, then history is compacted, so
  // the re-watch gets 410 and the informer relists.
  srv.fail_next(5, 500, "watch");
  srv.close_watches();
  srv.remove(pods_path("ns1") + "/doomed");
  srv.create(pods_path("ns1"), pod("ns1", "newcomer"));
  srv.compact();
  ASSERT_TRUE(srv.wait_until(
      [&] { return m.snapshot().size() == 1 && m.snapshot().contains("ns1/newcomer"); }));
  std::lock_guard lock(m.mu);
  ASSERT_TRUE(m.deleted.contains("ns1/doomed"));
  EXPECT_EQ(m.deleted["ns1/doomed"]->label("color"), "blue");
}

TEST_F(KubeTest, ResyncRedeliversEveryObject) {
  srv.create(pods_path("ns1"), pod("ns1", "a"));
  srv.create(pods_path("ns1"), pod("ns1", "b"));
  auto o = fast("ns1");
  o.resync = 50ms;
  informer inf(api, o);
  mirror m;
  inf.add_handlers(m.handlers());
  std::jthread t([&](std::stop_token stop) { inf.run(stop); });
  ASSERT_TRUE(srv.wait_until([&] {
    std::lock_guard lock(m.mu);
    return m.resyncs >= 4;
  }));
}

// The seed's controller (NewSequential with a retriever) against the API server: every object is
// handled, deletes arrive with the last object, nothing is lost across a relist.
TEST_F(KubeTest, AControllerRunsOnAKubeRetriever) {
  for (int i = 0; i < 5; ++i)
    srv.create(pods_path("ns1"), pod("ns1", "p" + std::to_string(i), {{"n", std::to_string(i)}}));
  std::mutex mu;
  std::set<std::string> handled;
  std::map<std::string, std::string> deleted_labels;
  auto handler = controller::make_handler(
      [&](const controller::context&, const controller::object& obj) {
        std::lock_guard lock(mu);
        handled.insert(obj.key());
        return controller::status::success();
      },
      [&](const controller::context&, std::string_view key, const controller::object& last) {
        std::lock_guard lock(mu);
        deleted_labels[std::string(key)] = last.label("n") ? std::string(*last.label("n")) : "";
        return controller::status::success();
      });
  auto retr = std::make_shared<retriever>(api, fast("ns1"));
  controller::config cc;
  cc.name = "kube-test";
  cc.handler = handler;
  cc.retriever = retr;
  cc.logger = std::make_shared<controller::nop_logger>();
  controller::controller ctl(cc);
  std::jthread t([&](std::stop_token stop) { ctl.run(stop); });
  ASSERT_TRUE(srv.wait_until([&] {
    std::lock_guard lock(mu);
    return handled.size() == 5;
  }));
  srv.remove(pods_path("ns1") + "/p3");
  srv.compact();
  srv.close_watches();
  srv.create(pods_path("ns1"), pod("ns1", "late"));
  ASSERT_TRUE(srv.wait_until([&] {
    std::lock_guard lock(mu);
    return handled.contains("ns1/late") && deleted_labels.contains("ns1/p3");
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(deleted_labels["ns1/p3"], "3");
}

}  // namespace
}  // namespace operant::kube

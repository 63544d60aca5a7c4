// The REST client and the watch decoder against the loopback API server (TLS, tokens).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kube_fixture.h"
#include "operant/metrics/testutil.h"

namespace operant::kube {
namespace {

using json = nlohmann::json;
using test::KubeTest;
using test::pod;
using test::pods_path;
using namespace std::chrono_literals;

TEST(Resource, PathsForCoreGroupedNamespacedAndClusterScoped) {
  EXPECT_EQ(resources::pods.path("default", "web-0"), "/api/v1/namespaces/default/pods/web-0");
  EXPECT_EQ(resources::pods.path(), "/api/v1/pods");
  EXPECT_EQ(resources::leases.path("kube-system"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases");
  EXPECT_EQ(resources::nodes.path("ignored", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(resources::deployments.group_version(), "apps/v1");
  EXPECT_THROW(resources::pods.path("default", "a/b"), std::invalid_argument);
  EXPECT_THROW(resources::pods.path("..", ""), std::invalid_argument);
  EXPECT_THROW(resources::pods.path("default", "x?y"), std::invalid_argument);
}

TEST(Resource, ParsesKubectlSpellings) {
  auto r = resource::parse("pods");
  EXPECT_EQ(r.group_version(), "v1");
  EXPECT_TRUE(r.namespaced);
  r = resource::parse("apps/v1/deployments");
  EXPECT_EQ(r.group, "apps");
  EXPECT_EQ(r.plural, "deployments");
  r = resource::parse("leases.v1.coordination.k8s.io");
  EXPECT_EQ(r.group, "coordination.k8s.io");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(r.plural, "leases");
  EXPECT_FALSE(resource::parse("v1/namespaces").namespaced);
  for (const char* bad : {"", "a/b/c/d", "Pods", "pods.v1", "/pods"}) {
    try {
      resource::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
    }
  }
}

TEST_F(KubeTest, CreateGetUpdatePatchDeleteWithTypedErrors) {
  const auto created =
      api.create(resources::pods, "default", pod("default", "web-0", {{"app", "web"}}));
  EXPECT_EQ(created.name(), "web-0");
  EXPECT_FALSE(created.resource_version().empty());
  EXPECT_FALSE(created.uid().empty());

  try {
    api.create(resources::pods, "default", pod("default", "web-0"));
    ADD_FAILURE() << "a duplicate create succeeded";
  } catch (const api_error& e) {
    EXPECT_EQ(e.code(), 409u);
    EXPECT_TRUE(e.already_exists()) << e.what();
    EXPECT_EQ(e.status()["kind"], "Status");
  }

  auto got = api.get(resources::pods, "default", "web-0");
  EXPECT_EQ(got.label("app"), "web");
  got.json()["metadata"]["labels"]["tier"] = "front";
  const auto updated = api.update(resources::pods, "default", got.json());
  EXPECT_NE(updated.resource_version(), created.resource_version());

  // The same stale object again: optimistic concurrency says no.
  try {
    api.update(resources::pods, "default", got.json());
    ADD_FAILURE() << "a stale update succeeded";
  } catch (const api_error& e) {
    EXPECT_TRUE(e.conflict()) << e.what();
    EXPECT_NE(e.message().find("the object has been modified"), std::string::npos) << e.message();
  }

  const auto patched = api.patch(resources::pods, "default", "web-0", patch_type::merge,
                                 R"({"metadata":{"labels":{"tier":null,"patched":"yes"}}})");
  EXPECT_EQ(patched.label("patched"), "yes");
  EXPECT_FALSE(patched.label("tier").has_value());
  const auto jp = api.patch(resources::pods, "default", "web-0", patch_type::json_patch,
                            R"([{"op":"add","path":"/metadata/annotations","value":{"a":"1"}}])");
  EXPECT_EQ(jp.annotation("a"), "1");

  EXPECT_THROW(api.remove(resources::pods, "default", "web-0", "1"),
               api_error);  // stale precondition
  api.remove(resources::pods, "default", "web-0");
  try {
    api.get(resources::pods, "default", "web-0");
    ADD_FAILURE();
  } catch (const api_error& e) {
    EXPECT_TRUE(e.not_found());
    EXPECT_EQ(e.reason(), "NotFound");
    EXPECT_NE(std::string(e.what()).find("web-0"), std::string::npos) << e.what();
  }
}

TEST_F(KubeTest, ListsWithSelectorsAndPages) {
  for (int i = 0; i < 23; ++i) {
    srv.create(pods_path("ns1"),
               pod("ns1", "p" + std::to_string(100 + i), {{"parity", i % 2 ? "odd" : "even"}}));
  }
  srv.create(pods_path("ns2"), pod("ns2", "other"));
  srv.clear_requests();
  const auto all = api.list_all(resources::pods, "ns1", {.limit = 5});
  ASSERT_EQ(all.items.size(), 23u);
  EXPECT_EQ(all.items.front()->name(), "p100");
  EXPECT_EQ(all.items.back()->name(), "p122");
  EXPECT_EQ(all.items.front()->json()["kind"], "Pod");  // filled in from the list's kind
  EXPECT_EQ(all.items.front()->json()["apiVersion"], "v1");
  EXPECT_TRUE(all.continue_token.empty());
  const auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 5u);  // 5+5+5+5+3
  for (const auto& r : reqs) EXPECT_EQ(r.query.at("limit"), "5");
  EXPECT_FALSE(reqs[1].query.at("continue").empty());

  EXPECT_EQ(api.list(resources::pods, "ns1", {.label_selector = "parity=odd"}).items.size(), 11u);
  EXPECT_EQ(
      api.list(resources::pods, "ns1", {.label_selector = "parity in (odd,even)"}).items.size(),
      23u);
  EXPECT_EQ(api.list(resources::pods, "", {.field_selector = "metadata.name=other"}).items.size(),
            1u);
  EXPECT_EQ(api.list(resources::pods, "").items.size(), 24u);
  try {
    api.list(resources::pods, "ns1", {.label_selector = "a in (b"});
    ADD_FAILURE();
  } catch (const api_error& e) {
    EXPECT_EQ(e.code(), 400u) << e.what();
  }
}

TEST_F(KubeTest, AnExpiredContinueTokenIsGone) {
  for (int i = 0; i < 6; ++i) srv.create(pods_path("ns1"), pod("ns1", "p" + std::to_string(i)));
  const auto first = api.list(resources::pods, "ns1", {.limit = 2});
  ASSERT_FALSE(first.continue_token.empty());
  srv.create(pods_path("ns1"), pod("ns1", "later"));
  srv.compact();
  try {
    api.list(resources::pods, "ns1", {.limit = 2, .continue_token = first.continue_token});
    ADD_FAILURE();
  } catch (const api_error& e) {
    EXPECT_TRUE(e.expired()) << e.what();
    EXPECT_EQ(e.code(), 410u);
  }
}

// Collects a watch's events on a thread until stopped.
struct watcher {
  explicit watcher(rest_client& api, watch_options o, std::string ns = "ns1")
      : thread([&api, o, ns, this](std::stop_token stop) {
          try {
            api.watch(
                resources::pods, ns, o,
                [this](const watch_event& e) {
                  std::lock_guard lock(mu);
                  events.push_back(e);
                },
                stop);
          } catch (const std::exception& e) {
            std::lock_guard lock(mu);
            error = e.what();
            if (auto* ae = dynamic_cast<const api_error*>(&e)) expired = ae->expired();
          }
          done = true;
        }) {}
  std::vector<watch_event> snapshot() {
    std::lock_guard lock(mu);
    return events;
  }
  std::mutex mu;
  std::vector<watch_event> events;
  std::string error;
  bool expired = false;
  std::atomic<bool> done{false};
  std::jthread thread;
};

TEST_F(KubeTest, WatchDeliversLaterEventsInOrderWithBookmarks) {
  srv.create(pods_path("ns1"), pod("ns1", "before"));
  const std::string rv = api.list(resources::pods, "ns1").resource_version;
  watcher w(api, {.resource_version = rv});
  ASSERT_TRUE(srv.wait_for_watches(1));
  srv.create(pods_path("ns1"), pod("ns1", "a", {{"v", "1"}}));
  srv.patch(pods_path("ns1") + "/a", json{{"metadata", {{"labels", {{"v", "2"}}}}}});
  srv.remove(pods_path("ns1") + "/a");
  srv.send_bookmarks_now();
  ASSERT_TRUE(srv.wait_until([&] { return w.snapshot().size() >= 4; }));
  const auto ev = w.snapshot();
  EXPECT_EQ(ev[0].type, event_type::added);
  EXPECT_EQ(ev[0].obj->name(), "a");
  EXPECT_EQ(ev[1].type, event_type::modified);
  EXPECT_EQ(ev[1].obj->label("v"), "2");
  EXPECT_EQ(ev[2].type, event_type::deleted);
  EXPECT_EQ(ev[2].obj->label("v"), "2");  // the last state
  EXPECT_EQ(ev[3].type, event_type::bookmark);
  EXPECT_EQ(ev[3].obj->resource_version(), srv.resource_version());
  const auto reqs = srv.requests();
  const auto watch_req =
      std::find_if(reqs.begin(), reqs.end(), [](const auto& r) { return r.verb == "watch"; });
  ASSERT_NE(watch_req, reqs.end());
  EXPECT_EQ(watch_req->query.at("resourceVersion"), rv);
  EXPECT_EQ(watch_req->query.at("allowWatchBookmarks"), "true");
  w.thread.request_stop();
  w.thread.join();
  EXPECT_EQ(w.error, "");
}

TEST_F(KubeTest, WatchLinesSplitAcrossChunksStillDecode) {
  const std::string rv = srv.resource_version();
  srv.split_watch_lines(7, true, 1ms);
  watcher w(api, {.resource_version = rv, .allow_bookmarks = false});
  ASSERT_TRUE(srv.wait_for_watches(1));
  json big = pod("ns1", "big");
  big["metadata"]["annotations"]["blob"] = std::string(40000, 'x');
  srv.create(pods_path("ns1"), big);
  for (int i = 0; i < 10; ++i) srv.create(pods_path("ns1"), pod("ns1", "s" + std::to_string(i)));
  ASSERT_TRUE(srv.wait_until([&] { return w.snapshot().size() >= 11; }));
  const auto ev = w.snapshot();
  EXPECT_EQ(ev[0].obj->annotation("blob")->size(), 40000u);
  EXPECT_EQ(ev[10].obj->name(), "s9");
  for (const auto& e : ev) EXPECT_NE(e.type, event_type::bookmark);
}

TEST_F(KubeTest, WatchFromACompactedVersionIsExpired) {
  const std::string old = srv.resource_version();
  srv.create(pods_path("ns1"), pod("ns1", "x"));
  srv.compact();
  watcher w(api, {.resource_version = old});
  w.thread.join();
  EXPECT_TRUE(w.expired) << w.error;
  EXPECT_NE(w.error.find("410"), std::string::npos) << w.error;
}

class KubeHttp410 : public KubeTest {
 protected:
  static test::fake_apiserver_options opts() {
    auto o = test::server_options();
    o.watch_expired_as_http_410 = true;
    return o;
  }
  KubeHttp410() : KubeTest(opts()) {}
};

TEST_F(KubeHttp410, WatchAnsweredWithHttp410IsExpiredToo) {
  const std::string old = srv.resource_version();
  srv.create(pods_path("ns1"), pod("ns1", "x"));
  srv.compact();
  watcher w(api, {.resource_version = old});
  w.thread.join();
  EXPECT_TRUE(w.expired) << w.error;
}

TEST_F(KubeTest, CountsRequestsAndTimesThemWithClientGoNames) {
  srv.create(pods_path("ns1"), pod("ns1", "a"));
  api.get(resources::pods, "ns1", "a");
  EXPECT_THROW(api.get(resources::pods, "ns1", "missing"), api_error);
  api.create(resources::pods, "ns1", pod("ns1", "b"));
  const std::string host = "127.0.0.1:" + std::to_string(srv.port());
  EXPECT_EQ(metrics::testutil::sample_value(reg, "rest_client_requests_total",
                                            {{"code", "200"}, {"method", "GET"}, {"host", host}}),
            1.0);
  EXPECT_EQ(metrics::testutil::sample_value(reg, "rest_client_requests_total",
                                            {{"code", "404"}, {"method", "GET"}, {"host", host}}),
            1.0);
  EXPECT_EQ(metrics::testutil::sample_value(reg, "rest_client_requests_total",
                                            {{"code", "201"}, {"method", "POST"}, {"host", host}}),
            1.0);
  EXPECT_EQ(metrics::testutil::sample_value(reg, "rest_client_request_duration_seconds_count",
                                            {{"verb", "GET"}, {"host", host}}),
            2.0);
  // A second client on the same registry shares the families.
  rest_client second(test::config_for(srv), rest_options{.registry = &reg});
  second.get(resources::pods, "ns1", "a");
  EXPECT_EQ(metrics::testutil::sample_value(reg, "rest_client_requests_total",
                                            {{"code", "200"}, {"method", "GET"}, {"host", host}}),
            2.0);
  EXPECT_TRUE(metrics::testutil::gather_and_lint(reg).empty());
}

TEST_F(KubeTest, AuthenticatesWithTokensAndClientCertificates) {
  config bad = test::config_for(srv);
  bad.bearer_token = "wrong";
  rest_client wrong(bad);
  try {
    wrong.get(resources::pods, "ns1", "a");
    ADD_FAILURE();
  } catch (const api_error& e) {
    EXPECT_EQ(e.code(), 401u);
    EXPECT_EQ(e.reason(), "Unauthorized");
  }
}

TEST(KubeCertAuth, AuthenticatesWithAClientCertificate) {
  auto o = test::server_options();
  o.client_cert_auth = true;
  test::fake_apiserver srv(o);
  const auto kp = srv.client_certificate("alice", {"devs"});
  config c = test::config_for(srv);
  c.bearer_token.clear();
  c.client_cert_pem = kp.cert_pem;
  c.client_key_pem = kp.key_pem;
  rest_client api(c);
  api.create(resources::configmaps, "ns1",
             json{{"metadata", {{"name", "cm"}}}, {"data", {{"k", "v"}}}});
  const auto reqs = srv.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs.back().user, "alice");
}

TEST_F(KubeTest, ServerErrorsAreApiErrorsAndTheClientKeepsWorking) {
  srv.fail_next(1, 500);
  try {
    api.list(resources::pods, "ns1");
    ADD_FAILURE();
  } catch (const api_error& e) {
    EXPECT_EQ(e.code(), 500u);
  }
  EXPECT_NO_THROW(api.list(resources::pods, "ns1"));
}

TEST_F(KubeTest, RateLimitsAtTheConfiguredQps) {
  config c = test::config_for(srv);
  c.qps = 4;
  c.burst = 1;
  metrics::registry r2;
  rest_client limited(c, rest_options{.registry = &r2});
  for (int i = 0; i < 3; ++i) limited.list(resources::pods, "ns1");
  // The first request takes the burst token; the next two wait for refills (1/4 s each), so two
  // of three waits are over 0.1 s whatever the machine's speed.
  const std::string host = "127.0.0.1:" + std::to_string(srv.port());
  EXPECT_EQ(metrics::testutil::sample_value(r2, "rest_client_rate_limiter_duration_seconds_count",
                                            {{"verb", "LIST"}, {"host", host}}),
            3.0);
  EXPECT_LE(metrics::testutil::sample_value(r2, "rest_client_rate_limiter_duration_seconds_bucket",
                                            {{"verb", "LIST"}, {"host", host}, {"le", "0.1"}}),
            1.0);
}

// ---- the watch decoder ------------------------------------------------------------------------

std::string stream_of(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p)" + std::to_string(i) +
         R"(","namespace":"d","resourceVersion":")" + std::to_string(10 + i) +
         R"(","annotations":{"q":"a \"quoted\" {brace} [x] \\"}}}})" + "\n";
  }
  return s;
}

TEST(WatchDecoder, DecodesTheSameWhereverTheStreamIsSplit) {
  const std::string s = stream_of(3);
  for (std::size_t cut1 = 0; cut1 <= s.size(); cut1 += 7) {
    for (std::size_t cut2 = cut1; cut2 <= s.size(); cut2 += 13) {
      watch_decoder d;
      std::vector<std::string> names;
      const auto on = [&](const watch_event& e) { names.emplace_back(e.obj->name()); };
      d.feed(std::string_view(s).substr(0, cut1), on);
      d.feed(std::string_view(s).substr(cut1, cut2 - cut1), on);
      d.feed(std::string_view(s).substr(cut2), on);
      ASSERT_EQ(names, (std::vector<std::string>{"p0", "p1", "p2"})) << cut1 << " " << cut2;
      EXPECT_EQ(d.buffered(), 0u);
    }
  }
  watch_decoder d;
  int n = 0;
  for (const char c : s)
    d.feed(std::string_view(&c, 1), [&](const watch_event& e) {
      EXPECT_EQ(e.obj->annotation("q"), "a \"quoted\" {brace} [x] \\");
      ++n;
    });
  EXPECT_EQ(n, 3);
}

TEST(WatchDecoder, ErrorEventsAndMalformedStreams) {
  watch_decoder d;
  const auto ignore = [](const watch_event&) {};
  try {
    d.feed(R"x({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)x"
           R"x("message":"too old resource version: 1 (5)","reason":"Expired","code":410}})x",
           ignore);
    ADD_FAILURE();
  } catch (const api_error& e) {
    EXPECT_TRUE(e.expired());
    EXPECT_EQ(e.code(), 410u);
    EXPECT_EQ(e.message(), "too old resource version: 1 (5)");
  }
  const auto throws_watch_error = [&](std::string_view in, std::string_view needle) {
    watch_decoder fresh;
    try {
      fresh.feed(in, ignore);
      ADD_FAILURE() << in;
    } catch (const watch_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  throws_watch_error("<html>", "expected a JSON object");
  throws_watch_error(R"({"type":"ADDED"})", "\"object\"");
  throws_watch_error(R"({"object":{}})", "\"type\"");
  throws_watch_error(R"({"type":"RENAMED","object":{}})", "unknown type");
  throws_watch_error(R"({"type":"ADDED","object":{"a":tru}})", "not valid JSON");
  watch_decoder small(100);
  try {
    small.feed(stream_of(1), ignore);
    ADD_FAILURE();
  } catch (const watch_error& e) {
    EXPECT_NE(std::string(e.what()).find("100"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace operant::kube

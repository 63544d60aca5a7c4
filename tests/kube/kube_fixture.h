// Shared by the kube tests: a loopback API server over TLS with token authentication, and a
// config (as a kubeconfig would give) pointing at it.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fake_apiserver.h"
#include "operant/kube/client.h"
#include "operant/kube/config.h"
#include "operant/metrics/registry.h"

namespace operant::kube::test {

inline const char* const test_token = "operant-test-token";

inline fake_apiserver_options server_options() {
  fake_apiserver_options o;
  o.tokens = {test_token};
  o.bookmark_interval = std::chrono::milliseconds(200);
  return o;
}

inline config config_for(const fake_apiserver& srv) {
  config c;
  c.server = srv.url();
  c.ca_pem = srv.ca_pem();
  c.bearer_token = test_token;
  c.namespace_ = "default";
  c.qps = -1;  // tests are not rate-limited unless they ask
  c.source = "test";
  return c;
}

inline nlohmann::json pod(const std::string& ns, const std::string& name,
                          const std::map<std::string, std::string>& labels = {}) {
  nlohmann::json p = {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", {{"name", name}, {"namespace", ns}}},
                      {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  for (const auto& [k, v] : labels) p["metadata"]["labels"][k] = v;
  return p;
}

inline std::string pods_path(const std::string& ns) { return "/api/v1/namespaces/" + ns + "/pods"; }

class KubeTest : public ::testing::Test {
 protected:
  explicit KubeTest(fake_apiserver_options o = server_options()) : srv(std::move(o)) {}
  fake_apiserver srv;
  metrics::registry reg;
  rest_client api{config_for(srv), rest_options{.registry = &reg}};
};

}  // namespace operant::kube::test

// libFuzzer target for the Kubernetes watch-stream decoder (operant::kube::watch_decoder).
//
// Input layout: byte 0 = k (k & 15 chunk-length bytes follow, each + 1, used cyclically to cut
// the stream; k = 0: one piece), then the stream.
//
// Checked, beyond "no crash, no sanitizer report": the decoder throws only watch_error or
// api_error (an ERROR event); every event carries an object; and the split does not matter: the
// same stream fed in one piece yields the same events and the same outcome.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "operant/kube/client.h"

namespace {

struct outcome {
  std::vector<std::string> events;  // type + object dump
  std::string error;                // "watch_error" / "api_error <code>" / ""
};

outcome run(std::string_view stream, const std::vector<std::size_t>& cuts) {
  operant::kube::watch_decoder d(4096);
  outcome o;
  const auto on = [&](const operant::kube::watch_event& e) {
    if (!e.obj) std::abort();
    o.events.push_back(std::to_string(static_cast<int>(e.type)) + e.obj->json().dump());
  };
  try {
    std::size_t pos = 0, i = 0;
    while (pos < stream.size()) {
      const std::size_t n = cuts.empty() ? stream.size() : cuts[i++ % cuts.size()];
      d.feed(stream.substr(pos, n), on);
      pos += n;
    }
  } catch (const operant::kube::watch_error&) {
    o.error = "watch_error";
  } catch (const operant::kube::api_error& e) {
    o.error = "api_error " + std::to_string(e.code());
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t k = data[0] & 15u;
  if (size < 1 + k) return 0;
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < k; ++i) cuts.push_back(static_cast<std::size_t>(data[1 + i]) + 1);
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1 + k, size - 1 - k);
  const outcome split = run(stream, cuts);
  const outcome whole = run(stream, {});
  // An error ends the stream where it is found, so events before it must agree.
  if (split.error != whole.error) std::abort();
  if (split.events != whole.events) std::abort();
  return 0;
}

// libFuzzer target for the HTTP client's response reading (operant::http::detail::response_reader,
// src/http/wire.h): what any server, or anything pretending to be one, may send back.
//
// Input layout: byte 0 = flags (bit 0: HEAD request, bits 1-2: body limit {none, 64, 4096,
// 1 MiB}, bit 3: the connection closes after the bytes), byte 1 = k (k & 15 chunk-length bytes
// follow, each + 1, used cyclically to cut the stream; k = 0: one piece), then the bytes.
//
// Checked, beyond "no crash, no sanitizer report, no exception": a failed reader has a message;
// a complete one has a status of 200-999 (1xx interim answers are skipped, except 101) and a
// body within the limit (none for HEAD); and the split does not matter: the same bytes fed in
// one piece give the same state, status, headers and body (but malformed input may be refused
// earlier one way than the other, while the other still waits for bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/wire.h"

namespace {

using operant::http::detail::response_limits;
using operant::http::detail::response_reader;

struct result {
  response_reader::state st;
  unsigned status = 0;
  std::vector<std::string> headers;
  std::string body;
};

result run(std::string_view in, const std::vector<std::size_t>& cuts, response_limits limits,
           bool head, bool eof) {
  response_reader r(limits, head);
  result out;
  std::size_t pos = 0, i = 0;
  while (pos < in.size()) {
    const std::size_t n = cuts.empty() ? in.size() : cuts[i++ % cuts.size()];
    r.feed(in.substr(pos, n), out.body);
    pos += n;
  }
  if (eof) r.finish(out.body);
  out.st = r.status();
  if (out.st == response_reader::state::failed && r.error_message().empty()) std::abort();
  if (r.header_done()) {
    out.status = r.status_code();
    for (const auto& h : r.headers()) out.headers.push_back(h.name + ": " + h.value);
  }
  if (out.st == response_reader::state::complete) {
    if (out.status < 200 && out.status != 101) std::abort();
    if (out.status > 999) std::abort();
    if (head && !out.body.empty()) std::abort();
    if (limits.max_body_bytes != 0 && out.body.size() > limits.max_body_bytes) std::abort();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool head = data[0] & 1u;
  static constexpr std::size_t limits[] = {0, 64, 4096, 1024 * 1024};
  response_limits lim;
  lim.max_header_bytes = 8192;
  lim.max_body_bytes = limits[(data[0] >> 1) & 3u];
  const bool eof = (data[0] >> 3) & 1u;
  const std::size_t k = data[1] & 15u;
  if (size < 2 + k) return 0;
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < k; ++i) cuts.push_back(static_cast<std::size_t>(data[2 + i]) + 1);
  const std::string_view in(reinterpret_cast<const char*>(data) + 2 + k, size - 2 - k);
  const result split = run(in, cuts, lim, head, eof);
  const result whole = run(in, {}, lim, head, eof);
  // Failed against still-waiting is the same verdict reached at a different moment: Beast may
  // refuse a malformed start line or chunk header as soon as it has it, or only once more bytes
  // are in, depending on how they arrived; a reader still waiting fails at the close anyway.
  // Anything else must agree exactly.
  using st = response_reader::state;
  if ((split.st == st::failed && whole.st == st::need_more) ||
      (split.st == st::need_more && whole.st == st::failed)) {
    return 0;
  }
  // Both refused: which fault was seen first (and so what the head held then) may differ.
  if (split.st == st::failed && whole.st == st::failed) return 0;
  if (split.st != whole.st || split.status != whole.status || split.headers != whole.headers)
    std::abort();
  if (split.st == st::complete && split.body != whole.body) std::abort();
  if (split.st == st::need_more) {
    // Still waiting: up to 4 bytes that look like the start of the last chunk may be held back
    // (see chunk_tail_pending in wire.cpp) until more arrive; what was delivered must agree.
    const std::string& a = split.body.size() <= whole.body.size() ? split.body : whole.body;
    const std::string& b = split.body.size() <= whole.body.size() ? whole.body : split.body;
    if (b.compare(0, a.size(), a) != 0 || b.size() - a.size() >= 5) std::abort();
  }
  return 0;
}

// request_reader: the server's one request parser, fed byte by byte, pipelined and hostile.
#include <gtest/gtest.h>

#include "http/wire.h"

namespace operant::http::detail {
namespace {

using state = request_reader::state;

TEST(RequestReader, ParsesAGetSplitAtEveryByte) {
  const std::string raw =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\nAccept-Encoding: gzip\r\n\r\n";
  for (std::size_t split = 0; split <= raw.size(); ++split) {
    request_reader r({});
    r.feed(std::string_view(raw).substr(0, split));
    ASSERT_EQ(r.feed(std::string_view(raw).substr(split)), state::complete) << split;
    EXPECT_TRUE(r.keep_alive());
    const request q = r.take();
    EXPECT_EQ(q.method, "GET");
    EXPECT_EQ(q.target, "/metrics?x=1");
    EXPECT_EQ(q.path(), "/metrics");
    EXPECT_EQ(q.query(), "x=1");
    EXPECT_EQ(q.header("accept-encoding"), "gzip");
    EXPECT_EQ(q.header("Missing"), "");
  }
}

TEST(RequestReader, ByteAtATime) {
  const std::string raw = "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  request_reader r({});
  state st = state::need_more;
  for (char c : raw) st = r.feed(std::string_view(&c, 1));
  ASSERT_EQ(st, state::complete);
  EXPECT_EQ(r.take().body, "hello");
}

TEST(RequestReader, PipelinedRequestsComeOutOneByOne) {
  request_reader r({});
  ASSERT_EQ(r.feed("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.0\r\n\r\n"),
            state::complete);
  EXPECT_EQ(r.take().target, "/a");
  ASSERT_EQ(r.feed({}), state::complete);
  EXPECT_EQ(r.take().target, "/b");
  ASSERT_EQ(r.feed({}), state::complete);
  EXPECT_FALSE(r.keep_alive());  // HTTP/1.0 without keep-alive
  EXPECT_EQ(r.take().target, "/c");
  EXPECT_EQ(r.feed({}), state::need_more);
  EXPECT_FALSE(r.has_partial());
}

TEST(RequestReader, ChunkedBody) {
  request_reader r({});
  ASSERT_EQ(r.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
            state::complete);
  EXPECT_EQ(r.take().body, "abcde");
}

TEST(RequestReader, ConnectionCloseAndHead) {
  request_reader r({});
  ASSERT_EQ(r.feed("HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n"), state::complete);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(r.head());
}

TEST(RequestReader, ExpectContinueIsReportedBeforeTheBody) {
  request_reader r({});
  ASSERT_EQ(r.feed("PUT / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"), state::need_more);
  EXPECT_TRUE(r.header_done());
  EXPECT_TRUE(r.expects_continue());
  ASSERT_EQ(r.feed("abc"), state::complete);
  EXPECT_FALSE(r.expects_continue());
}

struct failure {
  std::string raw;
  unsigned status;
  std::string message;
};

TEST(RequestReader, FailuresCarryStatusAndReason) {
  const request_limits limits{.max_header_bytes = 300, .max_body_bytes = 10};
  const failure cases[] = {
      {"GARBAGE\r\n\r\n", 400, "malformed request: bad method"},
      {"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "malformed request: bad field"},
      {"GET / HTTP/1.1\r\nX: " + std::string(400, 'x') + "\r\n\r\n", 431,
       "request header fields larger than 300 bytes"},
      {"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413,
       "request body larger than the limit of 10 bytes"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n", 413,
       "request body larger than the limit of 10 bytes"},
      {"GET h\xff\xff HTTP/1.1\r\n\r\n", 400,
       "malformed request: invalid request-target: expected /path, * or an absolute URL"},
      {"GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported: expected HTTP/1.0 or HTTP/1.1"},
      {"GET / HTTP/1.2\r\n\r\n", 505, "HTTP version not supported: expected HTTP/1.0 or HTTP/1.1"},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
       "malformed request: multiple Content-Length"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
       "unsupported Transfer-Encoding \"gzip\": expected chunked as the last coding"},
  };
  for (const failure& f : cases) {
    request_reader r(limits);
    EXPECT_EQ(r.feed(f.raw), state::failed) << f.raw;
    EXPECT_EQ(r.error_status(), f.status) << f.raw;
    EXPECT_EQ(r.error_message(), f.message) << f.raw;
    EXPECT_EQ(r.feed("GET / HTTP/1.1\r\n\r\n"), state::failed);  // stays failed
  }
}

TEST(RequestReader, BodyAndPipelinedBytesDoNotCountAsHeader) {
  // Header split across two reads, then a body far larger than the header limit.
  request_reader r({.max_header_bytes = 300, .max_body_bytes = 100000});
  ASSERT_EQ(r.feed("POST /p HTTP/1.1\r\nContent-Le"), state::need_more);
  ASSERT_EQ(r.feed("ngth: 20000\r\n\r\n" + std::string(20000, 'b')), state::complete);
  EXPECT_EQ(r.take().body.size(), 20000u);
  // 1000 pipelined GETs in one read.
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "GET /" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  ASSERT_EQ(r.feed(many), state::complete);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(r.feed({}), state::complete) << i;
    EXPECT_EQ(r.take().target, "/" + std::to_string(i));
  }
}

TEST(RequestReader, LastChunkInPiecesParses) {
  const std::string raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  request_reader r({});
  state st = state::need_more;
  for (char c : raw) st = r.feed(std::string_view(&c, 1));
  ASSERT_EQ(st, state::complete);
  EXPECT_EQ(r.take().body, "abc");
}

TEST(RequestReader, HeaderLimitHoldsForDribbledBytes) {
  request_reader r({.max_header_bytes = 300, .max_body_bytes = 10});
  state st = state::need_more;
  const std::string line = "GET / HTTP/1.1\r\n";
  st = r.feed(line);
  for (int i = 0; i < 1000 && st == state::need_more; ++i) st = r.feed("X-A: b\r\n");
  EXPECT_EQ(st, state::failed);
  EXPECT_EQ(r.error_status(), 431u);
}

TEST(WriteHead, StatusLineHeadersAndLength) {
  response r = response::json(201, "{}");
  r.headers.push_back({"X-A", "1"});
  std::map<std::string, std::string, std::less<>> extra{{"X-Frame-Options", "deny"}};
  std::string out;
  write_head(out, r, 2, false, &extra);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 201 Created\r\nDate: "));
  EXPECT_NE(out.find(" GMT\r\nContent-Type: application/json\r\nX-A: 1\r\nX-Frame-Options: deny\r\n"
                     "Content-Length: 2\r\nConnection: close\r\n\r\n"),
            std::string::npos)
      << out;
  out.clear();
  write_head(out, response{}, 0, true, nullptr);
  EXPECT_NE(out.find("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n"), std::string::npos);
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(299), "Unknown");
}

}  // namespace
}  // namespace operant::http::detail

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "operant/controller/logger.h"
#include "test_util.h"

namespace operant::controller {
namespace {

TEST(logfmt_logger, formats_level_message_and_fields_in_order) {
  const log_field fields[] = {{"key", "default/a"}, {"error", "boom bang"}, {"n", 3},
                              {"ok", true},         {"ratio", 0.5},         {"empty", ""}};
  EXPECT_EQ(logfmt_logger::format(log_level::error, "handler failed", fields),
            R"(level=error msg="handler failed" key=default/a error="boom bang" n=3 ok=true ratio=0.5 empty="")");
}

TEST(logfmt_logger, escapes_quotes_backslashes_and_control_characters) {
  const log_field fields[] = {{"v", "say \"hi\"\\\n\x01"}, {"eq", "a=b"}};
  EXPECT_EQ(logfmt_logger::format(log_level::info, "m", fields),
            R"(level=info msg=m v="say \"hi\"\\\n\u0001" eq="a=b")");
}

TEST(logfmt_logger, writes_one_timestamped_line_and_filters_levels) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  logfmt_logger log(f, log_level::warning);
  EXPECT_FALSE(log.enabled(log_level::info));
  log.info("dropped");
  log.warning("kept", {{"k", "v"}});
  std::rewind(f);
  char buf[256] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string out(buf, n);
  ASSERT_EQ(out.rfind("time=", 0), 0u) << out;
  // time=YYYY-MM-DDTHH:MM:SS.mmmZ is 29 characters.
  EXPECT_EQ(out.substr(29), " level=warning msg=kept k=v\n");
  EXPECT_EQ(out[28], 'Z');
}

TEST(logger_with_fields, prepends_its_fields) {
  auto inner = std::make_shared<testing::capturing_logger>();
  logger_with_fields log(inner, {{"controller", "pods"}});
  log.info("hello", {{"key", "a"}});
  const auto e = inner->entries();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "hello");
  EXPECT_EQ(e[0].fields, (std::vector<std::pair<std::string, std::string>>{{"controller", "pods"}, {"key", "a"}}));
}

TEST(nop_logger, is_disabled_at_every_level) {
  nop_logger log;
  for (auto l : {log_level::debug, log_level::info, log_level::warning, log_level::error}) {
    EXPECT_FALSE(log.enabled(l));
  }
  log.error("nothing happens");
}

}  // namespace
}  // namespace operant::controller

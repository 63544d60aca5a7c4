#include <gtest/gtest.h>

#include <thread>

#include "operant/controller/retriever.h"
#include "test_util.h"

namespace operant::controller {
namespace {

using testing::eventually;
using testing::make_object;

TEST(memory_retriever, stores_objects_with_increasing_resource_versions) {
  memory_retriever s;
  EXPECT_EQ(s.add(make_object("ns", "a"))->resource_version(), "1");
  EXPECT_EQ(s.add(make_object("ns", "b"))->resource_version(), "2");
  EXPECT_EQ(s.update(make_object("ns", "a", "2"))->resource_version(), "3");
  EXPECT_EQ(s.get("ns/a")->label("v"), "2");
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.remove("ns/a"));
  EXPECT_FALSE(s.remove("ns/a"));
  EXPECT_EQ(s.get("ns/a"), nullptr);
  const list_result l = s.list({});
  ASSERT_EQ(l.items.size(), 1u);
  EXPECT_EQ(l.items[0]->key(), "ns/b");
  EXPECT_EQ(l.resource_version, "4");
}

TEST(memory_retriever, add_existing_update_missing_and_nameless_objects_throw) {
  memory_retriever s;
  s.add(make_object("ns", "a"));
  EXPECT_THROW(s.add(make_object("ns", "a")), std::invalid_argument);
  EXPECT_THROW(s.update(make_object("ns", "b")), std::invalid_argument);
  EXPECT_THROW(s.add(object()), std::invalid_argument);
}

TEST(memory_retriever, watch_delivers_changes_after_the_version_in_order) {
  memory_retriever s;
  s.add(make_object("ns", "a"));
  const std::string rv = s.list({}).resource_version;  // "1"
  s.update(make_object("ns", "a", "2"));
  s.add(make_object("ns", "b"));
  s.remove("ns/a");

  std::vector<std::pair<watch_event_type, std::string>> seen;
  std::stop_source stop;
  std::thread w([&] {
    s.watch(rv, [&](const watch_event& e) {
      seen.emplace_back(e.type, std::string(e.obj->key()) + "@" + std::string(e.obj->resource_version()));
      if (seen.size() == 4) stop.request_stop();
    }, stop.get_token());
  });
  ASSERT_TRUE(eventually([&] { return s.watchers() == 1 || stop.stop_requested(); }));
  s.add(make_object("ns", "c"));  // version 5, delivered while watching
  w.join();
  const std::vector<std::pair<watch_event_type, std::string>> expected{
      {watch_event_type::modified, "ns/a@2"},
      {watch_event_type::added, "ns/b@3"},
      {watch_event_type::deleted, "ns/a@2"},  // the last stored object
      {watch_event_type::added, "ns/c@5"}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(s.watchers(), 0u);
}

TEST(memory_retriever, watch_from_an_expired_version_returns_so_the_caller_relists) {
  memory_retriever s(2);  // keeps 2 events
  for (const char* n : {"a", "b", "c", "d"}) s.add(make_object("ns", n));
  int events = 0;
  s.watch("1", [&](const watch_event&) { ++events; }, {});  // returns at once
  EXPECT_EQ(events, 0);
  EXPECT_THROW(s.watch("x1", [](const watch_event&) {}, {}), std::invalid_argument);
}

TEST(memory_retriever, watch_returns_when_stopped) {
  memory_retriever s;
  std::stop_source stop;
  std::thread w([&] { s.watch("0", [](const watch_event&) {}, stop.get_token()); });
  ASSERT_TRUE(eventually([&] { return s.watchers() == 1; }));
  stop.request_stop();
  w.join();
  EXPECT_EQ(s.watchers(), 0u);
}

}  // namespace
}  // namespace operant::controller

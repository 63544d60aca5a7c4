#include <gtest/gtest.h>

#include "operant/controller/object.h"

namespace operant::controller {
namespace {

TEST(object, reads_metadata_through_typed_accessors) {
  const object o = object::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"namespace": "default", "name": "web-0", "uid": "1234-abcd",
                 "resourceVersion": "42",
                 "labels": {"app": "web", "tier": "front"},
                 "annotations": {"note": "hello", "count": 3}},
    "spec": {"nodeName": "node-1"}})");
  EXPECT_EQ(o.namespace_(), "default");
  EXPECT_EQ(o.name(), "web-0");
  EXPECT_EQ(o.uid(), "1234-abcd");
  EXPECT_EQ(o.resource_version(), "42");
  EXPECT_EQ(o.key(), "default/web-0");
  EXPECT_EQ(o.labels(), (std::map<std::string, std::string>{{"app", "web"}, {"tier", "front"}}));
  EXPECT_EQ(o.annotations(), (std::map<std::string, std::string>{{"note", "hello"}}));  // non-string skipped
  EXPECT_EQ(o.label("app"), "web");
  EXPECT_EQ(o.label("missing"), std::nullopt);
  EXPECT_EQ(o.annotation("note"), "hello");
  EXPECT_EQ(o.annotation("count"), std::nullopt);
  EXPECT_EQ(o.json()["spec"]["nodeName"], "node-1");
}

TEST(object, cluster_scoped_key_is_the_name) {
  object o;
  o.set_name("node-1");
  EXPECT_EQ(o.key(), "node-1");
  EXPECT_EQ(o.namespace_(), "");
}

TEST(object, missing_or_mistyped_metadata_reads_as_empty) {
  EXPECT_EQ(object().name(), "");
  EXPECT_EQ(object::parse(R"({"metadata": 3})").name(), "");
  EXPECT_EQ(object::parse(R"({"metadata": {"name": 7}})").name(), "");
  EXPECT_TRUE(object::parse(R"({"metadata": {"labels": []}})").labels().empty());
}

TEST(object, key_of_an_object_without_name_throws) {
  EXPECT_THROW(object().key(), std::invalid_argument);
  object o;
  o.set_namespace("default");
  EXPECT_THROW(o.key(), std::invalid_argument);
}

TEST(object, setters_build_metadata) {
  object o;
  o.set_namespace("ns").set_name("a").set_uid("u").set_resource_version("7").set_label("x", "1")
      .set_annotation("y", "2");
  EXPECT_EQ(o.json(), nlohmann::json::parse(R"({"metadata": {"namespace": "ns", "name": "a",
      "uid": "u", "resourceVersion": "7", "labels": {"x": "1"}, "annotations": {"y": "2"}}})"));
}

TEST(object, rejects_malformed_json_and_non_objects) {
  EXPECT_THROW(object::parse("{"), std::invalid_argument);
  EXPECT_THROW(object::parse("[1, 2]"), std::invalid_argument);
  EXPECT_THROW(object(nlohmann::json("text")), std::invalid_argument);
  try {
    object::parse("[]");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "object: expected a JSON object, got array");
  }
}

TEST(keys, split_and_make_follow_client_go) {
  EXPECT_EQ(make_key("ns", "a"), "ns/a");
  EXPECT_EQ(make_key("", "a"), "a");
  EXPECT_EQ(split_key("ns/a"), (std::pair<std::string_view, std::string_view>{"ns", "a"}));
  EXPECT_EQ(split_key("a"), (std::pair<std::string_view, std::string_view>{"", "a"}));
  EXPECT_THROW(split_key("a/b/c"), std::invalid_argument);
  EXPECT_THROW(split_key("ns/"), std::invalid_argument);
  EXPECT_THROW(split_key(""), std::invalid_argument);
}

}  // namespace
}  // namespace operant::controller

// operant/controller/object.h — the object a controller handles: a JSON document with typed
// accessors for the Kubernetes metadata a controller needs.
//
// An object is what `kube` decodes a Kubernetes resource into, and what the in-memory retriever
// stores. The document is kept whole (spec, status, anything else) in an nlohmann::json value;
// the accessors read `metadata.*` without copying:
//
//   operant::controller::object pod = operant::controller::object::parse(R"({
//     "apiVersion": "v1", "kind": "Pod",
//     "metadata": {"namespace": "default", "name": "web-0", "labels": {"app": "web"}}})");
//   pod.key();                 // "default/web-0"
//   pod.label("app");          // "web"
//   pod.json()["spec"]["nodeName"] = "node-1";
//
// Objects are values (copying copies the document). Controllers share them immutably as
// object_ptr (std::shared_ptr<const object>), so a worker reads the object the cache holds without
// copying it. Why nlohmann::json: docs/design-json.md.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace operant::controller {

class object {
 public:
  // An empty document: `{}`.
  object() : doc_(nlohmann::json::object()) {}
  // Takes `doc` as the document. Throws std::invalid_argument unless it is a JSON object.
  explicit object(nlohmann::json doc);
  // Parses JSON text. Throws std::invalid_argument with the parser's message on malformed input
  // or when the text is not a JSON object.
  static object parse(std::string_view text);

  const nlohmann::json& json() const noexcept { return doc_; }
  nlohmann::json& json() noexcept { return doc_; }

  // metadata.namespace, metadata.name, metadata.uid, metadata.resourceVersion; "" when absent or
  // not a string. Views stay valid until the object is modified or destroyed.
  std::string_view namespace_() const noexcept { return meta_string("namespace"); }
  std::string_view name() const noexcept { return meta_string("name"); }
  std::string_view uid() const noexcept { return meta_string("uid"); }
  std::string_view resource_version() const noexcept { return meta_string("resourceVersion"); }

  // metadata.labels / metadata.annotations as a sorted map (string values only; others skipped).
  std::map<std::string, std::string> labels() const { return meta_map("labels"); }
  std::map<std::string, std::string> annotations() const { return meta_map("annotations"); }
  // One label or annotation; nullopt when absent.
  std::optional<std::string_view> label(std::string_view name) const noexcept {
    return meta_map_value("labels", name);
  }
  std::optional<std::string_view> annotation(std::string_view name) const noexcept {
    return meta_map_value("annotations", name);
  }

  // client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" for cluster-scoped objects.
  // Throws std::invalid_argument when metadata.name is empty or missing.
  std::string key() const;

  // Setters for building objects (tests, generators, the in-memory retriever). Each creates
  // `metadata` (and `labels` / `annotations`) when missing and returns *this.
  object& set_namespace(std::string_view ns);
  object& set_name(std::string_view name);
  object& set_uid(std::string_view uid);
  object& set_resource_version(std::string_view version);
  object& set_label(std::string_view name, std::string_view value);
  object& set_annotation(std::string_view name, std::string_view value);

  friend bool operator==(const object& a, const object& b) { return a.doc_ == b.doc_; }

 private:
  std::string_view meta_string(const char* field) const noexcept;
  std::map<std::string, std::string> meta_map(const char* field) const;
  std::optional<std::string_view> meta_map_value(const char* field,
                                                 std::string_view name) const noexcept;
  nlohmann::json& metadata();

  nlohmann::json doc_;
};

// How controllers share objects: immutable and reference-counted.
using object_ptr = std::shared_ptr<const object>;

// Builds a key from namespace and name as object::key() does.
std::string make_key(std::string_view ns, std::string_view name);
// client-go's SplitMetaNamespaceKey: {namespace, name}; namespace is empty for "name". Throws
// std::invalid_argument for a key with more than one '/' or an empty name.
std::pair<std::string_view, std::string_view> split_key(std::string_view key);

}  // namespace operant::controller

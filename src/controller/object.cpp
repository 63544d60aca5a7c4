#include "operant/controller/object.h"

#include <stdexcept>

namespace operant::controller {

object::object(nlohmann::json doc) : doc_(std::move(doc)) {
  if (!doc_.is_object()) {
    throw std::invalid_argument(std::string("object: expected a JSON object, got ") +
                                doc_.type_name());
  }
}

object object::parse(std::string_view text) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(std::string("object: malformed JSON: ") + e.what());
  }
  return object(std::move(doc));
}

std::string_view object::meta_string(const char* field) const noexcept {
  auto m = doc_.find("metadata");
  if (m == doc_.end() || !m->is_object()) return {};
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return {};
  return f->get_ref<const std::string&>();
}

std::map<std::string, std::string> object::meta_map(const char* field) const {
  std::map<std::string, std::string> out;
  auto m = doc_.find("metadata");
  if (m == doc_.end() || !m->is_object()) return out;
  auto f = m->find(field);
  if (f == m->end() || !f->is_object()) return out;
  for (auto it = f->begin(); it != f->end(); ++it) {
    if (it.value().is_string()) out.emplace(it.key(), it.value().get_ref<const std::string&>());
  }
  return out;
}

std::optional<std::string_view> object::meta_map_value(const char* field,
                                                       std::string_view name) const noexcept {
  auto m = doc_.find("metadata");
  if (m == doc_.end() || !m->is_object()) return std::nullopt;
  auto f = m->find(field);
  if (f == m->end() || !f->is_object()) return std::nullopt;
  auto v = f->find(name);
  if (v == f->end() || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_ref<const std::string&>());
}

std::string object::key() const {
  const std::string_view n = name();
  if (n.empty()) {
    throw std::invalid_argument("object has no metadata.name, so it has no key");
  }
  return make_key(namespace_(), n);
}

nlohmann::json& object::metadata() {
  nlohmann::json& m = doc_["metadata"];
  if (!m.is_object()) m = nlohmann::json::object();
  return m;
}

object& object::set_namespace(std::string_view ns) {
  metadata()["namespace"] = std::string(ns);
  return *this;
}
object& object::set_name(std::string_view name) {
  metadata()["name"] = std::string(name);
  return *this;
}
object& object::set_uid(std::string_view uid) {
  metadata()["uid"] = std::string(uid);
  return *this;
}
object& object::set_resource_version(std::string_view version) {
  metadata()["resourceVersion"] = std::string(version);
  return *this;
}
object& object::set_label(std::string_view name, std::string_view value) {
  nlohmann::json& l = metadata()["labels"];
  if (!l.is_object()) l = nlohmann::json::object();
  l[std::string(name)] = std::string(value);
  return *this;
}
object& object::set_annotation(std::string_view name, std::string_view value) {
  nlohmann::json& a = metadata()["annotations"];
  if (!a.is_object()) a = nlohmann::json::object();
  a[std::string(name)] = std::string(value);
  return *this;
}

std::string make_key(std::string_view ns, std::string_view name) {
  std::string k;
  if (!ns.empty()) {
    k.reserve(ns.size() + 1 + name.size());
    k.append(ns).push_back('/');
  }
  k.append(name);
  return k;
}

std::pair<std::string_view, std::string_view> split_key(std::string_view key) {
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) {
    if (key.empty()) throw std::invalid_argument("key is empty");
    return {{}, key};
  }
  const std::string_view ns = key.substr(0, slash), name = key.substr(slash + 1);
  if (name.find('/') != std::string_view::npos || name.empty()) {
    throw std::invalid_argument("unexpected key format: \"" + std::string(key) +
                                "\" (expected \"name\" or \"namespace/name\")");
  }
  return {ns, name};
}

}  // namespace operant::controller

#include "operant/controller/handler.h"

#include <stdexcept>

#include "operant/controller/recorder.h"

namespace operant::controller {

handler_func::handler_func(handle_fn on_handle, delete_fn on_delete)
    : handle_(std::move(on_handle)), delete_(std::move(on_delete)) {
  if (!handle_) throw std::invalid_argument("handler_func: the handle function is required");
}

std::string_view to_string(event_type t) noexcept {
  switch (t) {
    case event_type::add: return "add";
    case event_type::delete_: return "delete";
    case event_type::requeue: return "requeue";
  }
  return "unknown";
}

namespace {
class nop_controller_recorder final : public controller_recorder {
 public:
  void queued(event_type, std::uint64_t) noexcept override {}
  void dequeued(std::chrono::nanoseconds) noexcept override {}
  void processed(event_type, bool, std::chrono::nanoseconds) noexcept override {}
};
}  // namespace

std::unique_ptr<controller_recorder> nop_recorder::bind(std::string_view, const controller_stats&) {
  return std::make_unique<nop_controller_recorder>();
}

}  // namespace operant::controller

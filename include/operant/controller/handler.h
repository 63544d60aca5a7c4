// operant/controller/handler.h — what a controller does with an object: your reconcile logic.
//
// A handler is level-based, as in Kooper v2 and controller-runtime: handle() receives the current
// object of a key whenever it was added, updated or resynced (and again after a failure), and
// must bring the world in line with it. handle_delete() receives the key and the last object the
// controller knew once the object is gone (Kooper v0 had deletes, v2 dropped them, its users asked
// for them back). A delete can be missed if the process is down when it happens; use finalizers
// where that matters.
//
// A handler reports failure by returning status::failure(...) or by throwing; either way the key
// is retried with backoff up to the controller's max_retries, logged with its key and counted as
// an error. A lambda is a handler through make_handler():
//
//   auto h = operant::controller::make_handler(
//       [](const operant::controller::context& ctx, const operant::controller::object& obj) {
//         if (ctx.stop_requested()) return operant::controller::status::failure("stopping");
//         return operant::controller::status::success();
//       },
//       [](const operant::controller::context&, std::string_view key,
//          const operant::controller::object& last) { return operant::controller::status::success(); });
#pragma once

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "operant/controller/logger.h"
#include "operant/controller/object.h"

namespace operant::controller {

// The outcome of handling one key (LevelDB's Status, reduced to what a controller needs).
class status {
 public:
  status() noexcept = default;  // success
  static status success() noexcept { return {}; }
  // A failure; the message is logged with the key.
  static status failure(std::string message) { return status(std::move(message)); }

  bool ok() const noexcept { return !failed_; }
  const std::string& message() const noexcept { return message_; }

 private:
  explicit status(std::string m) : failed_(true), message_(std::move(m)) {}
  bool failed_ = false;
  std::string message_;
};

// What a handler knows about the call it is serving. Valid only during the call.
class context {
 public:
  // `stop` must outlive the context (the controller passes the token of its run).
  context(const std::stop_token& stop, std::string_view controller, std::string_view key,
          unsigned retries, operant::controller::logger& log) noexcept
      : stop_(&stop), controller_(controller), key_(key), retries_(retries), log_(&log) {}

  // Requested when the controller stops or loses leadership: finish or abandon the work soon.
  const std::stop_token& stop_token() const noexcept { return *stop_; }
  bool stop_requested() const noexcept { return stop_->stop_requested(); }
  // The controller's name and the key being handled ("namespace/name").
  std::string_view controller() const noexcept { return controller_; }
  std::string_view key() const noexcept { return key_; }
  // How many times this key failed before this call (0 on a first attempt).
  unsigned retries() const noexcept { return retries_; }
  // The controller's logger, already carrying controller=<name>.
  operant::controller::logger& logger() const noexcept { return *log_; }

 private:
  const std::stop_token* stop_;  // a pointer: copying a token is two atomic operations per key
  std::string_view controller_;
  std::string_view key_;
  unsigned retries_;
  operant::controller::logger* log_;
};

class handler {
 public:
  virtual ~handler() = default;
  // Called for a key whose object exists: after an add, an update, a resync or a failure.
  // Called from worker threads; never for one key on two threads at once.
  virtual status handle(const context& ctx, const object& obj) = 0;
  // Called for a key whose object is gone, with the last object the controller saw. The default
  // does nothing and succeeds.
  virtual status handle_delete(const context& ctx, std::string_view key, const object& last_known) {
    (void)ctx, (void)key, (void)last_known;
    return status::success();
  }
};

// Does nothing and succeeds.
class nop_handler final : public handler {
 public:
  status handle(const context&, const object&) override { return status::success(); }
};

// A handler made of functions (Kooper's HandlerFunc). An empty on_delete means deletes succeed
// without a call.
class handler_func final : public handler {
 public:
  using handle_fn = std::function<status(const context&, const object&)>;
  using delete_fn = std::function<status(const context&, std::string_view, const object&)>;

  // Throws std::invalid_argument if `on_handle` is empty.
  explicit handler_func(handle_fn on_handle, delete_fn on_delete = {});
  status handle(const context& ctx, const object& obj) override { return handle_(ctx, obj); }
  status handle_delete(const context& ctx, std::string_view key, const object& last) override {
    return delete_ ? delete_(ctx, key, last) : status::success();
  }

 private:
  handle_fn handle_;
  delete_fn delete_;
};

inline std::shared_ptr<handler> make_handler(handler_func::handle_fn on_handle,
                                             handler_func::delete_fn on_delete = {}) {
  return std::make_shared<handler_func>(std::move(on_handle), std::move(on_delete));
}

}  // namespace operant::controller

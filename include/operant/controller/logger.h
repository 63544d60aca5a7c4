// operant/controller/logger.h — structured logging for controllers: a level, a message and
// key-value fields.
//
// The controller logs rarely and never per event on success: a handler failure (with its key),
// a requeue, a dropped key, a failed list or watch, leadership changes. Plug in your own logging
// library by implementing `logger` (two methods); the default writes logfmt lines to stderr:
//
//   time=2024-05-01T10:00:00.123Z level=error msg="handler failed" controller=pods key=default/web-0 error="boom"
//
//   auto log = std::make_shared<operant::controller::logfmt_logger>();   // stderr, info and up
//   log->info("starting", {{"workers", 2}, {"resync", "30s"}});
#pragma once

#include <concepts>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace operant::controller {

enum class log_level : std::uint8_t { debug, info, warning, error };

// "debug", "info", "warning", "error".
std::string_view to_string(log_level l) noexcept;

// One key-value pair. Values are formatted when the field is built (strings as they are, numbers
// in decimal, bools as true/false).
struct log_field {
  log_field(std::string_view k, std::string_view v) : key(k), value(v) {}
  log_field(std::string_view k, const char* v) : key(k), value(v) {}
  log_field(std::string_view k, const std::string& v) : key(k), value(v) {}
  log_field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <class T>
    requires(std::integral<T> && !std::same_as<T, bool>)
  log_field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
  log_field(std::string_view k, double v);

  std::string_view key;  // must outlive the call it is passed to
  std::string value;
};

class logger {
 public:
  virtual ~logger() = default;
  // False when messages at `level` are discarded; callers skip formatting fields then.
  virtual bool enabled(log_level level) const noexcept = 0;
  // Writes one entry. Must be safe to call from several threads at once and must not throw.
  virtual void log(log_level level, std::string_view message,
                   std::span<const log_field> fields) noexcept = 0;

  void debug(std::string_view msg, std::initializer_list<log_field> f = {}) { emit(log_level::debug, msg, f); }
  void info(std::string_view msg, std::initializer_list<log_field> f = {}) { emit(log_level::info, msg, f); }
  void warning(std::string_view msg, std::initializer_list<log_field> f = {}) { emit(log_level::warning, msg, f); }
  void error(std::string_view msg, std::initializer_list<log_field> f = {}) { emit(log_level::error, msg, f); }

 private:
  void emit(log_level l, std::string_view msg, std::initializer_list<log_field> f) {
    if (enabled(l)) log(l, msg, std::span<const log_field>(f.begin(), f.size()));
  }
};

// Discards everything.
class nop_logger final : public logger {
 public:
  bool enabled(log_level) const noexcept override { return false; }
  void log(log_level, std::string_view, std::span<const log_field>) noexcept override {}
};

// One logfmt line per entry (time in UTC RFC 3339 with milliseconds, level, msg, then the
// fields in order), written with a single fwrite under a mutex so lines never interleave.
// Values with spaces, '=', '"', control characters or nothing at all are quoted and escaped.
class logfmt_logger final : public logger {
 public:
  // `out` must stay open while the logger lives (default stderr); entries below `min_level`
  // (default info) are discarded.
  explicit logfmt_logger(std::FILE* out = stderr, log_level min_level = log_level::info) noexcept
      : out_(out), min_(min_level) {}
  bool enabled(log_level level) const noexcept override { return level >= min_; }
  void log(log_level level, std::string_view message,
           std::span<const log_field> fields) noexcept override;

  // The line log() would write, without time= (for tests and for other sinks).
  static std::string format(log_level level, std::string_view message,
                            std::span<const log_field> fields);

 private:
  std::FILE* out_;
  log_level min_;
  std::mutex mu_;
};

// Adds fixed fields (e.g. controller=<name>) in front of every entry's own fields, then forwards
// to `inner` (Kooper's WithKV).
class logger_with_fields final : public logger {
 public:
  logger_with_fields(std::shared_ptr<logger> inner, std::vector<std::pair<std::string, std::string>> fields);
  bool enabled(log_level level) const noexcept override { return inner_->enabled(level); }
  void log(log_level level, std::string_view message,
           std::span<const log_field> fields) noexcept override;

 private:
  std::shared_ptr<logger> inner_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace operant::controller

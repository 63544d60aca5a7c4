#include "operant/controller/logger.h"

#include <charconv>
#include <chrono>
#include <ctime>

namespace operant::controller {

std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "unknown";
}

log_field::log_field(std::string_view k, double v) : key(k) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  value.assign(buf, r.ptr);
}

namespace {

bool needs_quotes(std::string_view v) noexcept {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '=' || c == '"' || c == 0x7f) return true;
  }
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (unsigned char c : v) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char hex[] = "0123456789abcdef";
          out.append("\\u00");
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_field(std::string& out, std::string_view k, std::string_view v) {
  out.push_back(' ');
  out.append(k);
  out.push_back('=');
  append_value(out, v);
}

}  // namespace

std::string logfmt_logger::format(log_level level, std::string_view message,
                                  std::span<const log_field> fields) {
  std::string line = "level=";
  line.append(to_string(level));
  append_field(line, "msg", message);
  for (const log_field& f : fields) append_field(line, f.key, f.value);
  return line;
}

void logfmt_logger::log(log_level level, std::string_view message,
                        std::span<const log_field> fields) noexcept {
  if (!enabled(level)) return;
  try {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[48];
    const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line = "time=";
    line.append(stamp, n);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ ", static_cast<int>(ms));
    line.append(frac);
    line.append(format(level, message, fields));
    line.push_back('\n');
    std::lock_guard lock(mu_);
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  } catch (...) {
    // Logging must never take the controller down (allocation failure while formatting).
  }
}

logger_with_fields::logger_with_fields(std::shared_ptr<logger> inner,
                                       std::vector<std::pair<std::string, std::string>> fields)
    : inner_(std::move(inner)), fields_(std::move(fields)) {}

void logger_with_fields::log(log_level level, std::string_view message,
                             std::span<const log_field> fields) noexcept {
  try {
    std::vector<log_field> all;
    all.reserve(fields_.size() + fields.size());
    for (const auto& [k, v] : fields_) all.emplace_back(k, v);
    for (const log_field& f : fields) all.push_back(f);
    inner_->log(level, message, all);
  } catch (...) {
  }
}

}  // namespace operant::controller

#include "operant/controller/clock.h"

#include <algorithm>
#include <stdexcept>

namespace operant::controller {

std::shared_ptr<clock> default_clock() {
  static const std::shared_ptr<clock> c = std::make_shared<system_clock>();
  return c;
}

void fake_clock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            time_point deadline) const {
  // advance() stores the new time before it calls the subscribers, and each subscriber takes the
  // waiter's mutex to notify: a waiter that saw the old time is already waiting when notified.
  if (now() >= deadline) return;
  cv.wait(lock);
}

std::uint64_t fake_clock::subscribe(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  subs_.emplace_back(id, std::move(wake));
  return id;
}

void fake_clock::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(subs_, [id](const auto& s) { return s.first == id; });
}

void fake_clock::advance(duration d) {
  if (d < duration::zero()) {
    throw std::invalid_argument("fake_clock::advance: negative duration " +
                                std::to_string(d.count()) + "ns");
  }
  std::lock_guard lock(mu_);
  now_.fetch_add(d.count());
  for (auto& [id, wake] : subs_) wake();
}

std::size_t fake_clock::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

}  // namespace operant::controller

// credentials: bearer tokens (static and rotated files), basic auth, and exec credential plugins
// run as client-go's plugin/pkg/client/auth/exec runs them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "config_internal.h"
#include "operant/kube/config.h"

extern char** environ;

namespace operant::kube {

namespace detail {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = s[i + k];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    i += n;
    return true;
  };
  auto expect = [&](auto pred) {
    if (i >= s.size() || !pred(s[i])) return false;
    ++i;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(4, year) || !expect([](char c) { return c == '-'; }) || !digits(2, month) ||
      !expect([](char c) { return c == '-'; }) || !digits(2, day) ||
      !expect([](char c) { return c == 'T' || c == 't'; }) || !digits(2, hour) ||
      !expect([](char c) { return c == ':'; }) || !digits(2, minute) ||
      !expect([](char c) { return c == ':'; }) || !digits(2, second))
    return std::nullopt;
  static constexpr int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return std::nullopt;
  const int max_day = month_days[month - 1] + (month == 2 && leap(year) ? 1 : 0);
  if (day < 1 || day > max_day || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  long long nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t start = i;
    long long scale = 100000000;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      nanos += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  int offset = 0;  // seconds east of UTC
  if (expect([](char c) { return c == 'Z' || c == 'z'; })) {
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!digits(2, oh) || !expect([](char c) { return c == ':'; }) || !digits(2, om) || oh > 23 ||
        om > 59)
      return std::nullopt;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const long long secs =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset;
  using tp = std::chrono::system_clock::time_point;
  // system_clock counts nanoseconds in 64 bits (years 1678..2262): clamp beyond that.
  constexpr long long limit =
      std::chrono::duration_cast<std::chrono::seconds>(tp::duration::max()).count() - 1;
  if (secs >= limit) return tp::max();
  if (secs <= -limit) return tp::min();
  return tp(std::chrono::duration_cast<tp::duration>(std::chrono::seconds(secs) +
                                                     std::chrono::nanoseconds(nanos)));
}

exec_credential parse_exec_credential(std::string_view json, std::string_view api_version,
                                      std::string_view who) {
  const std::string prefix(who);
  auto fail = [&](const std::string& what) -> void { throw config_error(prefix + ": " + what); };
  if (std::all_of(json.begin(), json.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
    fail("printed nothing on standard output (expected an ExecCredential)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    // e.what() quotes the input near the error, which may be the token: only the position.
    const auto* pe = dynamic_cast<const nlohmann::json::parse_error*>(&e);
    fail("output is not valid JSON" +
         (pe ? " (error at byte " + std::to_string(pe->byte) + ")" : std::string()) +
         "; expected an ExecCredential");
  }
  if (!j.is_object()) fail("output is not a JSON object (expected an ExecCredential)");
  auto string_field = [&](const nlohmann::json& obj, const char* key,
                          const std::string& path) -> std::string {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return {};
    if (!it->is_string()) {
      fail(path + " is not a string (got a JSON " + std::string(it->type_name()) + ")");
    }
    return it->get<std::string>();
  };
  const std::string kind = string_field(j, "kind", "kind");
  if (kind != "ExecCredential")
    fail("output has kind " + quote(kind) + " (expected \"ExecCredential\")");
  const std::string version = string_field(j, "apiVersion", "apiVersion");
  if (version != api_version) {
    fail("output has apiVersion " + quote(version) + " but the plugin is configured with " +
         quote(api_version));
  }
  const auto status = j.find("status");
  if (status == j.end() || status->is_null()) fail("output has no status");
  if (!status->is_object())
    fail("status is not an object (got a JSON " + std::string(status->type_name()) + ")");
  exec_credential cred;
  cred.token = string_field(*status, "token", "status.token");
  cred.client_certificate_data =
      string_field(*status, "clientCertificateData", "status.clientCertificateData");
  cred.client_key_data = string_field(*status, "clientKeyData", "status.clientKeyData");
  const std::string expiry =
      string_field(*status, "expirationTimestamp", "status.expirationTimestamp");
  if (!expiry.empty()) {
    cred.expiration = parse_rfc3339(expiry);
    if (!cred.expiration) {
      fail("status.expirationTimestamp " + quote(expiry) +
           " is not an RFC 3339 time (expected e.g. 2024-05-01T12:00:00Z)");
    }
  }
  if (cred.token.empty() && cred.client_certificate_data.empty() && cred.client_key_data.empty())
    fail("status has no token and no clientCertificateData/clientKeyData");
  if (cred.client_certificate_data.empty() != cred.client_key_data.empty()) {
    fail(cred.client_key_data.empty()
             ? "status has clientCertificateData but no clientKeyData (both or neither)"
             : "status has clientKeyData but no clientCertificateData (both or neither)");
  }
  return cred;
}

std::string exec_info(const config& c) {
  nlohmann::json spec = {{"interactive", false}};
  if (c.exec && c.exec->provide_cluster_info) {
    nlohmann::json cluster = {{"server", c.server}};
    if (!c.tls_server_name.empty()) cluster["tls-server-name"] = c.tls_server_name;
    if (c.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
    if (!c.ca_pem.empty()) cluster["certificate-authority-data"] = base64_encode(c.ca_pem);
    spec["cluster"] = std::move(cluster);
  }
  nlohmann::json info = {{"apiVersion", c.exec ? c.exec->api_version : std::string()},
                         {"kind", "ExecCredential"},
                         {"spec", std::move(spec)}};
  // A hand-built config may hold bytes that are not UTF-8: replaced, never thrown.
  return info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace detail

namespace {

using detail::quote;
using steady = std::chrono::steady_clock;

constexpr std::size_t k_max_stdout = std::size_t{1} << 20;
constexpr std::size_t k_stderr_kept = 2048;
constexpr auto k_token_file_reread = std::chrono::minutes(1);

std::string trim(std::string_view s) {
  const auto not_space = [](char c) { return !std::isspace(static_cast<unsigned char>(c)); };
  const auto b = std::find_if(s.begin(), s.end(), not_space);
  const auto e = std::find_if(s.rbegin(), s.rend(), not_space).base();
  return b < e ? std::string(b, e) : std::string();
}

// The end of a plugin's stderr, as one readable line for a message.
std::string stderr_note(const std::string& err) {
  std::string t = trim(err);
  if (t.empty()) return {};
  std::string out;
  if (t.size() > 400) {
    out = "...";
    t = t.substr(t.size() - 400);
  }
  for (const char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += " | ";
    } else if (c < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return "; stderr: " + out;
}

class fd_guard {
 public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  ~fd_guard() { reset(); }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct spawn_resources {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  bool have_actions = false, have_attr = false;
  ~spawn_resources() {
    if (have_actions) posix_spawn_file_actions_destroy(&actions);
    if (have_attr) posix_spawnattr_destroy(&attr);
  }
};

// Runs the plugin and returns its standard output; throws config_error.
std::string run_plugin(const config& cfg, std::chrono::milliseconds timeout) {
  const exec_config& x = *cfg.exec;
  const std::string who = "exec plugin " + quote(x.command);
  auto fail = [&](const std::string& what) -> void { throw config_error(who + ": " + what); };

  // The environment: inherited, then exec.env, then KUBERNETES_EXEC_INFO (later entries replace).
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  auto set_env = [&](const std::string& name, const std::string& value) {
    const std::string prefix = name + "=";
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const std::string& v) { return v.starts_with(prefix); }),
              env.end());
    env.push_back(prefix + value);
  };
  for (const auto& [name, value] : x.env) set_env(name, value);
  set_env("KUBERNETES_EXEC_INFO", detail::exec_info(cfg));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::vector<std::string> args{x.command};
  args.insert(args.end(), x.args.begin(), x.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    fail("cannot create a pipe: " + std::generic_category().message(errno));
  fd_guard out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    fail("cannot create a pipe: " + std::generic_category().message(errno));
  fd_guard err_r(err_pipe[0]), err_w(err_pipe[1]);

  spawn_resources sr;
  if (posix_spawn_file_actions_init(&sr.actions) != 0) fail("posix_spawn_file_actions_init failed");
  sr.have_actions = true;
  if (posix_spawnattr_init(&sr.attr) != 0) fail("posix_spawnattr_init failed");
  sr.have_attr = true;
  // No terminal (interactive is always false): stdin is /dev/null. dup2 clears close-on-exec on
  // the child's 1 and 2; the pipes' own descriptors close at exec.
  posix_spawn_file_actions_addopen(&sr.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&sr.actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&sr.actions, err_w.get(), 2);
  // The caller's thread may block signals or the program ignore SIGPIPE: the plugin gets defaults.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&sr.attr, &none);
  posix_spawnattr_setsigdefault(&sr.attr, &all);
  posix_spawnattr_setflags(&sr.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const bool search = x.command.find('/') == std::string::npos;
  const int rc =
      search
          ? posix_spawnp(&pid, x.command.c_str(), &sr.actions, &sr.attr, argv.data(), envp.data())
          : posix_spawn(&pid, x.command.c_str(), &sr.actions, &sr.attr, argv.data(), envp.data());
  if (rc != 0) {
    std::string msg = "cannot run: " + std::generic_category().message(rc);
    if (rc == ENOENT && search) msg += " (not found in $PATH)";
    if (!x.install_hint.empty()) msg += "; " + trim(x.install_hint);
    fail(msg);
  }
  out_w.reset();
  err_w.reset();
  for (const int fd : {out_r.get(), err_r.get()})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  std::string out, err;
  bool out_open = true, err_open = true, exited = false, too_big = false;
  int status = 0;
  const auto deadline = steady::now() + timeout;
  auto drain = [&](int fd, std::string& into, bool& open, bool is_out) {
    char buf[8192];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
        if (is_out && into.size() > k_max_stdout) {
          too_big = true;
          return;
        }
        if (!is_out && into.size() > 2 * k_stderr_kept) into.erase(0, into.size() - k_stderr_kept);
        continue;
      }
      if (n == 0) open = false;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) open = false;
      return;
    }
  };
  auto reap = [&](int flags) {
    for (;;) {
      const pid_t r = ::waitpid(pid, &status, flags);
      if (r == pid) return true;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {  // ECHILD: SIGCHLD is ignored and the child reaped itself
        status = 0;
        return true;
      }
      return false;
    }
  };
  auto kill_and_reap = [&] {
    ::kill(pid, SIGKILL);
    reap(0);
  };

  while ((out_open || err_open) && !exited && !too_big) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) {
      kill_and_reap();
      fail("did not finish within " + std::to_string(timeout.count()) + " ms (killed)" +
           stderr_note(err));
    }
    std::array<pollfd, 2> fds{
        {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}}};
    // Wake up now and then to notice a plugin that exited while a child of its own keeps the
    // pipes open.
    const int wait_ms = static_cast<int>(std::min<long long>(left.count(), 100));
    const int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) {
      kill_and_reap();
      fail("poll failed: " + std::generic_category().message(errno));
    }
    if (out_open && fds[0].revents != 0) drain(out_r.get(), out, out_open, true);
    if (err_open && fds[1].revents != 0) drain(err_r.get(), err, err_open, false);
    if (reap(WNOHANG)) {
      exited = true;
      if (out_open) drain(out_r.get(), out, out_open, true);
      if (err_open) drain(err_r.get(), err, err_open, false);
    }
  }
  if (too_big) {
    kill_and_reap();
    fail("printed more than " + std::to_string(k_max_stdout >> 20) +
         " MiB on standard output (expected an ExecCredential)");
  }
  // Both pipes closed: the plugin is exiting; wait for it, still under the deadline.
  while (!exited) {
    if (reap(WNOHANG)) {
      exited = true;
      break;
    }
    if (steady::now() >= deadline) {
      kill_and_reap();
      fail("did not exit within " + std::to_string(timeout.count()) + " ms (killed)" +
           stderr_note(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFSIGNALED(status)) {
    fail("killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
         sigdescr_np(WTERMSIG(status)) + ")" + stderr_note(err));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    fail("exited with status " + std::to_string(WEXITSTATUS(status)) + stderr_note(err));
  return out;
}

bool same_file_state(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

}  // namespace

struct credentials::impl {
  config cfg;
  credentials_options opts;
  mutable std::mutex mu;

  // Token file.
  bool have_file_token = false;
  std::string file_token;
  struct stat file_stat {};
  steady::time_point file_read_at{};
  bool force_reread = false;

  // Exec plugin.
  std::optional<detail::exec_credential> cached;
  std::uint64_t runs = 0;

  std::string token_from_file() {
    const std::string& path = cfg.bearer_token_file;
    struct stat st {};
    const bool stat_ok = ::stat(path.c_str(), &st) == 0;
    const bool stale = !have_file_token || force_reread || !stat_ok ||
                       !same_file_state(st, file_stat) ||
                       steady::now() - file_read_at >= k_token_file_reread;
    if (!stale) return file_token;
    std::string problem;
    try {
      std::string token = trim(detail::read_regular_file(path, std::size_t{1} << 20));
      if (token.empty()) {
        problem = "holds no token";
      } else {
        file_token = std::move(token);
        have_file_token = true;
        force_reread = false;
        file_read_at = steady::now();
        if (stat_ok) file_stat = st;
        return file_token;
      }
    } catch (const detail::read_error& e) {
      problem = e.what();
    }
    // Kept as client-go's cachingTokenSource keeps it: a rotation in progress is not an outage.
    if (have_file_token) return file_token;
    if (!cfg.bearer_token.empty()) return cfg.bearer_token;
    throw config_error("bearer token file " + quote(path) + ": " + problem);
  }

  const detail::exec_credential& exec_credential() {
    if (cached && (!cached->expiration || std::chrono::system_clock::now() < *cached->expiration)) {
      return *cached;
    }
    cached.reset();
    const exec_config& x = *cfg.exec;
    if (x.interactive_mode == "Always") {
      throw config_error("exec plugin " + quote(x.command) +
                         ": interactiveMode Always needs a terminal, and operant never gives "
                         "plugins one; set interactiveMode to Never or IfAvailable");
    }
    ++runs;
    const std::string out = run_plugin(cfg, opts.exec_timeout);
    cached = detail::parse_exec_credential(out, x.api_version, "exec plugin " + quote(x.command));
    return *cached;
  }
};

credentials::credentials(config c, credentials_options opts) : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(c);
  impl_->opts = opts;
}

credentials::~credentials() = default;

std::string credentials::authorization() {
  std::lock_guard lock(impl_->mu);
  const config& c = impl_->cfg;
  if (!c.bearer_token_file.empty()) return "Bearer " + impl_->token_from_file();
  if (!c.bearer_token.empty()) return "Bearer " + c.bearer_token;
  if (!c.username.empty() || !c.password.empty())
    return "Basic " + detail::base64_encode(c.username + ":" + c.password);
  if (c.exec) {
    const auto& cred = impl_->exec_credential();
    return cred.token.empty() ? std::string() : "Bearer " + cred.token;
  }
  return {};
}

void credentials::invalidate() {
  std::lock_guard lock(impl_->mu);
  impl_->cached.reset();
  impl_->force_reread = true;
}

std::optional<credentials::client_certificate> credentials::exec_client_certificate() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->cfg.exec) return std::nullopt;
  const auto& cred = impl_->exec_credential();
  if (cred.client_certificate_data.empty()) return std::nullopt;
  return client_certificate{cred.client_certificate_data, cred.client_key_data};
}

std::uint64_t credentials::exec_runs() const {
  std::lock_guard lock(impl_->mu);
  return impl_->runs;
}

const config& credentials::cfg() const noexcept { return impl_->cfg; }

}  // namespace operant::kube

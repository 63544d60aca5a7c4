// fake-apiserver: the loopback Kubernetes API server of the kube tests (fake_apiserver.h) as a
// program, for integration tests of programs that talk to a cluster (tests/integration/
// kube_examples_test.py) and for trying the examples by hand:
//
//   fake-apiserver --token secret --namespace demo --kubeconfig-out /tmp/kc &
//   pod-controller --kubeconfig /tmp/kc
//
// It serves HTTPS on 127.0.0.1 (a free port) with a throwaway CA, accepts the bearer token given,
// writes a kubeconfig (server, CA data, token, namespace) and prints "listening on https://..."
// once serving. Tests create and delete objects through the REST API itself, with the CA of the
// kubeconfig and the token. It serves until its standard input reaches end of file (so it never
// outlives the test that started it with a pipe) or until SIGINT or SIGTERM.
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "fake_apiserver.h"

namespace {

void usage(std::FILE* out) {
  std::fputs(
      "usage: fake-apiserver --kubeconfig-out PATH [--token TOKEN] [--namespace NS]\n"
      "  --kubeconfig-out PATH  write a kubeconfig here (required; removed at exit)\n"
      "  --token TOKEN          the bearer token accepted (default fake-token)\n"
      "  --namespace NS         the kubeconfig context's namespace (default default)\n"
      "  --help                 show this text\n"
      "Prints \"listening on https://127.0.0.1:PORT\", then serves until its standard input\n"
      "closes or SIGINT or SIGTERM arrives.\n",
      out);
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// A kubeconfig whose one context reaches `server` with `token`, in namespace `ns`. Values are
// written as JSON strings, which YAML reads as double-quoted scalars.
std::string kubeconfig(const std::string& server, const std::string& ca_pem,
                       const std::string& token, const std::string& ns) {
  const auto q = [](const std::string& v) { return nlohmann::json(v).dump(); };
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Config\n"
    << "clusters:\n- name: fake\n  cluster:\n"
    << "    server: " << q(server) << "\n"
    << "    certificate-authority-data: " << base64(ca_pem) << "\n"
    << "users:\n- name: fake\n  user:\n"
    << "    token: " << q(token) << "\n"
    << "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
    << "    namespace: " << q(ns) << "\n"
    << "current-context: fake\n";
  return y.str();
}

// Writes `text` to `path` through a temporary file and a rename, readable by the owner only.
void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::permissions(
      tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::rename(tmp, path);
}

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig_out, token = "fake-token", ns = "default";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return usage(stdout), 0;
    std::string* target = arg == "--kubeconfig-out" ? &kubeconfig_out
                          : arg == "--token"        ? &token
                          : arg == "--namespace"    ? &ns
                                                    : nullptr;
    if (target == nullptr || i + 1 >= argc || std::string_view(argv[i + 1]).empty()) {
      std::fprintf(stderr, "fake-apiserver: %s \"%s\"\n",
                   target ? "missing value for" : "unknown flag", argv[i]);
      return usage(stderr), 2;
    }
    *target = argv[++i];
  }
  if (kubeconfig_out.empty()) {
    std::fprintf(stderr, "fake-apiserver: --kubeconfig-out is required\n");
    return usage(stderr), 2;
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before the server's threads start
  const int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);

  try {
    operant::kube::test::fake_apiserver server({.tokens = {token}});
    write_file(kubeconfig_out, kubeconfig(server.url(), server.ca_pem(), token, ns));
    std::printf("listening on %s\n", server.url().c_str());
    std::fflush(stdout);

    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sigfd, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) break;  // SIGINT or SIGTERM
      if (fds[0].revents != 0) {
        char buf[4096];
        const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);  // input is ignored
        if (n <= 0 && !(n < 0 && errno == EINTR)) break;          // end of file (or stdin gone)
      }
    }
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake-apiserver: %s\n", e.what());
    return 1;
  }
  std::error_code ec;
  std::filesystem::remove(kubeconfig_out, ec);
  return 0;
}

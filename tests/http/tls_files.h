// Test certificates made with the openssl command in a temporary directory, shared by the TLS
// tests of the context (tls_test.cpp) and of the server (server_auth_test.cpp).
#pragma once
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace operant::http::test {

namespace fs = std::filesystem;

// Certificates for the whole suite: a CA, a server certificate for localhost/127.0.0.1 (RSA, so
// the ECDHE_RSA suites apply), a client certificate from the same CA and one from another CA.
class tls_files {
 public:
  tls_files() {
    std::string tmpl = (fs::temp_directory_path() / "operant-tls-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    write("server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    write("client.ext",
          "subjectAltName=DNS:client.example,URI:spiffe://operant/test,IP:10.1.2.3\n"
          "extendedKeyUsage=clientAuth\n");
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    run("openssl req -x509 " + ec + " -keyout ca.key -out ca.crt -days 2 -subj /CN=operant-ca");
    run("openssl req -x509 " + ec +
        " -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca");
    run("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "-subj /CN=localhost");
    run("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "-out server.crt -days 2 -extfile server.ext");
    run("openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=client");
    run("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "-out client.crt -days 2 -extfile client.ext");
    run("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out other-rsa.key");
    run("openssl req " + ec + " -keyout rogue.key -out rogue.csr -subj /CN=rogue");
    run("openssl x509 -req -in rogue.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial "
        "-out rogue.crt -days 2 -extfile client.ext");
  }
  ~tls_files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path operator/(const char* name) const { return dir / name; }
  void write(const char* name, const std::string& text) const {
    std::ofstream(dir / name, std::ios::binary) << text;
  }
  fs::path dir;

 private:
  void run(const std::string& cmd) const {
    const std::string full = "cd '" + dir.string() + "' && " + cmd + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
};

}  // namespace operant::http::test

// Internal: the server's TLS context, made from a web configuration's tls_server_config.
//
// The mapping follows Go's crypto/tls, which the exporter-toolkit uses, so a web-config.yml means
// the same thing to an operant program as to node_exporter:
//
//   client_auth_type            OpenSSL verify mode                       client certificate
//   NoClientCert                verify_none                               not asked for
//   RequestClientCert           verify_peer, callback accepts anything    optional, unchecked
//   RequireAnyClientCert        verify_peer|fail_if_no_peer_cert, ditto   required, unchecked
//   VerifyClientCertIfGiven     verify_peer, chain checked vs client CA   optional, verified
//   RequireAndVerifyClientCert  verify_peer|fail_if_no_peer_cert, ditto   required, verified
//
// client_allowed_sans is checked on the leaf certificate in the same verify callback.
//
// Include only from translation units compiled as operant_http is (separate compilation of Asio:
// the definitions live in asio_impl.cpp).
#pragma once
#if !defined(BOOST_ASIO_SEPARATE_COMPILATION)
#error "src/http/tls.h needs BOOST_ASIO_SEPARATE_COMPILATION, as operant_http is compiled"
#endif
#include <boost/asio/ssl/context.hpp>
#include <string_view>

#include "operant/http/web_config.h"

namespace operant::http::detail {

// A server context for `cfg`: certificate chain and key (files or inline PEM), client
// authentication, client CA (sent to clients in the CertificateRequest as well), protocol
// versions, cipher suites, curves, server cipher preference. Compression and renegotiation are
// off; encrypted private keys are refused rather than prompted for on the terminal. Throws
// config_error naming the field, the file and OpenSSL's reason when something cannot be loaded
// (unreadable or malformed PEM, a key that does not match the certificate, a CA file without a
// certificate, an unknown cipher suite or curve name, min_version above max_version).
//
// The context is immutable once made; share it between connections
// (boost::asio::ssl::stream<tcp::socket>(socket, ctx)) and make a new one to reload.
boost::asio::ssl::context make_server_tls_context(const tls_server_config& cfg);

// Whether the handshake fails without a client certificate (RequireAnyClientCert and
// RequireAndVerifyClientCert).
bool client_cert_required(client_auth mode) noexcept;
// Whether a client certificate, when sent, is verified against the client CA
// (VerifyClientCertIfGiven and RequireAndVerifyClientCert).
bool client_cert_verified(client_auth mode) noexcept;

// The configuration's spelling: "NoClientCert", ..., and "TLS10" ... "TLS13".
std::string_view to_string(client_auth mode) noexcept;
std::string_view to_string(tls_version version) noexcept;

// The OpenSSL name of a TLS 1.0-1.2 cipher suite given by its Go/IANA name
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" -> "ECDHE-RSA-AES128-GCM-SHA256"); empty when the
// name is not one of Go's tls.CipherSuites() (the toolkit accepts no other).
std::string_view openssl_cipher_name(std::string_view go_name) noexcept;
// True for Go's TLS 1.3 suite names (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
// TLS_CHACHA20_POLY1305_SHA256), which the toolkit accepts and which configure nothing.
bool is_tls13_cipher_suite(std::string_view go_name) noexcept;
// The OpenSSL group name of a Go curve name ("CurveP256" -> "P-256"); empty when unknown.
std::string_view openssl_curve_name(std::string_view go_name) noexcept;

}  // namespace operant::http::detail

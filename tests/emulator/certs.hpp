// A throw-away test CA and one server certificate for every host the emulator answers,
// generated in memory at start (OpenSSL), so no test depends on a certificate on disk.
#pragma once

#include <string>
#include <vector>

namespace emulator {

struct generated_certificates {
    std::string ca_pem;           // the CA certificate clients trust
    std::string server_cert_pem;  // the server certificate followed by the CA (a chain)
    std::string server_key_pem;   // PKCS#8, unencrypted
};

// dns_names may hold wildcards ("*.eastus2.serving.azuredatabricks.net"); ip_addresses are
// IPv4 literals. Valid from an hour ago for 30 days. Throws std::runtime_error on failure.
generated_certificates generate_certificates(const std::vector<std::string>& dns_names,
                                             const std::vector<std::string>& ip_addresses);

}  // namespace emulator

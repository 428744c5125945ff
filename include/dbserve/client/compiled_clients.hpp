// With DBSERVE_SEPARATE_COMPILATION (see protocol/detail/config.hpp): the members of the
// most common workspace and client, over default_traits (poll-driven, default Clock and
// SecretSource), are compiled once in dbserve's source, so a translation unit that uses
// them instantiates none of them. Other traits are instantiated where they are used, as in
// header-only use. Without the switch this header declares nothing.
#pragma once

#include <dbserve/client/client.hpp>
#include <dbserve/client/endpoint_handle.hpp>
#include <dbserve/client/workspace.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <string>

#if defined(DBSERVE_SEPARATE_COMPILATION)

#if defined(DBSERVE_SOURCE)
#define DBSERVE_DETAIL_INSTANTIATE template
#else
#define DBSERVE_DETAIL_INSTANTIATE extern template
#endif

DBSERVE_BEGIN_NAMESPACE

DBSERVE_DETAIL_INSTANTIATE basic_workspace<default_traits>::basic_workspace(workspace_config, no_transport,
                                                                            system_clock_policy, default_secret_source);
DBSERVE_DETAIL_INSTANTIATE basic_workspace<default_traits>::basic_workspace(workspace_config,
                                                                            policies<default_traits>);
DBSERVE_DETAIL_INSTANTIATE basic_workspace<default_traits>::~basic_workspace();
DBSERVE_DETAIL_INSTANTIATE basic_endpoint<default_traits>
basic_workspace<default_traits>::endpoint(endpoint_config) const;
DBSERVE_DETAIL_INSTANTIATE basic_client<default_traits>::basic_client(client_config, no_transport, system_clock_policy,
                                                                      default_secret_source);
DBSERVE_DETAIL_INSTANTIATE basic_client<default_traits>::basic_client(client_config, policies<default_traits>);
DBSERVE_DETAIL_INSTANTIATE query_operation basic_endpoint<default_traits>::start_query(std::string, query_options) const;
DBSERVE_DETAIL_INSTANTIATE query_operation basic_endpoint<default_traits>::start_query(const nlohmann::json&,
                                                                                       query_options) const;
DBSERVE_DETAIL_INSTANTIATE query_operation basic_endpoint<default_traits>::start_stream(std::string,
                                                                                        query_options) const;
DBSERVE_DETAIL_INSTANTIATE query_operation basic_endpoint<default_traits>::start_stream(const nlohmann::json&,
                                                                                        query_options) const;
DBSERVE_DETAIL_INSTANTIATE result<void> basic_endpoint<default_traits>::check_configuration() const;

DBSERVE_END_NAMESPACE

#undef DBSERVE_DETAIL_INSTANTIATE

#endif  // DBSERVE_SEPARATE_COMPILATION

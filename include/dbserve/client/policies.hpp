// policies<Traits>: the policy objects a client (or anything built from the same Traits)
// is constructed with, set by name instead of by position.
//
//     dbserve::basic_client<my_traits> client(config, dbserve::policies<my_traits>().with_secret_source(vault));
//     dbserve::basic_client<engine_traits> client(
//         config, dbserve::policies<engine_traits>(engine_transport).with_clock(engine_clock{}));
//
// What is not set is default-constructed. A transport that cannot be default-constructed
// (one bound to an executor, a transport_ref) is given to the constructor, so a missing
// one is a compile error rather than a surprise at run time.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <type_traits>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

template <class Traits>
class policies {
public:
    using transport_type = typename Traits::transport;
    using clock_type = typename Traits::clock;
    using secret_source_type = typename Traits::secret_source;

    // Explicit, so `basic_client(config, {})` keeps meaning a default transport.
    template <class T = transport_type, std::enable_if_t<std::is_default_constructible_v<T>, int> = 0>
    explicit policies() : transport_() {}
    explicit policies(transport_type transport) : transport_(std::move(transport)) {}

    policies& with_transport(transport_type transport) & {
        transport_ = std::move(transport);
        return *this;
    }
    policies&& with_transport(transport_type transport) && { return std::move(with_transport(std::move(transport))); }

    policies& with_clock(clock_type clock) & {
        clock_ = std::move(clock);
        return *this;
    }
    policies&& with_clock(clock_type clock) && { return std::move(with_clock(std::move(clock))); }

    policies& with_secret_source(secret_source_type secrets) & {
        secrets_ = std::move(secrets);
        return *this;
    }
    policies&& with_secret_source(secret_source_type secrets) && {
        return std::move(with_secret_source(std::move(secrets)));
    }

    const transport_type& transport() const noexcept { return transport_; }
    const clock_type& clock() const noexcept { return clock_; }
    const secret_source_type& secret_source() const noexcept { return secrets_; }

    // For the constructors that consume the set.
    transport_type take_transport() && { return std::move(transport_); }
    clock_type take_clock() && { return std::move(clock_); }
    secret_source_type take_secret_source() && { return std::move(secrets_); }

private:
    transport_type transport_;
    clock_type clock_{};
    secret_source_type secrets_{};
};

DBSERVE_END_NAMESPACE

// Version, ABI tag and feature detection shared by every dbserve header.
#pragma once

#define DBSERVE_VERSION_MAJOR 0
#define DBSERVE_VERSION_MINOR 1
#define DBSERVE_VERSION_PATCH 0

#define DBSERVE_DETAIL_CONCAT_EX(a, b, c) dbserve_abi_v##a##_##b##_##c
#define DBSERVE_DETAIL_CONCAT(a, b, c) DBSERVE_DETAIL_CONCAT_EX(a, b, c)
// The inline namespace carries the version, so two copies of different versions
// embedded in one program never violate the one-definition rule.
#define DBSERVE_ABI_NAMESPACE \
    DBSERVE_DETAIL_CONCAT(DBSERVE_VERSION_MAJOR, DBSERVE_VERSION_MINOR, DBSERVE_VERSION_PATCH)

#define DBSERVE_BEGIN_NAMESPACE \
    namespace dbserve {         \
    inline namespace DBSERVE_ABI_NAMESPACE {
#define DBSERVE_END_NAMESPACE \
    }                         \
    }

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define DBSERVE_HAS_EXCEPTIONS 1
#else
#define DBSERVE_HAS_EXCEPTIONS 0
#endif

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
#define DBSERVE_HAS_CONCEPTS 1
#else
#define DBSERVE_HAS_CONCEPTS 0
#endif

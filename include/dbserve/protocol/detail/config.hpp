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

// Inlining by hand where it matters per query: OUT_OF_LINE and COLD keep a path that a
// plain query does not take (events, the trace context, stream observation) out of the
// function that would carry it, so the common path stays as it was; INLINE keeps a small
// step of the common path inlined whatever the translation unit's inlining budget.
#if defined(__GNUC__) || defined(__clang__)
#define DBSERVE_DETAIL_OUT_OF_LINE __attribute__((noinline))
#define DBSERVE_DETAIL_COLD __attribute__((noinline, cold))
#define DBSERVE_DETAIL_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define DBSERVE_DETAIL_OUT_OF_LINE __declspec(noinline)
#define DBSERVE_DETAIL_COLD __declspec(noinline)
#define DBSERVE_DETAIL_INLINE __forceinline
#else
#define DBSERVE_DETAIL_OUT_OF_LINE
#define DBSERVE_DETAIL_COLD
#define DBSERVE_DETAIL_INLINE inline
#endif

// Optional separate compilation (as Asio's BOOST_ASIO_SEPARATE_COMPILATION): with
// DBSERVE_SEPARATE_COMPILATION defined in every translation unit, the heaviest non-template
// functions are only declared in the headers, and one translation unit compiles them:
// src/dbserve.cpp (CMake: -DDBSERVE_SEPARATE_COMPILATION=ON, target dbserve::compiled), or
// any one file of yours that defines DBSERVE_SOURCE before including dbserve/dbserve.hpp.
// Without it everything stays in the headers.
#if defined(DBSERVE_SEPARATE_COMPILATION) && !defined(DBSERVE_SOURCE)
#define DBSERVE_HEADER_DEFINITIONS 0
#else
#define DBSERVE_HEADER_DEFINITIONS 1
#endif
#if defined(DBSERVE_SEPARATE_COMPILATION)
#define DBSERVE_DECL
#else
#define DBSERVE_DECL inline
#endif
// The same for a driver's step function (query_operation::next()): when the headers carry
// its definition it is inlined into the loop that calls it, so each step is built in place
// rather than returned through memory.
#if !defined(DBSERVE_SEPARATE_COMPILATION) && (defined(__GNUC__) || defined(__clang__))
#define DBSERVE_DECL_STEP inline __attribute__((always_inline))
#else
#define DBSERVE_DECL_STEP DBSERVE_DECL
#endif

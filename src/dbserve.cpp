// dbserve's compiled part, for DBSERVE_SEPARATE_COMPILATION (see
// include/dbserve/protocol/detail/config.hpp): the definitions the headers then only
// declare, and the members of basic_client<default_traits>. Compile it once, with the same
// DBSERVE_SEPARATE_COMPILATION, and link it with every translation unit that uses dbserve.
#if !defined(DBSERVE_SEPARATE_COMPILATION)
#error "src/dbserve.cpp is for DBSERVE_SEPARATE_COMPILATION builds: define it here and in every user"
#endif
#define DBSERVE_SOURCE
#include <dbserve/dbserve.hpp>

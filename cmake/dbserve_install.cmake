# Install rules, the CMake package config and the pkg-config files. Included by the
# top-level CMakeLists.txt; everything here is a no-op unless DBSERVE_INSTALL is on.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(DBSERVE_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

# The package is architecture independent (headers only), so it goes under share/.
set(DBSERVE_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_DATADIR}/cmake/dbserve"
    CACHE STRING "Where dbserveConfig.cmake is installed (relative to the prefix)")
set(DBSERVE_PKGCONFIG_INSTALL_DIR "${CMAKE_INSTALL_DATADIR}/pkgconfig"
    CACHE STRING "Where dbserve.pc is installed (relative to the prefix)")

# What each adapter needs where it is installed, stated once: the installed config's
# find_dependency() calls (one quoted argument list each), and the Requires and Libs of its
# .pc file. They follow the find_package() calls and link libraries of adapters/<name>/.
set(DBSERVE_ADAPTER_DEPENDENCIES_curl "CURL" "Threads")
set(DBSERVE_ADAPTER_PKG_CONFIG_REQUIRES_curl libcurl)
set(DBSERVE_ADAPTER_PKG_CONFIG_LIBS_curl -pthread)
set(DBSERVE_ADAPTER_DEPENDENCIES_beast "Boost 1.81 CONFIG" "OpenSSL" "Threads")
set(DBSERVE_ADAPTER_PKG_CONFIG_REQUIRES_beast openssl)
set(DBSERVE_ADAPTER_PKG_CONFIG_LIBS_beast -pthread)

# dbserve_install_adapter(<target> NAME <name>
#                         [DEPENDENCIES <find_dependency arguments>...]
#                         [PKG_CONFIG_REQUIRES <pkg-config module>...]
#                         [PKG_CONFIG_LIBS <flags>...])
#
# Puts an adapter target into the dbserveTargets export set (exported as dbserve::<name>)
# and installs its include/ folder. The adapter's dependencies are the ones stated above
# for <name>; an adapter not listed there states its own with DEPENDENCIES (e.g.
# "Boost 1.81 CONFIG") and, for its .pc file, PKG_CONFIG_REQUIRES and PKG_CONFIG_LIBS.
# Calling it twice for one adapter is harmless. Include directories given as plain source
# paths are wrapped in $<BUILD_INTERFACE:...> so the export stays relocatable.
function(dbserve_install_adapter target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "NAME" "DEPENDENCIES;PKG_CONFIG_REQUIRES;PKG_CONFIG_LIBS")
  if(NOT DBSERVE_INSTALL)
    return()
  endif()
  if(NOT arg_NAME)
    message(FATAL_ERROR "dbserve_install_adapter(${target}): NAME <adapter name> is required")
  endif()
  get_property(installed GLOBAL PROPERTY DBSERVE_INSTALLED_ADAPTERS)
  if(arg_NAME IN_LIST installed)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY DBSERVE_INSTALLED_ADAPTERS ${arg_NAME})
  foreach(key DEPENDENCIES PKG_CONFIG_REQUIRES PKG_CONFIG_LIBS)
    if(DEFINED arg_${key})
      set_property(GLOBAL PROPERTY DBSERVE_ADAPTER_${key}_${arg_NAME} "${arg_${key}}")
    endif()
  endforeach()
  _dbserve_check_adapter_dependencies(${arg_NAME})

  get_target_property(include_dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(include_dirs)
    set(rewritten "")
    foreach(dir IN LISTS include_dirs)
      if(dir MATCHES "^\\$<")
        list(APPEND rewritten "${dir}")
      else()
        list(APPEND rewritten "$<BUILD_INTERFACE:${dir}>")
      endif()
    endforeach()
    list(APPEND rewritten "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
    list(REMOVE_DUPLICATES rewritten)
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${rewritten}")
  endif()
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${arg_NAME})
  install(TARGETS ${target} EXPORT dbserveTargets)

  get_target_property(source_dir ${target} SOURCE_DIR)
  if(EXISTS "${source_dir}/include")
    install(DIRECTORY "${source_dir}/include/" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endfunction()

# An adapter's dependencies: those it passed to dbserve_install_adapter(), else those
# stated above for its name.
function(_dbserve_adapter_dependency name key out)
  get_property(passed GLOBAL PROPERTY DBSERVE_ADAPTER_${key}_${name} SET)
  if(passed)
    get_property(value GLOBAL PROPERTY DBSERVE_ADAPTER_${key}_${name})
  else()
    set(value "${DBSERVE_ADAPTER_${key}_${name}}")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

# Stops the configure step when nothing says what an adapter needs: the installed config
# would otherwise load its targets without finding their dependencies.
function(_dbserve_check_adapter_dependencies name)
  get_property(passed GLOBAL PROPERTY DBSERVE_ADAPTER_DEPENDENCIES_${name} SET)
  if(NOT passed AND NOT DEFINED DBSERVE_ADAPTER_DEPENDENCIES_${name})
    message(FATAL_ERROR "dbserve adapter '${name}': its dependencies are not stated; pass them to "
                        "dbserve_install_adapter(... DEPENDENCIES ...) or add them to "
                        "cmake/dbserve_install.cmake")
  endif()
endfunction()

# Writes <name>.pc from cmake/dbserve.pc.in; the file finds its prefix relative to its own
# location, so `cmake --install --prefix <anywhere>` gives a working file.
function(_dbserve_write_pkg_config name)
  if(IS_ABSOLUTE "${DBSERVE_PKGCONFIG_INSTALL_DIR}")
    set(DBSERVE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  else()
    file(RELATIVE_PATH up "/root/${DBSERVE_PKGCONFIG_INSTALL_DIR}" "/root")
    string(REGEX REPLACE "/$" "" up "${up}")
    set(DBSERVE_PC_PREFIX "\${pcfiledir}/${up}")
  endif()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(DBSERVE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(DBSERVE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
  configure_file("${DBSERVE_CMAKE_DIR}/dbserve.pc.in"
                 "${dbserve_BINARY_DIR}/pkgconfig/${name}.pc" @ONLY)
  install(FILES "${dbserve_BINARY_DIR}/pkgconfig/${name}.pc"
          DESTINATION ${DBSERVE_PKGCONFIG_INSTALL_DIR})
endfunction()

# Core install rules. Called once the adapters have been added.
function(dbserve_install_package)
  if(NOT DBSERVE_INSTALL)
    return()
  endif()
  # An adapter whose CMakeLists installed its target itself (a bare install(TARGETS ...
  # EXPORT dbserveTargets)) is still listed, so the config finds its dependencies.
  get_property(registered GLOBAL PROPERTY DBSERVE_INSTALLED_ADAPTERS)
  foreach(adapter curl beast)
    if(TARGET dbserve::${adapter} AND NOT adapter IN_LIST registered)
      set_property(GLOBAL APPEND PROPERTY DBSERVE_INSTALLED_ADAPTERS ${adapter})
    endif()
  endforeach()

  install(TARGETS dbserve EXPORT dbserveTargets)
  if(TARGET dbserve_compiled)
    install(TARGETS dbserve_compiled EXPORT dbserveTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  endif()
  install(DIRECTORY "${DBSERVE_CMAKE_DIR}/../include/" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT dbserveTargets NAMESPACE dbserve:: DESTINATION ${DBSERVE_CMAKE_INSTALL_DIR})

  # The config finds nlohmann_json always and an adapter's dependencies only when that
  # adapter was installed (and, with COMPONENTS, only when it was asked for).
  get_property(adapters GLOBAL PROPERTY DBSERVE_INSTALLED_ADAPTERS)
  set(DBSERVE_CONFIG_ADAPTERS "${adapters}")
  set(DBSERVE_CONFIG_ADAPTER_DEPENDENCIES "")
  foreach(adapter IN LISTS adapters)
    foreach(key DEPENDENCIES PKG_CONFIG_REQUIRES PKG_CONFIG_LIBS)
      _dbserve_adapter_dependency(${adapter} ${key} ${key})
    endforeach()
    string(APPEND DBSERVE_CONFIG_ADAPTER_DEPENDENCIES
      "if(NOT dbserve_FIND_COMPONENTS OR \"${adapter}\" IN_LIST dbserve_FIND_COMPONENTS)\n")
    foreach(dependency IN LISTS DEPENDENCIES)
      string(APPEND DBSERVE_CONFIG_ADAPTER_DEPENDENCIES "  find_dependency(${dependency})\n")
    endforeach()
    string(APPEND DBSERVE_CONFIG_ADAPTER_DEPENDENCIES "endif()\n")

    set(DBSERVE_PC_NAME "dbserve-${adapter}")
    set(DBSERVE_PC_DESCRIPTION "dbserve ${adapter} transport adapter")
    list(JOIN PKG_CONFIG_REQUIRES " " pc_requires)
    string(STRIP "dbserve ${pc_requires}" DBSERVE_PC_REQUIRES)
    list(JOIN PKG_CONFIG_LIBS " " DBSERVE_PC_LIBS)
    _dbserve_write_pkg_config(dbserve-${adapter})
  endforeach()

  configure_package_config_file("${DBSERVE_CMAKE_DIR}/dbserveConfig.cmake.in"
    "${dbserve_BINARY_DIR}/dbserveConfig.cmake"
    INSTALL_DESTINATION ${DBSERVE_CMAKE_INSTALL_DIR})
  # 0.x releases may break the API between minor versions.
  write_basic_package_version_file("${dbserve_BINARY_DIR}/dbserveConfigVersion.cmake"
    VERSION ${dbserve_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
  install(FILES "${dbserve_BINARY_DIR}/dbserveConfig.cmake"
                "${dbserve_BINARY_DIR}/dbserveConfigVersion.cmake"
          DESTINATION ${DBSERVE_CMAKE_INSTALL_DIR})

  set(DBSERVE_PC_NAME dbserve)
  set(DBSERVE_PC_DESCRIPTION "Header-only C++17 client for Databricks route optimized serving endpoints")
  set(DBSERVE_PC_REQUIRES "nlohmann_json >= 3.10")
  set(DBSERVE_PC_LIBS "")
  _dbserve_write_pkg_config(dbserve)
endfunction()

# Generates the single header: include/dbserve/dbserve.hpp with every
# `#include <dbserve/...>` it reaches replaced by that header's text, each header once.
# Only the core is inlined (headers under INCLUDE_DIR); system and nlohmann includes stay.
#
#   cmake -DINCLUDE_DIR=<repo>/include -DOUTPUT=<dir>/dbserve/dbserve.hpp
#         -P cmake/generate_single_header.cmake
#
# An include of a header that was already inlined is dropped, so a header that is first
# reached inside an #if block is only available inside that block.
cmake_minimum_required(VERSION 3.16)

if(NOT INCLUDE_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DINCLUDE_DIR=<include dir> -DOUTPUT=<file> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
if(NOT ENTRY)
  set(ENTRY dbserve/dbserve.hpp)
endif()
get_filename_component(INCLUDE_DIR "${INCLUDE_DIR}" ABSOLUTE)

set(include_pattern "\n[ \t]*#[ \t]*include[ \t]*<(dbserve/[^>]+)>[^\n]*")
set(pragma_once_pattern "\n[ \t]*#[ \t]*pragma[ \t]+once[^\n]*")

# Returns in ${out} the text of <header> with its dbserve includes inlined, or an empty
# string when the header was inlined before.
function(dbserve_inline header out)
  get_property(seen GLOBAL PROPERTY dbserve_inlined)
  if(header IN_LIST seen)
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY dbserve_inlined "${header}")
  set(path "${INCLUDE_DIR}/${header}")
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "single header: <${header}> is not a core header (no ${path}); "
                        "the single header holds the core only, so a core header must not include it")
  endif()
  # A leading newline lets the patterns anchor every directive at the start of a line.
  file(READ "${path}" text)
  set(text "\n${text}")
  string(REGEX REPLACE "${pragma_once_pattern}" "" text "${text}")
  set(result "")
  while(TRUE)
    string(REGEX MATCH "${include_pattern}" directive "${text}")
    if(NOT directive)
      break()
    endif()
    set(included "${CMAKE_MATCH_1}")
    string(FIND "${text}" "${directive}" at)
    string(SUBSTRING "${text}" 0 ${at} before)
    string(LENGTH "${directive}" directive_length)
    math(EXPR after_at "${at} + ${directive_length}")
    string(SUBSTRING "${text}" ${after_at} -1 text)
    dbserve_inline("${included}" inlined)
    string(APPEND result "${before}")
    if(NOT inlined STREQUAL "")
      string(APPEND result "\n// ---- begin <${included}>${inlined}\n// ---- end <${included}>")
    endif()
  endwhile()
  string(APPEND result "${text}")
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

file(STRINGS "${INCLUDE_DIR}/dbserve/protocol/detail/config.hpp" version_lines
     REGEX "^#define DBSERVE_VERSION_(MAJOR|MINOR|PATCH) [0-9]+$")
set(version "")
foreach(part MAJOR MINOR PATCH)
  string(REGEX REPLACE ".*DBSERVE_VERSION_${part} ([0-9]+).*" "\\1" number "${version_lines}")
  list(APPEND version ${number})
endforeach()
list(JOIN version "." version)

dbserve_inline("${ENTRY}" body)
get_property(inlined GLOBAL PROPERTY dbserve_inlined)
list(LENGTH inlined count)

set(content "// dbserve ${version}: single-header edition (the core, without adapters).
// Generated from <${ENTRY}> and the ${count} headers it includes by
// cmake/generate_single_header.cmake. Do not edit: change include/dbserve/ instead.
// Needs nlohmann/json (3.10 or later) on the include path.
#pragma once
${body}")
# Rewrite only on change, so builds depending on the file are not redone needlessly.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
message(STATUS "single header: ${OUTPUT} (${count} headers)")

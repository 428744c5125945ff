# Checks the layer order of the core headers from their #include lines:
#
#   protocol/  <  payload/  <  client/  <  testing/
#
# A header includes headers of its own layer (its detail/ included) and of the layers
# before it, never of a later one. The entry points at the top (dbserve.hpp, client.hpp,
# testing.hpp) sit above the layer they open and are included by no layer header. The
# core includes only core headers: an adapter (dbserve/curl/, dbserve/beast/) or any
# other header under dbserve/ that is not in INCLUDE_DIR is a violation, and so is a
# quoted include of a dbserve header.
#
#   cmake -DINCLUDE_DIR=<repo>/include -P tests/layers/check_layers.cmake
#
# Prints every violation as "<header>: includes <other> (<why>)" and fails if there is one.
cmake_minimum_required(VERSION 3.16)

if(NOT INCLUDE_DIR)
  message(FATAL_ERROR "usage: cmake -DINCLUDE_DIR=<include dir> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
get_filename_component(INCLUDE_DIR "${INCLUDE_DIR}" ABSOLUTE)

set(layers protocol payload client testing)
list(JOIN layers " < " layer_names)
# The entry points and the layer each one opens: dbserve.hpp is the core without the fakes.
set(entry_dbserve.hpp client)
set(entry_client.hpp client)
set(entry_testing.hpp testing)

set(violations "")

# Sets ${out} to the rank of <header> (a path below INCLUDE_DIR, "dbserve/..."), or to
# "" with ${out}_why saying why it has none.
function(layer_rank header out)
  set(${out} "" PARENT_SCOPE)
  if(NOT EXISTS "${INCLUDE_DIR}/${header}")
    set(${out}_why "not a core header: the core never includes an adapter or a header outside ${INCLUDE_DIR}" PARENT_SCOPE)
    return()
  endif()
  if(header MATCHES "^dbserve/([^/]+)/")
    set(folder "${CMAKE_MATCH_1}")
    list(FIND layers "${folder}" rank)
    if(rank EQUAL -1)
      set(${out}_why "dbserve/${folder}/ is not a layer (known: ${layer_names}), or add it to ${CMAKE_CURRENT_LIST_FILE}" PARENT_SCOPE)
      return()
    endif()
    set(${out} ${rank} PARENT_SCOPE)
    return()
  endif()
  if(header MATCHES "^dbserve/([^/]+)$")
    set(name "${CMAKE_MATCH_1}")
    if(DEFINED entry_${name})
      list(FIND layers "${entry_${name}}" rank)
      set(${out} "entry:${rank}" PARENT_SCOPE)
      return()
    endif()
  endif()
  set(${out}_why "a header at the top of dbserve/ that is no known entry point: put it in a layer folder" PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/dbserve/*")
list(SORT headers)
set(checked 0)
foreach(header IN LISTS headers)
  math(EXPR checked "${checked} + 1")
  layer_rank("${header}" own)
  if(own STREQUAL "")
    list(APPEND violations "${header}: ${own_why}")
    continue()
  endif()
  set(own_is_entry FALSE)
  if(own MATCHES "^entry:(.*)$")
    set(own_is_entry TRUE)
    set(own "${CMAKE_MATCH_1}")
  endif()
  list(GET layers ${own} own_layer)
  file(STRINGS "${INCLUDE_DIR}/${header}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\"")
      list(APPEND violations "${header}: includes \"${CMAKE_MATCH_1}\" (a quoted include: core headers include <dbserve/...>)")
      continue()
    endif()
    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*<(dbserve/[^>]*)>")
      continue()  # the standard library, nlohmann/json, the platform
    endif()
    set(included "${CMAKE_MATCH_1}")
    layer_rank("${included}" theirs)
    if(theirs STREQUAL "")
      list(APPEND violations "${header}: includes <${included}> (${theirs_why})")
      continue()
    endif()
    if(theirs MATCHES "^entry:(.*)$")
      if(NOT own_is_entry)
        list(APPEND violations "${header}: includes <${included}> (an entry point: a layer header includes the header it needs)")
        continue()
      endif()
      set(theirs "${CMAKE_MATCH_1}")
    endif()
    if(theirs GREATER own)
      list(GET layers ${theirs} their_layer)
      list(APPEND violations "${header}: includes <${included}> (${own_layer} comes before ${their_layer}: a layer never includes a later one)")
    endif()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "layers: no header found under ${INCLUDE_DIR}/dbserve")
endif()
list(LENGTH violations count)
if(count GREATER 0)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "layers: ${count} include(s) break the layer order (${layer_names}):\n  ${text}")
endif()
message(STATUS "layers: ${checked} headers follow the layer order (${layer_names})")

# Compiles SOURCE (syntax only) with COMPILER as C++STANDARD and checks the outcome against
# the file's "// expect:" and "// errors:" lines; see CMakeLists.txt.
# Usage: cmake -DCOMPILER=c++ -DSOURCE=x.cpp -DSTANDARD=17 -DINCLUDE_DIR=include -P check_compile.cmake
foreach(var COMPILER SOURCE STANDARD INCLUDE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_compile.cmake needs -D${var}=...")
  endif()
endforeach()

file(STRINGS ${SOURCE} expect_lines REGEX "^// expect: ")
file(STRINGS ${SOURCE} errors_line REGEX "^// errors: ")
set(expected_errors 1)
if(errors_line)
  string(REGEX REPLACE "^// errors: " "" expected_errors "${errors_line}")
endif()

execute_process(
  COMMAND ${COMPILER} -std=c++${STANDARD} -fsyntax-only -fno-diagnostics-color -I${INCLUDE_DIR} ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output
  TIMEOUT 120)

if(NOT expect_lines)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${SOURCE} should compile as C++${STANDARD} but did not:\n${output}")
  endif()
  return()
endif()

if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled as C++${STANDARD} but must not")
endif()
foreach(line ${expect_lines})
  string(REGEX REPLACE "^// expect: " "" text "${line}")
  string(FIND "${output}" "${text}" position)
  if(position EQUAL -1)
    message(FATAL_ERROR "${SOURCE} failed as expected, but its diagnostics lack\n  ${text}\n"
                        "Compiler output:\n${output}")
  endif()
endforeach()
string(REGEX MATCHALL "error:" errors "${output}")
list(LENGTH errors error_count)
if(NOT error_count EQUAL expected_errors)
  message(FATAL_ERROR "${SOURCE}: expected ${expected_errors} error(s), the compiler gave ${error_count}:\n${output}")
endif()

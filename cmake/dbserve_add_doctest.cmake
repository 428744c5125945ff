# dbserve_add_doctest(<executable> TEST <ctest name> LABEL <label> TIMEOUT <seconds>
#                     SOURCES <file>... [LIBRARIES <target>...])
# A doctest program and the CTest test that runs it. Every such test carries a label,
# because scripts/test.sh picks its stages by label, and a timeout, because no test may
# hang; the program compiles with the project's warnings. Add compile definitions,
# include folders and dependencies to <executable> afterwards as usual.
#
# dbserve_doctest_must_run_cases(<ctest name>...)
# A doctest program whose filter (--test-suite, --test-case) matches nothing, or whose
# cases all skip, runs no case and exits 0. These tests fail instead: doctest's summary
# line "test cases: N | 0 passed | ..." counts as an error. The exit status still counts
# (FAIL_REGULAR_EXPRESSION adds to it; PASS_REGULAR_EXPRESSION would replace it). Every
# CTest test that runs a doctest program gets it; dbserve_add_doctest() does it itself.
function(dbserve_doctest_must_run_cases)
  set_tests_properties(${ARGN} PROPERTIES FAIL_REGULAR_EXPRESSION "test cases: *[0-9]+ \\| *0 passed")
endfunction()

function(dbserve_add_doctest executable)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TEST;LABEL;TIMEOUT" "SOURCES;LIBRARIES")
  foreach(required TEST LABEL TIMEOUT SOURCES)
    if(NOT arg_${required})
      message(FATAL_ERROR "dbserve_add_doctest(${executable}): ${required} is missing")
    endif()
  endforeach()
  add_executable(${executable} ${arg_SOURCES})
  target_link_libraries(${executable} PRIVATE ${arg_LIBRARIES} doctest::doctest dbserve_warnings)
  add_test(NAME ${arg_TEST} COMMAND ${executable})
  set_tests_properties(${arg_TEST} PROPERTIES LABELS ${arg_LABEL} TIMEOUT ${arg_TIMEOUT})
  dbserve_doctest_must_run_cases(${arg_TEST})
endfunction()

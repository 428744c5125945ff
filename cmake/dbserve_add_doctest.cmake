# dbserve_add_doctest(<executable> TEST <ctest name> LABEL <label> TIMEOUT <seconds>
#                     SOURCES <file>... [LIBRARIES <target>...])
# A doctest program and the CTest test that runs it. Every such test carries a label,
# because scripts/test.sh picks its stages by label, and a timeout, because no test may
# hang; the program compiles with the project's warnings. Add compile definitions,
# include folders and dependencies to <executable> afterwards as usual.
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
endfunction()

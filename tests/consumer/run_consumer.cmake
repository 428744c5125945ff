# Runs one consumer scenario end to end in a fresh work directory: brings dbserve into a
# tiny project the way MODE says, builds it, and runs the program (tests/consumer/main.cpp).
#
#   cmake -DMODE=<find_package|add_subdirectory|fetchcontent|meson|meson_unit_tests|pkg_config|single_header>
#         -DSOURCE_DIR=<dbserve checkout> -DWORK_DIR=<scratch dir> -DCXX=<compiler>
#         [-DGENERATOR=Ninja] [-DADAPTERS=curl;beast] -P run_consumer.cmake
cmake_minimum_required(VERSION 3.16)

foreach(required MODE SOURCE_DIR WORK_DIR CXX)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "run_consumer.cmake: -D${required}=... is required")
  endif()
endforeach()
if(NOT GENERATOR)
  set(GENERATOR Ninja)
endif()
set(here ${CMAKE_CURRENT_LIST_DIR})
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs a command; on failure prints its output and stops.
function(step name)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "[${MODE}] ${name}: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT code EQUAL 0)
    message("${out}")
    message(FATAL_ERROR "[${MODE}] ${name} failed (${code})")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

function(run_consumer program)
  step("run the consumer" ${program})
  if(NOT step_output MATCHES "dbserve consumer ok")
    message("${step_output}")
    message(FATAL_ERROR "[${MODE}] the consumer did not report success")
  endif()
  message(STATUS "[${MODE}] ${step_output}")
endfunction()

# Configures, builds and installs dbserve itself into ${WORK_DIR}/prefix.
function(install_dbserve)
  set(options -DDBSERVE_BUILD_TESTS=OFF -DDBSERVE_BUILD_EXAMPLES=OFF -DDBSERVE_BUILD_EMULATOR=OFF -DCMAKE_BUILD_TYPE=Release)
  foreach(adapter IN LISTS ADAPTERS)
    string(TOUPPER ${adapter} upper)
    list(APPEND options -DDBSERVE_${upper}=ON)
  endforeach()
  step("configure dbserve" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/dbserve-build -G ${GENERATOR}
       -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_INSTALL_PREFIX=/nonexistent-configure-time-prefix ${options})
  step("build dbserve" ${CMAKE_COMMAND} --build ${WORK_DIR}/dbserve-build)
  # A different prefix at install time than at configure time: the package must relocate.
  step("install dbserve" ${CMAKE_COMMAND} --install ${WORK_DIR}/dbserve-build --prefix ${WORK_DIR}/prefix)
endfunction()

function(cmake_consumer mode)
  step("configure the consumer" ${CMAKE_COMMAND} -S ${here}/cmake_project -B ${WORK_DIR}/consumer-build
       -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
       -DDBSERVE_CONSUMER_MODE=${mode} -DDBSERVE_CONSUMER_SOURCE=${here}/main.cpp
       -DDBSERVE_SOURCE_DIR=${SOURCE_DIR} "-DDBSERVE_CONSUMER_ADAPTERS=${ADAPTERS}"
       -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DDBSERVE_EXPECTED_PREFIX=${WORK_DIR}/prefix
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  step("build the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
  run_consumer(${WORK_DIR}/consumer-build/consumer)
endfunction()

# Compiles main.cpp with the compiler alone plus the given flags, and runs it.
function(compile_and_run name)
  step("compile (${name})" ${CXX} -std=c++17 -Wall -Wextra -Wpedantic -Werror ${ARGN}
       ${here}/main.cpp -o ${WORK_DIR}/${name})
  run_consumer(${WORK_DIR}/${name})
endfunction()

if(MODE STREQUAL "find_package")
  install_dbserve()
  cmake_consumer(find_package)
elseif(MODE STREQUAL "add_subdirectory" OR MODE STREQUAL "fetchcontent")
  cmake_consumer(${MODE})
elseif(MODE STREQUAL "pkg_config")
  install_dbserve()
  find_program(PKG_CONFIG pkg-config REQUIRED)
  set(ENV{PKG_CONFIG_PATH} ${WORK_DIR}/prefix/share/pkgconfig)
  step("pkg-config" ${PKG_CONFIG} --cflags --libs dbserve)
  string(STRIP "${step_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  if(NOT flags MATCHES "${WORK_DIR}/prefix/share/pkgconfig/../../include")
    message(FATAL_ERROR "[${MODE}] pkg-config gave '${flags}', not the test prefix's include dir")
  endif()
  compile_and_run(consumer ${flags})
  foreach(adapter IN LISTS ADAPTERS)
    step("pkg-config for ${adapter}" ${PKG_CONFIG} --cflags --libs dbserve-${adapter})
  endforeach()
elseif(MODE STREQUAL "single_header")
  step("generate the single header" ${CMAKE_COMMAND} -DINCLUDE_DIR=${SOURCE_DIR}/include
       -DOUTPUT=${WORK_DIR}/single_include/dbserve/dbserve.hpp
       -P ${SOURCE_DIR}/cmake/generate_single_header.cmake)
  file(STRINGS ${WORK_DIR}/single_include/dbserve/dbserve.hpp includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]dbserve/")
  if(includes)
    message(FATAL_ERROR "[${MODE}] the single header still includes: ${includes}")
  endif()
  # Only the generated file and the system's include paths (nlohmann/json from there).
  compile_and_run(consumer -I${WORK_DIR}/single_include)
  compile_and_run(consumer_noexcept -I${WORK_DIR}/single_include -fno-exceptions -DJSON_NOEXCEPTION)
elseif(MODE STREQUAL "meson")
  find_program(MESON meson REQUIRED)
  set(project ${WORK_DIR}/project)
  file(COPY ${here}/meson_project/meson.build ${here}/main.cpp DESTINATION ${project})
  # The subproject is a copy of what a release tarball holds for Meson (not the build trees).
  set(subproject ${project}/subprojects/dbserve)
  file(MAKE_DIRECTORY ${subproject})
  file(COPY ${SOURCE_DIR}/meson.build ${SOURCE_DIR}/meson_options.txt ${SOURCE_DIR}/include
       DESTINATION ${subproject})
  if(EXISTS ${SOURCE_DIR}/adapters)
    file(COPY ${SOURCE_DIR}/adapters DESTINATION ${subproject} FILES_MATCHING PATTERN "*.hpp" PATTERN "meson.build")
  endif()
  set(ENV{CXX} ${CXX})
  step("meson setup" ${MESON} setup ${WORK_DIR}/build ${project})
  step("meson compile" ${MESON} compile -C ${WORK_DIR}/build)
  run_consumer(${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "meson_unit_tests")
  # dbserve's own Meson build: configure it, build a few unit programs that between them
  # include every layer (the client, the testing fakes, URLs and the request builders) and
  # run them with `meson test`. Every unit program already runs in three CMake stages; what
  # this checks is the Meson build, which compiling all of them again would not check better.
  find_program(MESON meson REQUIRED)
  set(ENV{CXX} ${CXX})
  set(meson_units unit_test_client unit_test_testing unit_test_url unit_test_request_builders)
  step("meson setup" ${MESON} setup ${WORK_DIR}/build ${SOURCE_DIR} -Dtests=enabled -Dbuildtype=plain)
  step("meson compile" ${MESON} compile -C ${WORK_DIR}/build ${meson_units})
  string(REPLACE "unit_test_" "unit.test_" meson_tests "${meson_units}")
  step("meson test" ${MESON} test -C ${WORK_DIR}/build --no-rebuild --print-errorlogs ${meson_tests})
  foreach(name IN LISTS meson_tests)
    if(NOT step_output MATCHES "${name} +OK")
      message(FATAL_ERROR "[${MODE}] meson test did not run ${name} and pass:\n${step_output}")
    endif()
  endforeach()
  message(STATUS "[${MODE}] ${step_output}")
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
message(STATUS "[${MODE}] ok")

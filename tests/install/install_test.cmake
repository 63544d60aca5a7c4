# cmake -DBUILD_DIR=... -DCONSUMER_SOURCE=... -DWORK_DIR=... [-DGENERATOR=... -DMAKE_PROGRAM=...
#       -DCXX_COMPILER=... -DCXX_FLAGS=... -DEXE_LINKER_FLAGS=... -DBUILD_TYPE=...]
#       -P install_test.cmake
#
# 1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix
# 2. configure CONSUMER_SOURCE with CMAKE_PREFIX_PATH=WORK_DIR/prefix (and nothing else that could
#    find the source tree), build it, run it
# 3. check that its output holds the counter it created, in both formats
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR CONSUMER_SOURCE WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# 1. install
run("cmake --install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
file(GLOB_RECURSE config "${prefix}/*/operantConfig.cmake")
file(GLOB_RECURSE version_file "${prefix}/*/operantConfigVersion.cmake")
file(GLOB_RECURSE targets "${prefix}/*/operantTargets.cmake")
if(NOT config OR NOT version_file OR NOT targets)
  message(FATAL_ERROR "the install has no operantConfig.cmake, operantConfigVersion.cmake or "
                      "operantTargets.cmake under ${prefix}")
endif()
foreach(header registry.h exposition.h counter.h)
  if(NOT EXISTS "${prefix}/include/operant/metrics/${header}")
    message(FATAL_ERROR "the install has no include/operant/metrics/${header}")
  endif()
endforeach()
message(STATUS "installed into ${prefix}")

# 2. configure, build
set(configure_args -S "${CONSUMER_SOURCE}" -B "${consumer_build}" "-DCMAKE_PREFIX_PATH=${prefix}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
# The sanitizer presets build the library instrumented: the consumer must link the same way.
list(APPEND configure_args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}")
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
run("configuring the consumer" ${CMAKE_COMMAND} ${configure_args})
if(NOT run_output MATCHES "operant [0-9.]+ from ${prefix}")
  message(FATAL_ERROR "the consumer did not find operant in ${prefix}:\n${run_output}")
endif()
run("building the consumer" ${CMAKE_COMMAND} --build "${consumer_build}")

# 3. run, check
set(exe "${consumer_build}/consumer")
if(NOT EXISTS "${exe}")
  file(GLOB_RECURSE exe "${consumer_build}/consumer" "${consumer_build}/*/consumer")
endif()
run("running the consumer" "${exe}")
set(want_lines
  "# TYPE consumer_requests_total counter\n"
  "consumer_requests_total 3\n"
  "# TYPE consumer_requests counter\n"
  "consumer_requests_total 3.0\n"
  "# EOF\n"
  "http server bound to port ")
foreach(want ${want_lines})
  string(FIND "${run_output}" "${want}" at)
  if(at EQUAL -1)
    string(STRIP "${want}" shown)
    message(FATAL_ERROR "the consumer's output lacks \"${shown}\":\n${run_output}")
  endif()
endforeach()
message(STATUS "the consumer built against ${prefix} printed:\n${run_output}")

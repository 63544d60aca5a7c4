# Runs `expose_all --format text | promtool check metrics` and fails unless both exit 0 and
# promtool reports no problem at all (its lint findings are printed but do not change its exit
# code, so any output counts as a failure).
#   cmake -DEXPOSE_ALL=<path> -DPROMTOOL=<path> -P promtool_check.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var EXPOSE_ALL PROMTOOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "promtool_check.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${PROMTOOL}")
  message(FATAL_ERROR "promtool not found at '${PROMTOOL}': run scripts/install-deps "
                      "(Debian package `prometheus`)")
endif()

execute_process(COMMAND "${EXPOSE_ALL}" --format text
  RESULT_VARIABLE expose_rc OUTPUT_VARIABLE body ERROR_VARIABLE expose_err)
if(NOT expose_rc EQUAL 0)
  message(FATAL_ERROR "expose_all failed (${expose_rc}): ${expose_err}")
endif()
string(LENGTH "${body}" body_len)
if(body_len LESS 1000)
  message(FATAL_ERROR "expose_all wrote only ${body_len} bytes:\n${body}")
endif()

get_filename_component(dir "${EXPOSE_ALL}" DIRECTORY)
set(file "${dir}/expose_all.prom")
file(WRITE "${file}" "${body}")
execute_process(COMMAND "${PROMTOOL}" check metrics
  INPUT_FILE "${file}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "promtool check metrics on ${body_len} bytes (${file}): exit ${rc}")
if(NOT rc EQUAL 0 OR NOT "${out}${err}" STREQUAL "")
  message(FATAL_ERROR "promtool check metrics found problems (exit ${rc}):\n${out}${err}")
endif()
message(STATUS "promtool check metrics: no problems")

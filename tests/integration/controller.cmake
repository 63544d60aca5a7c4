# The controller module against the real Prometheus tools (Debian's `prometheus` package):
#   integration.controller_prometheus   metrics-controller scraped by /usr/bin/prometheus
#   integration.controller_rules        promtool check rules + promtool test rules on dashboards/
# Included from tests/integration/CMakeLists.txt. The examples are added after tests/, so the
# executable is named through a generator expression, which resolves at generation time.
find_program(OPERANT_PROMETHEUS prometheus PATHS /usr/bin NO_CACHE)
if(NOT OPERANT_PROMETHEUS)
  set(OPERANT_PROMETHEUS /usr/bin/prometheus)  # the test fails and says so
endif()
if(NOT OPERANT_PROMTOOL)
  set(OPERANT_PROMTOOL /usr/bin/promtool)
endif()

if(OPERANT_BUILD_EXAMPLES AND EXISTS ${PROJECT_SOURCE_DIR}/examples/metrics-controller/main.cpp
   AND EXISTS ${PROJECT_SOURCE_DIR}/src/http)
  add_test(NAME integration.controller_prometheus
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/controller_prometheus_test.py prometheus
      --metrics-controller $<TARGET_FILE:metrics-controller>
      --prometheus ${OPERANT_PROMETHEUS})
  set_tests_properties(integration.controller_prometheus PROPERTIES
    LABELS integration TIMEOUT 240 RUN_SERIAL TRUE)
endif()

add_test(NAME integration.controller_rules
  COMMAND ${CMAKE_COMMAND} -E chdir ${PROJECT_SOURCE_DIR}/dashboards
    sh -c "\"${OPERANT_PROMTOOL}\" check rules operant-controller-rules.yml && \"${OPERANT_PROMTOOL}\" test rules operant-controller-rules.test.yml")
set_tests_properties(integration.controller_rules PROPERTIES LABELS integration TIMEOUT 60)

# docs/controller.md's code blocks compile, link and run.
add_test(NAME docs.controller_snippets
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/readme/check_snippets.py
    ${PROJECT_SOURCE_DIR}/docs/controller.md ${CMAKE_CXX_COMPILER} ${PROJECT_SOURCE_DIR}/include
    $<TARGET_FILE:operant_controller> $<TARGET_FILE:operant_metrics> --flags "${CMAKE_CXX_FLAGS}"
    --marker controller-snippet)
set_tests_properties(docs.controller_snippets PROPERTIES LABELS docs TIMEOUT 300)

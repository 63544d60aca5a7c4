# The kube examples against the loopback API server, and the manifests of deploy/:
#   integration.kube_pod_controller        pod-controller sees exactly the pods created and deleted
#   integration.kube_leader_election       two leader-election-controllers: one leads, hand-over
#   integration.kube_examples_flags        --help and bad flags of both examples
#   integration.deploy_manifests           deploy/'s structure against the examples' flags
# Included from tests/integration/CMakeLists.txt. The examples are added after tests/ and
# fake-apiserver by tests/kube/support/programs.cmake, so executables are named through generator
# expressions, which resolve at generation time.
if(OPERANT_BUILD_EXAMPLES AND TARGET operant_kube AND TARGET kube_tests
   AND EXISTS ${PROJECT_SOURCE_DIR}/examples/pod-controller/main.cpp
   AND EXISTS ${PROJECT_SOURCE_DIR}/examples/leader-election-controller/main.cpp)
  set(kube_examples_test ${CMAKE_CURRENT_LIST_DIR}/kube_examples_test.py)
  add_test(NAME integration.kube_pod_controller
    COMMAND /usr/bin/python3 ${kube_examples_test} pod
      --fake-apiserver $<TARGET_FILE:fake-apiserver>
      --pod-controller $<TARGET_FILE:pod-controller>)
  add_test(NAME integration.kube_leader_election
    COMMAND /usr/bin/python3 ${kube_examples_test} leader
      --fake-apiserver $<TARGET_FILE:fake-apiserver>
      --leader-election-controller $<TARGET_FILE:leader-election-controller>)
  add_test(NAME integration.kube_examples_flags
    COMMAND /usr/bin/python3 ${kube_examples_test} flags
      --pod-controller $<TARGET_FILE:pod-controller>
      --leader-election-controller $<TARGET_FILE:leader-election-controller>)
  add_test(NAME integration.deploy_manifests
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/deploy_manifests_test.py
      --deploy ${PROJECT_SOURCE_DIR}/deploy
      --pod-controller $<TARGET_FILE:pod-controller>
      --leader-election-controller $<TARGET_FILE:leader-election-controller>)
  set_tests_properties(integration.kube_pod_controller integration.kube_leader_election
    integration.kube_examples_flags integration.deploy_manifests
    PROPERTIES LABELS "integration;kube" TIMEOUT 60)
endif()

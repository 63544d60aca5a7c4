# Programs of the kube test support, included from tests/CMakeLists.txt after kube_fake_apiserver
# is defined:
#   fake-apiserver   the loopback API server as a process (TLS, bearer token, writes a kubeconfig),
#                    used by tests/integration/kube_examples_test.py to run the kube examples.
if(TARGET kube_fake_apiserver)
  add_executable(fake-apiserver ${CMAKE_CURRENT_LIST_DIR}/fake_apiserver_main.cpp)
  target_link_libraries(fake-apiserver PRIVATE kube_fake_apiserver OpenSSL::Crypto)
  operant_warnings(fake-apiserver)
endif()

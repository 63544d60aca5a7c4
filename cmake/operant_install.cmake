include(CMakePackageConfigHelpers)
list(TRANSFORM OPERANT_MODULES PREPEND operant_ OUTPUT_VARIABLE operant_targets)
install(TARGETS ${operant_targets} EXPORT operantTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/operant DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT operantTargets NAMESPACE operant:: FILE operantTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/operant)
configure_package_config_file(cmake/operantConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/operantConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/operant)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/operantConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/operantConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/operantConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/operant)

# `cmake --install BUILD [--prefix DIR]`: what a C++ user needs to build against Gossamer.
#
#   DIR/include/gossamer/...             the public headers (one umbrella per layer: gossamer/optim.h, ...;
#                                        gossamer/gossamer.h includes them all)
#   DIR/lib/libgossamer_<layer>.a        one static library per layer
#   DIR/lib/cmake/Gossamer/              GossamerConfig.cmake, its version file and the exported targets
#   DIR/bin/gossamer                     the command-line tool
#
# Exported targets: Gossamer::gossamer (everything) and Gossamer::<layer> (e.g. Gossamer::optim).
# tests/install/check_install.sh (a ctest) installs into the build folder, builds examples/cpp and a
# unit that includes every installed header against the installed package, and runs the example.
include(CMakePackageConfigHelpers)

# Headers that only the library's own .cpp files include: argument checks, the loop's internal
# pieces, logging. They are not installed, so no public header may include them (the install check
# compiles every installed header and fails if one does).
set(GOSSAMER_INTERNAL_HEADERS
    comm/checks.h comm/kernels.h kernels/detail.h kernels/parallel.h optim/detail.h
    train/batch_stream.h train/metrics_log.h train/preflight.h train/sparse_setup.h util/log.h)

set_target_properties(gossamer_deps PROPERTIES EXPORT_NAME deps)
foreach(target ${GOSSAMER_LAYER_TARGETS})
  string(REGEX REPLACE "^gossamer_" "" layer ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${layer})
endforeach()

install(TARGETS gossamer gossamer_deps ${GOSSAMER_LAYER_TARGETS}
        EXPORT GossamerTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS gossamer_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(header_excludes "")
foreach(header ${GOSSAMER_INTERNAL_HEADERS})
  list(APPEND header_excludes PATTERN ${header} EXCLUDE)
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gossamer DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" ${header_excludes})

set(GOSSAMER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Gossamer)
install(EXPORT GossamerTargets NAMESPACE Gossamer:: DESTINATION ${GOSSAMER_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/GossamerConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/GossamerConfig.cmake
                              INSTALL_DESTINATION ${GOSSAMER_CMAKE_DIR})
# 0.x: a minor version may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/GossamerConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/GossamerConfig.cmake ${PROJECT_BINARY_DIR}/GossamerConfigVersion.cmake
        DESTINATION ${GOSSAMER_CMAKE_DIR})

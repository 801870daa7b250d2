# The .deb packages, built by CPack from the tree's install rules:
#   dorahost      component `dorahost`: dorahost and dora, the sample plugins,
#                 the config and route files (conffiles), the schema, the
#                 systemd unit, the maintainer scripts, docs
#   dorahost-dev  component `sdk` (plugin-sdk/): SDK headers, the CMake
#                 package DoraSDK, the example plugin
# packaging/build-deb.sh builds them (prefix /usr, Release, Debian's
# hardening flags); packaging/test-deb.sh installs them and exercises them.
# Included last by the top-level CMakeLists.txt: CPack sees the install
# rules defined before it.

set(DORA_PKG_SRC ${CMAKE_CURRENT_LIST_DIR})
set(DORA_PKG_BIN ${CMAKE_BINARY_DIR}/packaging)
set(DORA_DEB_RELEASE 1)
set(DORA_DEB_VERSION ${PROJECT_VERSION}-${DORA_DEB_RELEASE})

# ---------------------------------------------------------------- the unit

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(DORA_SYSTEMD_UNITDIR /lib/systemd/system)
else()
  set(DORA_SYSTEMD_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(DORA_INSTALL_FULL_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
configure_file(${DORA_PKG_SRC}/dorahost.service.in ${DORA_PKG_BIN}/dorahost.service @ONLY)
install(FILES ${DORA_PKG_BIN}/dorahost.service
  DESTINATION ${DORA_SYSTEMD_UNITDIR} COMPONENT dorahost)

# ---------------------------------------------------------------- docs

# dora_gzip(SRC DST): gzip -9n (no name, no time stamp: reproducible), as
# Debian wants changelogs and manual pages.
file(MAKE_DIRECTORY ${DORA_PKG_BIN}/man)
function(dora_gzip src dst)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  execute_process(COMMAND gzip -9nc ${src} OUTPUT_FILE ${dst} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${src} failed: ${rc}")
  endif()
endfunction()
dora_gzip(${DORA_PKG_SRC}/changelog ${DORA_PKG_BIN}/changelog.Debian.gz)
foreach(m dorahost dora)
  dora_gzip(${DORA_PKG_SRC}/man/${m}.1 ${DORA_PKG_BIN}/man/${m}.1.gz)
  install(FILES ${DORA_PKG_BIN}/man/${m}.1.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT dorahost)
endforeach()
file(STRINGS ${DORA_PKG_SRC}/changelog top LIMIT_COUNT 1)
if(NOT top MATCHES "^dorahost \\(${DORA_DEB_VERSION}\\) ")
  message(WARNING "packaging/changelog: the top entry is not version ${DORA_DEB_VERSION}: "
    "add an entry before building packages (packaging/test-deb.sh fails until then)")
endif()

set(DORA_DOC_FILES ${DORA_PKG_SRC}/copyright ${DORA_PKG_BIN}/changelog.Debian.gz)
install(FILES ${DORA_DOC_FILES} ${DORA_PKG_SRC}/README.Debian
  ${CMAKE_SOURCE_DIR}/docs/config.md ${CMAKE_SOURCE_DIR}/docs/protocol.md
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/dorahost COMPONENT dorahost)
install(FILES ${DORA_DOC_FILES}
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/dorahost-dev COMPONENT sdk)
# Reviewed lintian findings, each with its reason.
install(FILES ${DORA_PKG_SRC}/lintian/dorahost
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides COMPONENT dorahost)
install(FILES ${DORA_PKG_SRC}/lintian/dorahost-dev
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides COMPONENT sdk)

# ---------------------------------------------------------------- control files

# conffiles: every file installed under the config folder (config/CMakeLists.txt).
get_property(DORA_CONFFILES GLOBAL PROPERTY DORA_CONFFILES)
list(JOIN DORA_CONFFILES "\n" conffiles)
file(GENERATE OUTPUT ${DORA_PKG_BIN}/control/conffiles CONTENT "${conffiles}\n")
foreach(s postinst prerm postrm)
  configure_file(${DORA_PKG_SRC}/${s} ${DORA_PKG_BIN}/control/${s} COPYONLY)
endforeach()

# Install rules outside the two packaged components would silently miss
# the packages; rules without COMPONENT land in dorahost (top-level default).
get_cmake_property(DORA_COMPONENTS COMPONENTS)
list(REMOVE_ITEM DORA_COMPONENTS dorahost sdk)
if(DORA_COMPONENTS)
  message(WARNING "install components not in any .deb: ${DORA_COMPONENTS} (packaging/Packaging.cmake)")
endif()

# ---------------------------------------------------------------- CPack

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dorahost)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "dorahost developers")
set(CPACK_PACKAGE_CONTACT "dorahost developers <dorahost-devel@example.org>")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
# /etc and /lib/systemd lie outside the prefix: install with DESTDIR.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
# Checks the tools CPack needs and would otherwise silently do without.
set(CPACK_PROJECT_CONFIG_FILE ${DORA_PKG_SRC}/CPackProjectConfig.cmake)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dorahost sdk)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DORA_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_DORAHOST_PACKAGE_NAME dorahost)
set(CPACK_DEBIAN_DORAHOST_PACKAGE_SECTION net)
set(CPACK_DEBIAN_DORAHOST_PACKAGE_SHLIBDEPS ON)
# adduser: postinst creates the system user. The rest comes from dpkg-shlibdeps.
set(CPACK_DEBIAN_DORAHOST_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DORAHOST_PACKAGE_RECOMMENDS "mariadb-server, redis-server")
set(CPACK_DEBIAN_DORAHOST_PACKAGE_SUGGESTS "dorahost-dev")
set(CPACK_DEBIAN_DORAHOST_PACKAGE_CONTROL_EXTRA
  ${DORA_PKG_BIN}/control/conffiles ${DORA_PKG_BIN}/control/postinst
  ${DORA_PKG_BIN}/control/prerm ${DORA_PKG_BIN}/control/postrm)
set(CPACK_DEBIAN_DORAHOST_DESCRIPTION "RPC application server with loadable controller plugins
dorahost serves RPC calls from DoraRPC clients (PHP), the dora command-line
client and anything speaking JSON over TCP or HTTP. The host owns sockets,
framing, worker pools, MySQL and Redis connection pools and a durable
asynchronous queue; each API is a handler in a controller plugin (a shared
object built against the SDK in dorahost-dev), declared in a YAML route file.

This package holds the server, the dora client, the sample plugins, the
default configuration, the database schema and a systemd unit.")

set(CPACK_DEBIAN_SDK_PACKAGE_NAME dorahost-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION devel)
# Not Architecture: all although header-only: plugin-sdk/ installs the CMake
# package in the multiarch libdir (lib/<triplet>/cmake/DoraSDK), and lintian
# rejects a triplet directory in an arch-independent package.
set(CPACK_DEBIAN_SDK_PACKAGE_RECOMMENDS "cmake, g++ | c++-compiler")
set(CPACK_DEBIAN_SDK_PACKAGE_SUGGESTS "dorahost")
set(CPACK_DEBIAN_SDK_DESCRIPTION "plugin SDK for the dorahost RPC application server
dorahost serves RPC calls through controller plugins: shared objects loaded
at run time, each declaring its APIs in a YAML route file.

This package holds what a plugin author needs: the SDK headers (a C ABI
with a header-only C++ layer), the CMake package DoraSDK and an example
plugin to copy.")

include(CPack)

# ---------------------------------------------------------------- the test

# packaging/test-deb.sh builds the packages in a tree of its own (kept, so
# later runs are incremental), installs them, runs and calls the installed
# server, drops in the example plugin, then removes and purges them. Root
# only (skipped otherwise); `ctest -LE package` leaves it out.
if(DORA_BUILD_TESTS)
  add_test(NAME package_deb COMMAND ${DORA_PKG_SRC}/test-deb.sh)
  set_tests_properties(package_deb PROPERTIES
    ENVIRONMENT "DORA_PKG_BUILD_DIR=${CMAKE_BINARY_DIR}/packaging/deb-build"
    LABELS package RUN_SERIAL TRUE TIMEOUT 1800 SKIP_RETURN_CODE 77)
endif()

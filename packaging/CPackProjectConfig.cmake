# Read by cpack before it builds a package (CPACK_PROJECT_CONFIG_FILE).
# Without dpkg-shlibdeps, or without `file` (CPack uses it to find the ELF
# files to scan), CPack builds a dorahost package with no shared-library
# Depends and says nothing: refuse instead.
if(CPACK_GENERATOR STREQUAL "DEB")
  foreach(tool dpkg-shlibdeps file)
    find_program(DORA_TOOL_${tool} ${tool})
    if(NOT DORA_TOOL_${tool})
      message(FATAL_ERROR "${tool} not found: the .deb would lack its Depends (apt-get install dpkg-dev file)")
    endif()
  endforeach()
endif()

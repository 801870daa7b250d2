# DoraPlugin.cmake — dora_add_plugin(): build a dorahost controller plugin.
#
# One definition for every plugin: the dorahost tree includes this file
# from plugin-sdk/, and the installed CMake package DoraSDK includes it for
# third-party plugins, so both are built the same way.
#
#   dora_add_plugin(<name> <source>... [OUTPUT_DIR <dir>])
#
# Builds lib<name>.so, a MODULE library linked only against Dora::SDK.
# It exports one symbol, dora_plugin_entry: sources are compiled with
# hidden visibility, and a version script keeps local what -fvisibility
# cannot (libstdc++ gives its template instantiations default visibility),
# so two plugins in one host never bind to each other's code.
#
# OUTPUT_DIR is where the .so is written; by default DORA_PLUGIN_OUTPUT_DIR
# if that is set, else CMake's usual place (the current binary folder).
#
# A project that wants more for each plugin (warnings, install rules)
# defines a command dora_plugin_added(<name>); it is called last.
include_guard(GLOBAL)

if(CMAKE_VERSION VERSION_LESS 3.17)
  message(FATAL_ERROR "dora_add_plugin needs CMake 3.17 or newer (this is ${CMAKE_VERSION})")
endif()

function(dora_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 A "" "OUTPUT_DIR" "")
  if(NOT A_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "dora_add_plugin(${name}): no source files given")
  endif()
  if(NOT TARGET Dora::SDK)
    message(FATAL_ERROR "dora_add_plugin(${name}): target Dora::SDK is missing; "
      "call find_package(DoraSDK REQUIRED) first")
  endif()
  if(NOT A_OUTPUT_DIR AND DORA_PLUGIN_OUTPUT_DIR)
    set(A_OUTPUT_DIR ${DORA_PLUGIN_OUTPUT_DIR})
  endif()
  set(map ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/dora-plugin.map)

  add_library(${name} MODULE ${A_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE Dora::SDK)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(A_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${A_OUTPUT_DIR})
  endif()
  target_link_options(${name} PRIVATE "LINKER:--version-script=${map}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${map})

  if(COMMAND dora_plugin_added)
    dora_plugin_added(${name})
  endif()
endfunction()

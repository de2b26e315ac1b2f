# Writes OUT (a header defining GNET_GIT_VERSION) from `git describe` of SRC, at every build,
# and only when the text changes (so nothing recompiles when the version did not move).
execute_process(COMMAND git describe --always --dirty --tags WORKING_DIRECTORY "${SRC}"
                OUTPUT_VARIABLE v OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR v STREQUAL "")
  set(v "unknown (not built from a git checkout)")
endif()
set(text "#define GNET_GIT_VERSION \"${v}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()

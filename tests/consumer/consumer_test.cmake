# tests/consumer/consumer_test.cmake: the `install` test, run by CTest as
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DSOURCE_DIR=... -P consumer_test.cmake
# Installs the build into WORK_DIR/prefix, configures and builds tests/consumer against it with
# find_package(chaperone), and runs the consumer on a fresh spool. Any step failing fails.
cmake_minimum_required(VERSION 3.25)
foreach(var BUILD_DIR WORK_DIR SOURCE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "consumer_test: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer_test: ${name} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "consumer_test: ${name}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
# Only the public API is published: no private headers of the CLI or the supervisor.
foreach(private chaperone/cli/cli_context.hpp chaperone/supervisor/spawn.hpp)
  if(EXISTS ${prefix}/include/${private})
    message(FATAL_ERROR "consumer_test: private header installed: include/${private}")
  endif()
endforeach()
foreach(public include/chaperone/chaperone.hpp bin/chaperone bin/chaperone-supervisor
               bin/chaperone-hold)
  if(NOT EXISTS ${prefix}/${public})
    message(FATAL_ERROR "consumer_test: not installed: ${public}")
  endif()
endforeach()

step("configure the consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=RelWithDebInfo)
step("build the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
file(MAKE_DIRECTORY ${WORK_DIR}/spool)
file(CHMOD ${WORK_DIR}/spool DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
step("run the consumer" ${WORK_DIR}/build/consumer ${prefix}/bin/chaperone-supervisor
     ${WORK_DIR}/spool)
if(NOT step_output MATCHES "consumer: ok")
  message(FATAL_ERROR "consumer_test: the consumer did not report ok:\n${step_output}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})

# cmake -DCOMMAND=<program;args> -DOUTPUT=<file> -P write_output.cmake: runs the program and
# writes what it prints to the file (a build step without shell redirection); fails with it.
execute_process(COMMAND ${COMMAND} OUTPUT_FILE "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "${COMMAND} failed (${rc})")
endif()

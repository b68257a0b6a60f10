# examples/minimal.cpp: back up a plain SQLite database of any schema, list, verify. Its test
# makes a database of its own schema in a scratch folder (Python's sqlite3) and checks the
# output.
add_executable(minimal "${CMAKE_CURRENT_LIST_DIR}/minimal.cpp")
target_link_libraries(minimal PRIVATE hone::backup)
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME example_minimal
           COMMAND ${Python3_EXECUTABLE} "${CMAKE_CURRENT_LIST_DIR}/minimal_test.py" $<TARGET_FILE:minimal>
                   "${CMAKE_CURRENT_BINARY_DIR}/minimal-scratch")
  set_tests_properties(example_minimal PROPERTIES LABELS example TIMEOUT 120)
else()
  message(STATUS "hone-backup: python3 not found; the example_minimal test is not registered")
endif()

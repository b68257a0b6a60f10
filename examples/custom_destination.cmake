# examples/custom_destination.cpp: a Destination written outside the library. Its test passes
# only when backups made through that destination verify.
add_executable(custom_destination "${CMAKE_CURRENT_LIST_DIR}/custom_destination.cpp")
target_link_libraries(custom_destination PRIVATE hone::backup)
add_test(NAME example_custom_destination
         COMMAND custom_destination "${CMAKE_CURRENT_BINARY_DIR}/custom_destination-scratch")
set_tests_properties(example_custom_destination PROPERTIES LABELS example TIMEOUT 120)

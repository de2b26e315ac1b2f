/* Linked with one of gnet's libraries in whole (tests/CMakeLists.txt): building it is the
 * check that the library needs nothing from a library above it. */
int main(void) { return 0; }

/* The reuse_port benchmark's server: examples/reuseport_echo.c itself (one
 * loop per thread, each with its own server on one port), built here with
 * the benchmarks' flags, as echo_casyncio.c is. */
#include "../examples/reuseport_echo.c"

/* The UDP echo benchmark's casyncio server: examples/udp_echo_server.c
 * itself, built here with the benchmarks' flags so that `make bench` has
 * every server of the benchmark under one directory. */
#include "../examples/udp_echo_server.c"

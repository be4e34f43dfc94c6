/* The echo benchmark's casyncio servers: examples/echo_server.c itself
 * (--mode streams|protocol), built here with the benchmarks' flags so that
 * `make bench` has every server of the benchmark under one directory. */
#include "../examples/echo_server.c"

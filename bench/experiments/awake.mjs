/**
 * Keeps the process's event loop from ever sleeping: a setImmediate that schedules itself, so
 * libuv polls its sockets with a zero timeout and never blocks in epoll_wait. Preloaded into
 * Ferry (`FERRY_NODE_ARGS=--import=<abs path of this file>`, the `@before` twin without it), it
 * tests whether a client pays to wake a server that waits for its bytes: on path C the bench's one
 * client thread is the bottleneck, and a loopback write to a sleeping Ferry may cost it a wake-up
 * (docs/benchmarks-log.md, "C: a subscriber's in-flight window of 1,000, and what C's rate
 * measures"). A diagnosis, not a setting: it spends a whole core.
 */
function spin() {
  setImmediate(spin);
}
spin();

/**
 * Keeps the process's event loop from ever sleeping: a setImmediate that schedules itself, so
 * libuv polls its sockets with a zero timeout and never blocks in epoll_wait. Preloaded into
 * Ferry (`FERRY_NODE_ARGS=--import=<abs path of this file>`, the `@before` twin without it), it
 * shows what a client pays to wake a server that waits for its bytes: on path C the bench's one
 * client thread is the bottleneck, and each of its writes to a sleeping Ferry costs it a wake-up
 * (docs/benchmarks.md, "C's rate: the client pays for waking Ferry"). A diagnosis, not a setting:
 * it spends a whole core.
 */
function spin() {
  setImmediate(spin);
}
spin();

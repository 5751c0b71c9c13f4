/**
 * EXPERIMENT, not a fix: preloaded into the Ferry process only (`FERRY_IMPORT=bench/experiments/autocork.mjs`)
 * to measure what batching socket writes would gain, without touching Ferry's code.
 *
 * Every net.Socket write corks its socket until the end of the current tick (process.nextTick
 * runs after the microtasks that produced the writes), so the PUBACKs that one batch of
 * RabbitMQ confirms settles, and the publishes amqplib's Mux writes in one pass, leave in one
 * writev instead of one write(2) each. TCP_NODELAY stays on: nothing waits longer than the tick.
 */
import net from 'node:net';

const write = net.Socket.prototype.write;
const corked = Symbol('autocork');

net.Socket.prototype.write = function autocorkWrite(...args) {
  if (!this[corked]) {
    this[corked] = true;
    this.cork();
    process.nextTick(() => {
      this[corked] = false;
      this.uncork();
    });
  }
  return write.apply(this, args);
};

export * from './start-stop.js';
export * from './flow-watch.js';
export * from './connector-counters.js';
export * from './failure-log.js';
export * from './reconnect-timer.js';
export * from './connector-base.js';

export * from './start-stop.js';
export * from './flow-watch.js';
export * from './outcome-metrics.js';
export * from './failure-log.js';
export * from './reconnect-timer.js';

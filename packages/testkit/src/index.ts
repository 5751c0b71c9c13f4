export * from './ports.js';
export * from './brokers.js';
export * from './wait.js';
export * from './tally.js';
export * from './proxy.js';
export * from './flow.js';
export * from './logger.js';
export * from './metrics.js';

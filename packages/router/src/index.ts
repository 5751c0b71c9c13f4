export * from './addresses.js';
export * from './patterns.js';
export * from './templates.js';
export * from './check.js';
export * from './table.js';
export * from './engine.js';
export * from './failure-log.js';
export * from './route-test.js';

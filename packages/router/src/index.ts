export * from './addresses.js';
export * from './patterns.js';
export * from './templates.js';
export * from './check.js';

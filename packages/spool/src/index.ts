export * from './spool.js';
export * from './spooled-sink.js';
export { SpoolListenerStore } from './listener-store.js';

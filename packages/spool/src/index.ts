export * from './spool.js';
export * from './spooled-sink.js';
export * from './message-codec.js';
export { SpoolListenerStore } from './listener-store.js';

export * from './spool.js';
export * from './spooled-sink.js';

export * from './spool.js';
export * from './spooled-sink.js';
export * from './message-codec.js';

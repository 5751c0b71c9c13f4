export * from './options.js';
export * from './listener-role.js';
export * from './tls-context.js';
export * from './burst-log.js';
export * from './listener.js';
export * from './client-tls.js';
export * from './listening-line.js';
export * from './turn-writer.js';

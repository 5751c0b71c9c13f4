export * from './password-hash.js';
export * from './grant-pattern.js';
export * from './slow-down.js';
export * from './users.js';
export * from './authenticator.js';
export * from './options.js';

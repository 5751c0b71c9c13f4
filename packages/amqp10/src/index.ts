export * from './mapping.js';

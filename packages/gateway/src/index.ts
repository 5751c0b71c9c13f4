export { Gateway } from './gateway.js';
export { Runtime } from './runtime.js';
export { PromMetrics } from './metrics.js';
export { defaultRegistry } from './registry.js';

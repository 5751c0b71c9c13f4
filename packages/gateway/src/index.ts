export { Gateway, type GatewayOptions } from './gateway.js';
export { Runtime, type RuntimeOptions } from './runtime.js';
export { AdminHttp, type AdminView } from './admin-http.js';
export { PromMetrics } from './metrics.js';
export { createLogger, type LogLevel, type LogFormat } from './logger.js';
export { connectorTypes, defaultRegistry } from './registry.js';
export { formatExplain } from './commands.js';
export { NODE_FLAGS } from './node-flags.js';

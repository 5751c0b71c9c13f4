export { loadConfig } from './load.js';
export { parseConfig } from './parse.js';
export { jsonSchema } from './json-schema.js';
export { ConfigError, formatErrors, sortErrors, toConfigFerryError, type ConfigErrorCode, type ConfigErrorInit } from './errors.js';
export { interpolate, type EnvResult } from './env.js';
export { gatewaySchema, NAME_PATTERN, LOG_LEVELS } from './gateway-section.js';
export type { GatewayConfig, GatewaySection, LoadOptions, LoadResult, LogLevel } from './types.js';

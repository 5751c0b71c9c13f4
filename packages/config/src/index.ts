export { loadConfig } from './load.js';
export { parseConfig } from './parse.js';
export { jsonSchema } from './json-schema.js';
export { ConfigError, formatErrors, sortErrors, toConfigFerryError, type ConfigErrorCode, type ConfigErrorInit } from './errors.js';
export { interpolate, type EnvResult } from './env.js';
export { gatewaySchema, spoolSchema, parseByteSize, NAME_PATTERN, LOG_LEVELS, SPOOL_OVERFLOW, DEFAULT_SPOOL_MAX_BYTES } from './gateway-section.js';
export type { GatewayConfig, GatewaySection, LoadOptions, LoadResult, LogLevel, SpoolSection } from './types.js';
export { loadRouteTests, type LocatedRouteTestCase, type RouteTestSuite, type RouteTestsResult, type RouteTestsOptions } from './route-tests.js';

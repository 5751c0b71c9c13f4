import type { ConnectorContext, Metrics } from '@ferry/core';
import { captureLogger, type LogLine } from './logger.js';
import { RecordingMetrics } from './metrics.js';

/**
 * A connector context for tests that build a connector directly: its log lines land in `lines`
 * (printed with FERRY_TEST_LOG=1), its metrics in a RecordingMetrics unless given.
 */
export function testContext(lines: LogLine[] = [], metrics: Metrics = new RecordingMetrics(), gatewayId = 'test'): ConnectorContext {
  return { gatewayId, logger: captureLogger(lines), metrics, baseDir: process.cwd() };
}

import { silentLogger, type Logger } from '@ferry/core';
import { parseConfig } from '@ferry/config';
import { Gateway, PromMetrics, defaultRegistry } from '@ferry/gateway';

/** Start a real gateway in this process from route-file text; throws with every error if invalid. */
export async function startGateway(yaml: string, logger: Logger = silentLogger): Promise<Gateway> {
  const result = parseConfig(yaml, 'test.yaml', defaultRegistry());
  if (!result.ok) throw new Error('route file invalid:\n' + result.errors.map((e) => e.format()).join('\n'));
  const gateway = await Gateway.load(result.config, { registry: defaultRegistry(), logger, metrics: new PromMetrics(result.config.gateway.id) });
  await gateway.start();
  return gateway;
}

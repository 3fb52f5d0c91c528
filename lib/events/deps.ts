import { type Config, loadConfig } from '../config';
import { ConfigError } from '../errors';
import { createLogger, type Logger } from '../log';
import { once } from '../runtime';
import { createEventBridgeClient, eventBridgeBus } from './bus';
import type { PublishDeps } from './publish';

/** publishEvents' dependencies from its configuration: EventBridge, on EVENT_BUS_NAME. */
export function publishDepsFromConfig(
  config: Pick<Config, 'eventBusName' | 'lowBalanceThreshold'>,
  logger: Logger = createLogger(),
): PublishDeps {
  if (!config.eventBusName) {
    throw new ConfigError('EVENT_BUS_NAME is not set: publishEvents has nowhere to publish');
  }
  return {
    bus: eventBridgeBus(createEventBridgeClient(), config.eventBusName),
    logger,
    settings: { lowBalanceThreshold: config.lowBalanceThreshold },
  };
}

/** Once per container, so the client's connections are reused across invocations. */
export const publishDepsFromEnv = once(() => publishDepsFromConfig(loadConfig()));

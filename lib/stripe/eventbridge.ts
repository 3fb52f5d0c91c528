import * as z from 'zod';
import { ConfigError, CreditsError, InputError } from '../errors';
import { errorFields } from '../log';
import { depsFromEnv, once } from '../runtime';
import type { RunOptions } from '../store/command';
import { processDepsFromEnv } from './deps';
import { UnsupportedApiVersionError } from './errors';
import { type AcceptedApiVersions, parseStripeEvent, type StripeEvent } from './events';
import { type EventSummary, type ProcessDeps, processEvent } from './process';

/**
 * Stripe's events delivered through Amazon EventBridge (Stripe's event destinations) instead of
 * the webhook: an EventBridge rule on Stripe's partner event bus invokes stripeEventBridge with
 * an EventBridge event whose `detail` is the Stripe event. There is no signature: trust comes
 * from the partner source, which only Stripe can put events on. The event is then processed
 * exactly as a webhook delivery (processEvent), so the same natural keys make an event that
 * arrives both ways (during a move from one to the other) count once.
 */
export type BridgeSettings = {
  /** STRIPE_EVENT_SOURCE: the partner event source, `aws.partner/stripe.com/...`. */
  readonly source?: string;
  /** STRIPE_LIVEMODE: live events (true) or test ones (false), never both. */
  readonly livemode: boolean;
  readonly acceptedApiVersions: AcceptedApiVersions;
};

export type BridgeDeps = ProcessDeps & { readonly bridge: BridgeSettings };

const envelopeSchema = z.object({
  source: z.string({ error: 'must be the partner event source' }).min(1),
  'detail-type': z.string().optional(),
  detail: z.record(z.string(), z.unknown(), { error: 'must be a Stripe event' }),
});

/**
 * The Stripe event an EventBridge event carries, once its envelope is checked: from the
 * configured partner source, a Stripe event of an accepted API version, in the configured mode.
 * Anything else is an InputError naming the field (or the API version's own 400 error); a
 * missing STRIPE_EVENT_SOURCE is a ConfigError, since no event could ever be accepted.
 */
export function stripeEventOfBridge(input: unknown, settings: BridgeSettings): StripeEvent {
  if (!settings.source) {
    throw new ConfigError('STRIPE_EVENT_SOURCE is not set: stripeEventBridge accepts no source');
  }
  const parsed = envelopeSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(issue?.path.join('.') || 'event', issue?.message ?? 'is invalid');
  }
  const envelope = parsed.data;
  if (envelope.source !== settings.source) {
    throw new InputError(
      'source',
      `"${envelope.source}" is not the configured Stripe partner source (STRIPE_EVENT_SOURCE)`,
    );
  }
  const event = withinDetail(() => parseStripeEvent(envelope.detail, settings.acceptedApiVersions));
  if (event.livemode !== settings.livemode) {
    throw new InputError(
      'detail.livemode',
      `is ${event.livemode}; this deployment accepts only ${settings.livemode ? 'live' : 'test'} ` +
        'events (STRIPE_LIVEMODE)',
    );
  }
  return event;
}

/** parseStripeEvent's InputError, with its field named from the EventBridge event's root. */
function withinDetail<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new InputError(`detail.${error.field}`, error.message.slice(error.field.length + 2));
  }
}

/**
 * Checks the envelope and runs the webhook's processing. Throws on a refusal and on a fault
 * alike, so that Lambda's asynchronous retries (and then the failure destination) see it; the
 * log line says which it was. The caller counts the failure (functions/stripe-eventbridge.ts).
 */
export async function processBridgedEvent(
  deps: BridgeDeps,
  input: unknown,
  options: RunOptions = {},
): Promise<EventSummary> {
  let event: StripeEvent | undefined;
  try {
    event = stripeEventOfBridge(input, deps.bridge);
    return await processEvent(deps, event, options);
  } catch (error) {
    const refused = error instanceof CreditsError && error.expose;
    const eventId = event?.id ?? (error instanceof UnsupportedApiVersionError && error.eventId);
    deps.logger.error(
      refused
        ? 'stripe event from EventBridge refused; retrying cannot help, it will reach the dead-letter queue'
        : 'stripe event from EventBridge failed; Lambda retries it',
      {
        ...(eventId && { eventId }),
        ...(event && { type: event.type }),
        error: errorFields(error),
      },
    );
    throw error;
  }
}

/** Once per container: the webhook's processing, and the partner source and mode to accept. */
export const bridgeDepsFromEnv = once((): BridgeDeps => {
  const { config } = depsFromEnv();
  const process = processDepsFromEnv();
  return {
    ...process,
    bridge: {
      ...(config.stripeEventSource && { source: config.stripeEventSource }),
      livemode: config.stripeLivemode,
      acceptedApiVersions: process.acceptedApiVersions,
    },
  };
});

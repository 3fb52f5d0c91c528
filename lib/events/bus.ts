import {
  EventBridgeClient,
  type EventBridgeClientConfig,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { type CreditsEvent, EVENT_SOURCE } from './catalog';

/**
 * Where C27's events go: EventBridge in AWS (and in tests, a local fake of its API reached by
 * the real SDK client), or the console of `npm start`. A put answers per event, as PutEvents
 * does: a call can accept some entries and refuse others.
 */
export type PutResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly message: string };

export type EventBus = {
  /** Puts at most MAX_EVENTS_PER_PUT events of at most MAX_PUT_BYTES in all, in this order. */
  put(
    events: readonly CreditsEvent[],
    options: { abortSignal: AbortSignal },
  ): Promise<readonly PutResult[]>;
};

/** PutEvents' limits: entries per call, and bytes per call counted as EventBridge counts them. */
export const MAX_EVENTS_PER_PUT = 10;
export const MAX_PUT_BYTES = 256 * 1024;

/** Per-entry codes that EventBridge documents as worth retrying; any other is final. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(['ThrottlingException', 'InternalFailure']);

export function isRetryable(result: PutResult): boolean {
  return !result.ok && RETRYABLE_CODES.has(result.code);
}

/**
 * An entry's size as EventBridge reckons it against MAX_PUT_BYTES: the UTF-8 bytes of its
 * source, detail-type and detail, plus 14 for a time.
 */
export function entrySizeBytes(event: CreditsEvent): number {
  const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
  return (
    bytes(EVENT_SOURCE) +
    bytes(event.detailType) +
    bytes(JSON.stringify(event.detail)) +
    (event.time ? 14 : 0)
  );
}

function entryOf(event: CreditsEvent, busName: string): PutEventsRequestEntry {
  const timeMs = event.time ? Date.parse(event.time) : Number.NaN;
  return {
    EventBusName: busName,
    Source: EVENT_SOURCE,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    ...(Number.isFinite(timeMs) && { Time: new Date(timeMs) }),
  };
}

/** A put whose answer does not match what was sent: a fault of the call, retried whole. */
export class PutEventsAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PutEventsAnswerError';
  }
}

export function eventBridgeBus(client: EventBridgeClient, busName: string): EventBus {
  return {
    async put(events, options) {
      const response = await client.send(
        new PutEventsCommand({ Entries: events.map((event) => entryOf(event, busName)) }),
        options,
      );
      const entries = response.Entries ?? [];
      if (entries.length !== events.length) {
        throw new PutEventsAnswerError(
          `PutEvents answered ${entries.length} entries for ${events.length} sent`,
        );
      }
      return entries.map(
        (entry): PutResult =>
          entry.ErrorCode
            ? { ok: false, code: entry.ErrorCode, message: entry.ErrorMessage ?? '' }
            : { ok: true },
      );
    },
  };
}

/** A request that hangs is abandoned and retried by the SDK, within the caller's budget. */
export const PUT_REQUEST_TIMEOUT_MS = 3_000;

export function createEventBridgeClient(config: EventBridgeClientConfig = {}): EventBridgeClient {
  return new EventBridgeClient({
    requestHandler: {
      requestTimeout: PUT_REQUEST_TIMEOUT_MS,
      connectionTimeout: 1_000,
      throwOnRequestTimeout: true,
    },
    ...config,
  });
}

/** `npm start`'s bus: one line per event on the console, every put accepted. */
export function printingBus(print: (line: string) => void): EventBus {
  return {
    async put(events) {
      for (const event of events) print(`${event.detailType} ${JSON.stringify(event.detail)}`);
      return events.map((): PutResult => ({ ok: true }));
    },
  };
}

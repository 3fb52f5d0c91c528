import { randomUUID } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createEventBridgeClient } from '../../lib/events/bus';
import { startAwsJsonServer } from './aws-json-server';

/**
 * A small local stand-in for EventBridge's PutEvents (AWS JSON 1.1 over HTTP), so tests drive
 * the real `@aws-sdk/client-eventbridge` client, its retry strategy included, without AWS.
 * Every call is recorded with its entries; accepted entries are kept in the order EventBridge
 * would have accepted them. A test scripts faults: whole calls throttled (HTTP 400
 * ThrottlingException, which the SDK retries itself), or given events refused with an error
 * code, in whatever call they come (a 200 with FailedEntryCount, which only the caller can
 * retry).
 */
export type PutEntry = {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName?: string;
  readonly Time?: number;
};

export type AcceptedEvent = {
  readonly source: string;
  readonly detailType: string;
  readonly busName?: string;
  readonly time?: number;
  readonly detail: Record<string, unknown> & { id: string; customerId: string };
};

/** What the next call gets: throttled whole, or an error code (or none) for each entry. */
export type CallFault =
  | { readonly kind: 'throttle' }
  | {
      readonly kind: 'refuse';
      readonly codes: (entries: readonly PutEntry[]) => (string | undefined)[];
    };

export type EventBridgeFake = {
  readonly endpoint: string;
  /** Every PutEvents call as received, in order (throttled ones included). */
  readonly calls: {
    entries: PutEntry[];
    signed: boolean;
    answered: 'ok' | 'partial' | 'throttled';
  }[];
  /** The events accepted, in the order they were accepted. */
  readonly accepted: AcceptedEvent[];
  /** Throttles the next `calls` calls whole. */
  throttle(calls: number): void;
  /** Refuses the events with this detail id, with `code`, the next `times` times they come. */
  refuse(id: string, options?: { code?: string; times?: number }): void;
  client(options?: { maxAttempts?: number }): EventBridgeClient;
  stop(): Promise<void>;
};

export async function startEventBridgeFake(): Promise<EventBridgeFake> {
  const calls: EventBridgeFake['calls'] = [];
  const accepted: AcceptedEvent[] = [];
  let throttled = 0;
  const refusals = new Map<string, { code: string; times: number }>();
  const refusalOf = (entry: PutEntry): string | undefined => {
    const id = (JSON.parse(entry.Detail) as { id?: string }).id ?? '';
    const refusal = refusals.get(id);
    if (!refusal || refusal.times <= 0) return undefined;
    refusal.times -= 1;
    return refusal.code;
  };
  const server = await startAwsJsonServer('AWSEvents.PutEvents', ({ input, signed }) => {
    const entries = (input.Entries ?? []) as PutEntry[];
    if (throttled > 0) {
      throttled -= 1;
      calls.push({ entries, signed, answered: 'throttled' });
      return { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } };
    }
    const results = entries.map((entry) => {
      const code = refusalOf(entry);
      if (code) return { ErrorCode: code, ErrorMessage: `${code} (scripted by the test)` };
      accepted.push(acceptedOf(entry));
      return { EventId: randomUUID() };
    });
    const failed = results.filter((result) => 'ErrorCode' in result).length;
    calls.push({ entries, signed, answered: failed > 0 ? 'partial' : 'ok' });
    return { status: 200, body: { FailedEntryCount: failed, Entries: results } };
  });
  const endpoint = server.endpoint;
  return {
    endpoint,
    calls,
    accepted,
    throttle: (count) => {
      throttled += count;
    },
    refuse: (id, options = {}) => {
      refusals.set(id, {
        code: options.code ?? 'InternalFailure',
        times: options.times ?? Number.POSITIVE_INFINITY,
      });
    },
    client: (options = {}) =>
      createEventBridgeClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        ...(options.maxAttempts !== undefined && { maxAttempts: options.maxAttempts }),
      }),
    stop: () => server.stop(),
  };
}

function acceptedOf(entry: PutEntry): AcceptedEvent {
  return {
    source: entry.Source,
    detailType: entry.DetailType,
    detail: JSON.parse(entry.Detail) as AcceptedEvent['detail'],
    ...(entry.EventBusName !== undefined && { busName: entry.EventBusName }),
    ...(entry.Time !== undefined && { time: entry.Time }),
  };
}

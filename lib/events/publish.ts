import type { DynamoDBRecord } from 'aws-lambda';
import { errorFields, type Logger } from '../log';
import { type Budget, MIN_ATTEMPT_MS, timeLeftMs } from '../store/call';
import { decodeStreamRecord, sequenceNumberOf } from '../store/stream';
import {
  type EventBus,
  entrySizeBytes,
  isRetryable,
  MAX_EVENTS_PER_PUT,
  MAX_PUT_BYTES,
  type PutResult,
} from './bus';
import type { CreditsEvent } from './catalog';
import { type EventSettings, eventsOfChange } from './from-changes';

/**
 * The transactional outbox's publishing half (C27): the table's change stream in, one event
 * per ledger entry (and the notices) out, put in the stream's order. Nothing here can block or
 * undo a change: the change was committed before its stream record existed.
 *
 * A batch is one shard's records in order. Its events are put in calls of at most
 * MAX_EVENTS_PER_PUT, one call after another. At the first record that cannot be published
 * (its item does not map, or PutEvents keeps refusing one of its events) the batch stops, and
 * that record's sequence number is reported (DynamoDBBatchResponse): Lambda then retries from
 * it, so the records before it are never sent again and the records after it wait, which keeps
 * a shard's events in order. Events of later records that one call had already accepted are
 * sent again then: at least once, the same `id` each time.
 *
 * Order per customer, and what it rests on:
 * - DynamoDB Streams keep the order of the records of one item. Records of different items,
 *   even of one customer (one partition key) and of one transaction, carry no order
 *   guarantee: DynamoDB says a transaction's records may appear at different times and
 *   interleave with other transactions'. A customer's entries are different items, so the
 *   stream's order of them is DynamoDB's propagation order, usually the commit order.
 * - Lambda reads each shard in order, a parent shard before its children, and with a
 *   parallelization factor of 1 (serverless.yml) one batch per shard at a time.
 * - EventBridge does not keep the order of events towards their targets.
 * So events are put in stream order (except that a call PutEvents answers partly can accept a
 * later event before the refused one, which is then put again with everything after it), and
 * every event carries `sequence`, the entry's place in the customer's ledger (its sort key),
 * by which a subscriber that needs them in order sorts a customer's events.
 */
export type PublishDeps = {
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly settings: EventSettings;
};

export type PublishReport = {
  readonly records: number;
  /** Events put and accepted in this invocation. */
  readonly published: number;
  /** The first record not published; it and every later record of the batch are retried. */
  readonly failedSequenceNumber?: string;
};

/** Puts of one call's events in this invocation; Lambda's retries of the batch come on top. */
export const MAX_PUT_ATTEMPTS = 3;
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 1_000;

type Planned = { readonly recordIndex: number; readonly event: CreditsEvent };

export async function publishRecords(
  deps: PublishDeps,
  records: readonly DynamoDBRecord[],
  budget: Budget,
): Promise<PublishReport> {
  const plan = planEvents(deps, records);
  let failedAt = plan.failedAt;
  let published = 0;
  for (const call of calls(plan.events)) {
    const failed = await putCall(deps, call, budget);
    published += call.length - failed.length;
    if (failed.length > 0) {
      failedAt = Math.min(failedAt, ...failed.map((each) => each.recordIndex));
      break;
    }
  }
  // Accepted events of records from the failed one on are counted, but will be sent again.
  const report: PublishReport = {
    records: records.length,
    published,
    ...(failedAt < records.length && {
      failedSequenceNumber: failedSequenceOf(records, failedAt),
    }),
  };
  deps.logger.info('stream batch published', { ...report, events: plan.events.length });
  return report;
}

/** What Lambda reads back (ReportBatchItemFailures): the first record to retry, if any. */
export function batchResponseOf(report: PublishReport) {
  return {
    batchItemFailures: report.failedSequenceNumber
      ? [{ itemIdentifier: report.failedSequenceNumber }]
      : [],
  };
}

/**
 * The events of each record, in order, up to the first record that cannot be read (a fault:
 * it is retried and, if it keeps failing, reaches the dead-letter destination).
 */
function planEvents(deps: PublishDeps, records: readonly DynamoDBRecord[]) {
  const events: Planned[] = [];
  for (const [recordIndex, record] of records.entries()) {
    try {
      const mapped = eventsOfChange(decodeStreamRecord(record), deps.settings);
      if (mapped.unknownEntryType) {
        deps.logger.warn('ledger entry type has no event of its own; published as adjusted', {
          type: mapped.unknownEntryType,
        });
      }
      for (const event of mapped.events) {
        if (entrySizeBytes(event) > MAX_PUT_BYTES) {
          throw new Error(`event ${event.detail.id} exceeds PutEvents' ${MAX_PUT_BYTES} bytes`);
        }
        events.push({ recordIndex, event });
      }
    } catch (error) {
      deps.logger.error('stream record cannot be published', {
        sequenceNumber: sequenceNumberOf(record),
        error: errorFields(error),
      });
      return { events, failedAt: recordIndex };
    }
  }
  return { events, failedAt: records.length };
}

/** Consecutive runs of events that fit one PutEvents call each. */
export function calls<T extends { readonly event: CreditsEvent }>(planned: readonly T[]): T[][] {
  const result: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const each of planned) {
    const size = entrySizeBytes(each.event);
    if (
      current.length === MAX_EVENTS_PER_PUT ||
      (current.length > 0 && bytes + size > MAX_PUT_BYTES)
    ) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(each);
    bytes += size;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/**
 * Puts one call's events; the events still not accepted after MAX_PUT_ATTEMPTS (or when time
 * runs out, or at once for a refusal EventBridge says is final) are returned. Only refused
 * events are put again, so an accepted one is not duplicated by this invocation.
 */
async function putCall(deps: PublishDeps, call: readonly Planned[], budget: Budget) {
  let pending = call;
  for (let attempt = 1; attempt <= MAX_PUT_ATTEMPTS; attempt++) {
    if (attempt > 1 && !(await backoff(attempt, budget))) break;
    const results = await tryPut(deps, pending, budget, attempt);
    const refused = pending.filter((_, index) => !results[index]?.ok);
    if (refused.length === 0) return [];
    const final = results.some((result) => !result.ok && !isRetryable(result));
    pending = refused;
    if (final) break;
  }
  return pending;
}

async function tryPut(
  deps: PublishDeps,
  pending: readonly Planned[],
  budget: Budget,
  attempt: number,
): Promise<readonly PutResult[]> {
  try {
    const results = await deps.bus.put(
      pending.map((each) => each.event),
      { abortSignal: AbortSignal.timeout(Math.max(1, timeLeftMs(budget))) },
    );
    for (const [index, result] of results.entries()) {
      if (!result.ok) {
        deps.logger.warn('PutEvents refused an event', {
          id: pending[index]?.event.detail.id,
          code: result.code,
          errorMessage: result.message,
          attempt,
        });
      }
    }
    return results;
  } catch (error) {
    // The SDK's own retries (throttling of the whole call) have run by now.
    deps.logger.warn('PutEvents failed', {
      events: pending.length,
      attempt,
      error: errorFields(error),
    });
    return pending.map(
      (): PutResult => ({ ok: false, code: 'InternalFailure', message: 'the call failed' }),
    );
  }
}

/** Full-jitter exponential backoff; false when no time is left for another attempt. */
async function backoff(attempt: number, budget: Budget): Promise<boolean> {
  const waitMs = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  if (timeLeftMs(budget) - waitMs < MIN_ATTEMPT_MS) return false;
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  return true;
}

/**
 * The sequence number Lambda retries from. A record too broken to carry one cannot be named:
 * the whole batch is failed by throwing, and retried (bisected) as a whole.
 */
function failedSequenceOf(records: readonly DynamoDBRecord[], index: number): string {
  const record = records[index];
  const sequence = record ? sequenceNumberOf(record) : undefined;
  if (!sequence) throw new Error(`stream record ${index} of the batch has no sequence number`);
  return sequence;
}

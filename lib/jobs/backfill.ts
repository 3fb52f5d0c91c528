import * as z from 'zod';
import { InputError } from '../errors';
import { parseWith } from '../input';
import { nowMs } from '../ledger/deps';
import { errorFields } from '../log';
import { depsFromEnv, once } from '../runtime';
import { CommandStatus } from '../store/command';
import { stripeFault } from '../stripe/client';
import { processDepsFromConfig } from '../stripe/deps';
import { parseStripeEvent, type StripeEvent } from '../stripe/events';
import { EventOutcome, type EventSummary, type ProcessDeps, processEvent } from '../stripe/process';
import { HANDLED_EVENT_TYPES } from '../stripe/translate';

/**
 * The `backfill` function (C17): replays Stripe events through exactly the path a webhook
 * delivery takes after its signature check (processEvent), so a replay converges to what live
 * processing reaches. Every command is idempotent on its natural key, so replaying a range
 * twice, or a range that live delivery already handled, changes nothing.
 *
 * Events come from the Events API for a time range (which keeps only the last 30 days), or
 * inline from ops. They run one at a time, oldest first: the Events API lists newest first,
 * so the whole range is listed before anything runs, then reversed. Order does not change the
 * outcome (C16), but oldest first reads best in the log and matches live delivery.
 */
export type BackfillRequest =
  | {
      readonly source: 'range';
      readonly sinceMs: number;
      /** Absent: up to now. */
      readonly untilMs?: number;
      readonly types: readonly string[];
      readonly dryRun: boolean;
    }
  | {
      readonly source: 'events';
      /** Each inline event, already checked to be one (or why it cannot run). */
      readonly events: readonly Replayable[];
      readonly dryRun: boolean;
    };

/** An event to replay, or one that cannot be read and is reported as failed. */
type Replayable =
  | { readonly event: StripeEvent }
  | { readonly failure: BackfillFailure; readonly createdMs?: number };

export type BackfillFailure = {
  readonly eventId: string;
  readonly type: string;
  readonly error: string;
};

export type BackfillReport = {
  readonly processed: number;
  readonly applied: number;
  readonly alreadyApplied: number;
  readonly ignored: number;
  /** alreadyApplied + ignored: the events that changed nothing (DESIGN.md's "skipped"). */
  readonly skipped: number;
  readonly failed: number;
  readonly failures: readonly BackfillFailure[];
  /** False when the run stopped for time; `resumeSince` is where a rerun should start. */
  readonly complete: boolean;
  readonly resumeSince?: string;
  readonly dryRun: boolean;
  /** Dry runs only: the events that would change something, and their commands. */
  readonly wouldApply?: readonly {
    eventId: string;
    type: string;
    commands: readonly { command: string; key: string; customerId: string }[];
  }[];
};

export type BackfillOptions = {
  /** Time left before the caller (a Lambda) is killed; absent means unlimited. */
  readonly remainingTimeMs?: () => number;
  /** Stop starting new events when less than this is left; default 30 s. */
  readonly stopWhenBelowMs?: number;
  /** A progress line every this many events; default 100. */
  readonly progressEvery?: number;
  /** Events per Events API page; default (and Stripe's maximum) 100. */
  readonly pageSize?: number;
};

const MAX_WOULD_APPLY = 1000;

export async function runBackfill(
  deps: ProcessDeps,
  request: BackfillRequest,
  options: BackfillOptions = {},
): Promise<BackfillReport> {
  const items =
    request.source === 'range'
      ? await listEvents(deps, request, options.pageSize ?? 100)
      : request.events;
  deps.logger.info('backfill starting', {
    events: items.length,
    source: request.source,
    dryRun: request.dryRun,
  });
  const tally = newTally(request.dryRun);
  const stopBelowMs = options.stopWhenBelowMs ?? 30_000;
  for (const [index, item] of items.entries()) {
    if (options.remainingTimeMs && options.remainingTimeMs() < stopBelowMs) {
      return finish(deps, tally, item);
    }
    await replayOne(deps, item, tally);
    if ((index + 1) % (options.progressEvery ?? 100) === 0) {
      deps.logger.info('backfill progress', {
        done: index + 1,
        of: items.length,
        ...counts(tally),
      });
    }
  }
  return finish(deps, tally);
}

type Tally = {
  processed: number;
  applied: number;
  alreadyApplied: number;
  ignored: number;
  failures: BackfillFailure[];
  dryRun: boolean;
  wouldApply: NonNullable<BackfillReport['wouldApply']>[number][];
};

function newTally(dryRun: boolean): Tally {
  return {
    processed: 0,
    applied: 0,
    alreadyApplied: 0,
    ignored: 0,
    failures: [],
    dryRun,
    wouldApply: [],
  };
}

function counts(tally: Tally) {
  const { processed, applied, alreadyApplied, ignored, failures } = tally;
  return { processed, applied, alreadyApplied, ignored, failed: failures.length };
}

/** One event through processEvent; a fault is counted and reported, and the run goes on. */
async function replayOne(deps: ProcessDeps, item: Replayable, tally: Tally): Promise<void> {
  tally.processed += 1;
  if ('failure' in item) {
    tally.failures.push(item.failure);
    deps.logger.error('backfill event unreadable', { ...item.failure });
    return;
  }
  let summary: EventSummary;
  try {
    summary = await processEvent(deps, item.event, { dryRun: tally.dryRun });
  } catch (error) {
    const fields = errorFields(error);
    tally.failures.push({
      eventId: item.event.id,
      type: item.event.type,
      error: `${fields.name}: ${fields.message}`,
    });
    deps.logger.error('backfill event failed', {
      eventId: item.event.id,
      type: item.event.type,
      error: fields,
    });
    return;
  }
  if (summary.outcome === EventOutcome.applied) {
    tally.applied += 1;
    if (tally.dryRun && tally.wouldApply.length < MAX_WOULD_APPLY) {
      tally.wouldApply.push({
        eventId: summary.eventId,
        type: summary.type,
        commands: summary.commands
          .filter(
            (each) =>
              each.status === CommandStatus.applied || each.status === CommandStatus.recorded,
          )
          .map(({ command, key, customerId }) => ({ command, key, customerId })),
      });
    }
  } else if (summary.outcome === EventOutcome.alreadyApplied) {
    tally.alreadyApplied += 1;
  } else {
    tally.ignored += 1;
  }
}

function finish(deps: ProcessDeps, tally: Tally, next?: Replayable): BackfillReport {
  const { processed, applied, alreadyApplied, ignored } = tally;
  const nextMs = next && ('event' in next ? next.event.createdMs : next.createdMs);
  const resumeSince = nextMs === undefined ? undefined : new Date(nextMs).toISOString();
  const report: BackfillReport = {
    processed,
    applied,
    alreadyApplied,
    ignored,
    skipped: alreadyApplied + ignored,
    failed: tally.failures.length,
    failures: tally.failures,
    complete: next === undefined,
    ...(resumeSince && { resumeSince }),
    dryRun: tally.dryRun,
    ...(tally.dryRun && { wouldApply: tally.wouldApply }),
  };
  deps.logger.info(next ? 'backfill stopped for time' : 'backfill finished', {
    ...counts(tally),
    complete: report.complete,
    ...(resumeSince && { resumeSince }),
  });
  return report;
}

/**
 * The whole range from the Events API (auto-pagination), oldest first. An event the API lists
 * that is not readable (another API version, say) is kept as a failure to report, not dropped.
 */
async function listEvents(
  deps: ProcessDeps,
  request: Extract<BackfillRequest, { source: 'range' }>,
  pageSize: number,
): Promise<Replayable[]> {
  const stripe = deps.stripe('list Stripe events for a backfill (the Events API)');
  const untilS = Math.floor((request.untilMs ?? nowMs(deps)) / 1000);
  const listed: unknown[] = [];
  try {
    const pages = stripe.events.list({
      created: { gte: Math.floor(request.sinceMs / 1000), lt: untilS },
      types: [...request.types],
      limit: pageSize,
    });
    for await (const event of pages) listed.push(event);
  } catch (error) {
    throw stripeFault('GET /v1/events', error);
  }
  deps.logger.info('backfill listed events', { events: listed.length });
  return listed.reverse().map(readListed);
}

function readListed(raw: unknown): Replayable {
  try {
    return { event: parseStripeEvent(raw) };
  } catch (error) {
    return unreadable(raw, error);
  }
}

function unreadable(raw: unknown, error: unknown): Replayable {
  const { id, type, created } = (raw ?? {}) as { id?: unknown; type?: unknown; created?: unknown };
  const fields = errorFields(error);
  return {
    failure: {
      eventId: typeof id === 'string' ? id : '(no id)',
      type: typeof type === 'string' ? type : '(no type)',
      error: `${fields.name}: ${fields.message}`,
    },
    ...(typeof created === 'number' && { createdMs: created * 1000 }),
  };
}

const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time, e.g. 2026-11-01T00:00:00Z',
});

const rangeSchema = z
  .strictObject({
    since: isoTime,
    until: isoTime.optional(),
    types: z
      .array(z.string().trim().min(1, 'must not be empty'))
      .min(1, 'must list at least one event type')
      .max(20, 'may list at most 20 event types (the Events API limit)')
      .optional(),
    dryRun: z.boolean({ message: 'must be true or false' }).optional(),
  })
  .refine((value) => !value.until || Date.parse(value.until) > Date.parse(value.since), {
    path: ['until'],
    message: 'must be after since',
  });

const inlineSchema = z.strictObject({
  events: z.array(z.unknown()).min(1, 'must hold at least one event'),
  dryRun: z.boolean({ message: 'must be true or false' }).optional(),
});

/**
 * `{"since", "until"?, "types"?, "dryRun"?}` or `{"events": [...], "dryRun"?}`. An inline item
 * that is not a Stripe event rejects the whole request, naming it (`events.2.id`), before
 * anything runs; one in another API version is reported as that event's failure.
 */
export function parseBackfillRequest(input: unknown): BackfillRequest {
  if (typeof input === 'object' && input !== null && 'events' in input) {
    const request = parseWith(inlineSchema, input);
    return {
      source: 'events',
      events: request.events.map((raw, index) => inlineEvent(raw, index)),
      dryRun: request.dryRun ?? false,
    };
  }
  const request = parseWith(rangeSchema, input);
  return {
    source: 'range',
    sinceMs: Date.parse(request.since),
    ...(request.until && { untilMs: Date.parse(request.until) }),
    types: request.types ?? HANDLED_EVENT_TYPES,
    dryRun: request.dryRun ?? false,
  };
}

function inlineEvent(raw: unknown, index: number): Replayable {
  try {
    return { event: parseStripeEvent(raw) };
  } catch (error) {
    if (error instanceof InputError) {
      const detail = error.message.slice(error.field.length + 2);
      throw new InputError(`events.${index}.${error.field}`, detail);
    }
    return unreadable(raw, error);
  }
}

/** Once per container, like the webhook's: the plan catalog's cache lives with it. */
export const backfillDepsFromEnv = once((): ProcessDeps => {
  const { config, ...ledger } = depsFromEnv();
  return processDepsFromConfig(config, ledger);
});

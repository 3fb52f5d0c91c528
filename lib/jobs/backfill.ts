import type Stripe from 'stripe';
import * as z from 'zod';
import { CreditsError, InputError } from '../errors';
import { parseWith } from '../input';
import { nowMs } from '../ledger/deps';
import { errorFields } from '../log';
import { depsFromEnv, once } from '../runtime';
import { CommandStatus } from '../store/command';
import { stripeFault } from '../stripe/client';
import { processDepsFromConfig } from '../stripe/deps';
import { UnsupportedApiVersionError } from '../stripe/errors';
import {
  type AcceptedApiVersions,
  acceptedApiVersions,
  PINNED_API_VERSION_ONLY,
  parseStripeEvent,
  type StripeEvent,
  SUPPORTED_API_VERSION,
} from '../stripe/events';
import { EventOutcome, type EventSummary, type ProcessDeps, processEvent } from '../stripe/process';
import { HANDLED_EVENT_TYPES } from '../stripe/translate';

/**
 * The `backfill` function (C17): replays Stripe events through exactly the path a webhook
 * delivery takes after its signature check (processEvent), so a replay converges to what live
 * processing reaches. Every command is idempotent on its natural key, so replaying a range
 * twice, or a range that live delivery already handled, changes nothing.
 *
 * Events come from the Events API for a time range (which keeps only the last 30 days), or
 * inline from ops. A range is replayed oldest first, as live delivery mostly runs, with one
 * page (at most EVENTS_PAGE_SIZE events) in memory whatever the range: the Events API lists
 * newest first, so the range is cut into time windows small enough to fit one page, oldest
 * window first, and each window's page is reversed (`oldestFirst`). Splitting a window costs
 * one list call that is thrown away, so a dense range takes about twice the calls of plain
 * paging. That order also makes a stopped run resumable with a plain range: every window older
 * than the one it stopped in is done, so the rest is that window's start up to `until`
 * (`resume`; the events of that window already processed find their facts applied).
 *
 * Stripe renders a listed event in the API version of its creation. One of another version is
 * processed as it is when that version is accepted (STRIPE_ACCEPTED_API_VERSIONS, during a
 * migration); else, for the types whose object no longer changes once the event happened (a
 * paid invoice, a deleted subscription, a completed Checkout Session), its `data.object` is
 * read again from the API, which answers in the pinned version; any other is reported as failed
 * with advice that works.
 */
export type BackfillRequest =
  | {
      readonly source: 'range';
      readonly sinceMs: number;
      /** Absent: up to now, fixed when the run starts so that its pages stay stable. */
      readonly untilMs?: number;
      readonly types: readonly string[];
      readonly dryRun: boolean;
    }
  | {
      readonly source: 'events';
      /** Each inline event, checked to be an event envelope (its version is checked later). */
      readonly events: readonly unknown[];
      readonly dryRun: boolean;
    };

export type BackfillDeps = ProcessDeps & {
  /** The API versions events are processed in as they are; default the pinned one only. */
  readonly acceptedApiVersions?: AcceptedApiVersions;
};

export type BackfillFailure = {
  readonly eventId: string;
  readonly type: string;
  readonly error: string;
};

/** What a rerun should be asked, as the request itself: pass it back unchanged. */
export type BackfillResume = {
  readonly since: string;
  readonly until: string;
  readonly types: readonly string[];
  readonly dryRun?: true;
};

export type BackfillReport = {
  /** False when any event failed: scripts test this, and `npm run invoke` exits non-zero. */
  readonly ok: boolean;
  readonly processed: number;
  readonly applied: number;
  readonly alreadyApplied: number;
  readonly ignored: number;
  /** alreadyApplied + ignored: the events that changed nothing (DESIGN.md's "skipped"). */
  readonly skipped: number;
  readonly failed: number;
  /** The first MAX_REPORTED_FAILURES failures; every failure is also logged. */
  readonly failures: readonly BackfillFailure[];
  /** Events of another API version whose object was read again at the pinned version. */
  readonly reread: number;
  /** False when the run stopped (for time, or the Events API failing); see `resume`. */
  readonly complete: boolean;
  /** A range that stopped: the request that finishes it. */
  readonly resume?: BackfillResume;
  /** Inline events that stopped: how many were not reached. */
  readonly unprocessed?: number;
  /** Why the listing stopped, when the Events API failed part-way. */
  readonly error?: string;
  readonly dryRun: boolean;
  /** Dry runs only: the events that would change something, and their commands. */
  readonly wouldApply?: readonly {
    eventId: string;
    type: string;
    commands: readonly { command: string; key: string; customerId: string }[];
  }[];
};

/** Counts since the last progress report, for metrics (functions/backfill.ts). */
export type BackfillProgress = { processed: number; applied: number; failed: number };

export type BackfillOptions = {
  /** Time left before the caller (a Lambda) is killed; absent means unlimited. */
  readonly remainingTimeMs?: () => number;
  /** Stop starting new events when less than this is left; default 30 s. */
  readonly stopWhenBelowMs?: number;
  /** A progress line (and `onProgress`) every this many events; default one page. */
  readonly progressEvery?: number;
  /** Events per Events API page; default (and Stripe's maximum) 100. */
  readonly pageSize?: number;
  readonly onProgress?: (progress: BackfillProgress) => void;
};

export const EVENTS_PAGE_SIZE = 100;
const STOP_WHEN_BELOW_MS = 30_000;
const MAX_WOULD_APPLY = 1000;
export const MAX_REPORTED_FAILURES = 100;

/** The exit code of `npm run invoke -- backfill` and `npm run ops -- backfill` for a result. */
export const BackfillExit = { done: 0, failed: 1, incomplete: 3 } as const;

/** 1 when any event failed, 3 when the run stopped before the end (rerun `resume`), else 0. */
export function backfillExitCode(result: unknown): number {
  if (typeof result !== 'object' || result === null) return BackfillExit.done;
  const report = result as Partial<BackfillReport>;
  if (report.ok === false) return BackfillExit.failed;
  if (report.complete === false) return BackfillExit.incomplete;
  return BackfillExit.done;
}

type Run = {
  readonly deps: BackfillDeps;
  readonly options: BackfillOptions;
  readonly tally: Tally;
};

export async function runBackfill(
  deps: BackfillDeps,
  request: BackfillRequest,
  options: BackfillOptions = {},
): Promise<BackfillReport> {
  const run: Run = {
    deps,
    options,
    tally: newTally(request.dryRun),
  };
  deps.logger.info('backfill starting', { source: request.source, dryRun: request.dryRun });
  return request.source === 'range'
    ? replayRange(run, { ...request, untilMs: request.untilMs ?? nowMs(deps) })
    : replayInline(run, request.events);
}

async function replayInline(run: Run, events: readonly unknown[]): Promise<BackfillReport> {
  for (const [index, raw] of events.entries()) {
    if (outOfTime(run)) return finish(run, { unprocessed: events.length - index });
    await replayOne(run, raw);
  }
  return finish(run, {});
}

type Range = Extract<BackfillRequest, { source: 'range' }> & { readonly untilMs: number };

async function replayRange(run: Run, range: Range): Promise<BackfillReport> {
  let windowFromS = Math.floor(range.sinceMs / 1000);
  try {
    const pageSize = run.options.pageSize ?? EVENTS_PAGE_SIZE;
    for await (const batch of oldestFirst(run.deps, range, pageSize)) {
      windowFromS = batch.fromS;
      for (const raw of batch.events) {
        if (outOfTime(run)) return finish(run, { resume: resumeOf(range, windowFromS) });
        await replayOne(run, raw);
      }
    }
  } catch (error) {
    // Nothing done yet: a plain fault. Part done: report it, with where to pick up.
    if (run.tally.processed === 0) throw error;
    const fields = errorFields(error);
    return finish(run, {
      resume: resumeOf(range, windowFromS),
      error: `${fields.name}: ${fields.message}`,
    });
  }
  return finish(run, {});
}

/** Every window older than the one the run stopped in is done; the rest starts at its start. */
function resumeOf(range: Range, fromS: number): BackfillResume {
  return {
    since: new Date(Math.max(range.sinceMs, fromS * 1000)).toISOString(),
    until: new Date(range.untilMs).toISOString(),
    types: range.types,
    ...(range.dryRun && { dryRun: true as const }),
  };
}

function outOfTime(run: Run): boolean {
  const left = run.options.remainingTimeMs?.();
  return left !== undefined && left < (run.options.stopWhenBelowMs ?? STOP_WHEN_BELOW_MS);
}

type Window = { readonly fromS: number; readonly toS: number };
type Batch = { readonly fromS: number; readonly events: readonly unknown[] };

/**
 * The range's events oldest first, a page at a time. A window whose events fit one page is
 * yielded reversed; a larger one is split in two, the older half first (the stack holds at
 * most one window per halving, about 22 for 30 days). A single second with more than a page is
 * paged through as listed: Stripe's times are whole seconds, so no order within it is truer.
 */
async function* oldestFirst(
  deps: BackfillDeps,
  range: Range,
  pageSize: number,
): AsyncGenerator<Batch> {
  const stripe = await deps.stripe('list Stripe events for a backfill (the Events API)');
  const list = (window: Window, startingAfter?: string) =>
    listEvents(stripe, range.types, window, pageSize, startingAfter);
  const pending: Window[] = [
    { fromS: Math.floor(range.sinceMs / 1000), toS: Math.floor(range.untilMs / 1000) },
  ];
  for (let window = pending.pop(); window; window = pending.pop()) {
    let page = await list(window);
    if (!page.has_more) {
      yield { fromS: window.fromS, events: [...page.data].reverse() };
    } else if (window.toS - window.fromS > 1) {
      const middleS = Math.floor((window.fromS + window.toS) / 2);
      pending.push({ fromS: middleS, toS: window.toS }, { fromS: window.fromS, toS: middleS });
    } else {
      yield { fromS: window.fromS, events: page.data };
      while (page.has_more && page.data.length > 0) {
        page = await list(window, page.data.at(-1)?.id);
        yield { fromS: window.fromS, events: page.data };
      }
    }
  }
}

async function listEvents(
  stripe: Stripe,
  types: readonly string[],
  window: Window,
  pageSize: number,
  startingAfter: string | undefined,
): Promise<Stripe.ApiList<Stripe.Event>> {
  try {
    return await stripe.events.list({
      created: { gte: window.fromS, lt: window.toS },
      types: [...types],
      limit: pageSize,
      ...(startingAfter && { starting_after: startingAfter }),
    });
  } catch (error) {
    throw stripeFault('GET /v1/events', error);
  }
}

type Tally = {
  processed: number;
  applied: number;
  alreadyApplied: number;
  ignored: number;
  failed: number;
  reread: number;
  failures: BackfillFailure[];
  dryRun: boolean;
  wouldApply: NonNullable<BackfillReport['wouldApply']>[number][];
  reported: BackfillProgress;
};

function newTally(dryRun: boolean): Tally {
  return {
    processed: 0,
    applied: 0,
    alreadyApplied: 0,
    ignored: 0,
    failed: 0,
    reread: 0,
    failures: [],
    dryRun,
    wouldApply: [],
    reported: { processed: 0, applied: 0, failed: 0 },
  };
}

function counts(tally: Tally) {
  const { processed, applied, alreadyApplied, ignored, failed, reread } = tally;
  return { processed, applied, alreadyApplied, ignored, failed, reread };
}

/** One event through processEvent; a fault is counted and reported, and the run goes on. */
async function replayOne(run: Run, raw: unknown): Promise<void> {
  const { deps, tally } = run;
  tally.processed += 1;
  try {
    const event = await readEvent(deps, raw, tally);
    countOutcome(tally, await processEvent(deps, event, { dryRun: tally.dryRun }));
  } catch (error) {
    deps.metrics?.fault(error);
    fail(run, raw, error);
  }
  if (tally.processed % (run.options.progressEvery ?? EVENTS_PAGE_SIZE) === 0) progress(run);
}

function countOutcome(tally: Tally, summary: EventSummary): void {
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

function fail(run: Run, raw: unknown, error: unknown): void {
  const { id, type } = (raw ?? {}) as { id?: unknown; type?: unknown };
  const fields = errorFields(error);
  const failure = {
    eventId: typeof id === 'string' ? id : '(no id)',
    type: typeof type === 'string' ? type : '(no type)',
    error: `${fields.name}: ${fields.message}`,
  };
  run.tally.failed += 1;
  if (run.tally.failures.length < MAX_REPORTED_FAILURES) run.tally.failures.push(failure);
  run.deps.logger.error('backfill event failed', {
    eventId: failure.eventId,
    type: failure.type,
    error: fields,
  });
}

function progress(run: Run): void {
  const { tally } = run;
  const { reported } = tally;
  run.options.onProgress?.({
    processed: tally.processed - reported.processed,
    applied: tally.applied - reported.applied,
    failed: tally.failed - reported.failed,
  });
  tally.reported = { processed: tally.processed, applied: tally.applied, failed: tally.failed };
  run.deps.logger.info('backfill progress', counts(tally));
}

function finish(
  run: Run,
  stopped: Pick<BackfillReport, 'resume' | 'unprocessed' | 'error'>,
): BackfillReport {
  const { tally } = run;
  progress(run);
  const complete = stopped.resume === undefined && stopped.unprocessed === undefined;
  const report: BackfillReport = {
    ok: tally.failed === 0 && stopped.error === undefined,
    ...counts(tally),
    skipped: tally.alreadyApplied + tally.ignored,
    failures: tally.failures,
    complete,
    ...stopped,
    dryRun: tally.dryRun,
    ...(tally.dryRun && { wouldApply: tally.wouldApply }),
  };
  run.deps.logger.info(complete ? 'backfill finished' : 'backfill stopped', {
    ...counts(tally),
    complete,
    ...(stopped.resume && { resume: stopped.resume }),
    ...(stopped.error && { error: stopped.error }),
  });
  return report;
}

/**
 * The event as processEvent reads it: as listed when its API version is accepted, else with
 * its object read again at the pinned version where that is safe (REREAD_OBJECT).
 */
async function readEvent(deps: BackfillDeps, raw: unknown, tally: Tally): Promise<StripeEvent> {
  const accepted = deps.acceptedApiVersions ?? PINNED_API_VERSION_ONLY;
  try {
    return parseStripeEvent(raw, accepted);
  } catch (error) {
    if (!(error instanceof UnsupportedApiVersionError) || error.received === null) throw error;
    const envelope = parseStripeEvent(raw, new Set([error.received]));
    const event = await rereadAtPinnedVersion(deps, envelope);
    tally.reread += 1;
    return event;
  }
}

type Reread = (stripe: Stripe, id: string) => Promise<unknown>;

/**
 * The types whose object, as the API returns it now, says what it said when the event happened,
 * for every field the translation reads: a paid invoice stays paid with the same lines, a
 * deleted subscription stays ended, a completed Checkout Session stays completed. Others (a
 * subscription update, a refund, a dispute, a credit note) change afterwards, and reading them
 * now could replay a later state under an earlier event, so they are never re-read.
 */
const REREAD_OBJECT: Readonly<Record<string, Reread>> = {
  'invoice.paid': (stripe, id) => stripe.invoices.retrieve(id),
  'invoice.payment_succeeded': (stripe, id) => stripe.invoices.retrieve(id),
  'customer.subscription.deleted': (stripe, id) => stripe.subscriptions.retrieve(id),
  'checkout.session.completed': (stripe, id) => stripe.checkout.sessions.retrieve(id),
  'checkout.session.async_payment_succeeded': (stripe, id) => stripe.checkout.sessions.retrieve(id),
};

async function rereadAtPinnedVersion(deps: BackfillDeps, event: StripeEvent): Promise<StripeEvent> {
  const reread = REREAD_OBJECT[event.type];
  const objectId = event.object.id;
  if (!reread || typeof objectId !== 'string') {
    throw new NotRereadableError(event);
  }
  const stripe = await deps.stripe(
    `read ${objectId} again at API version ${SUPPORTED_API_VERSION}`,
  );
  let object: unknown;
  try {
    object = await reread(stripe, objectId);
  } catch (error) {
    throw stripeFault(`GET ${objectId} (re-read of ${event.id})`, error);
  }
  return {
    ...event,
    apiVersion: SUPPORTED_API_VERSION,
    object: object as Readonly<Record<string, unknown>>,
  };
}

/** An event of another API version that cannot be re-read safely; says what works instead. */
export class NotRereadableError extends CreditsError {
  constructor(event: StripeEvent) {
    super(
      `${event.id} (${event.type}) is rendered in API version ${event.apiVersion}, which this ` +
        `build (pinned to ${SUPPORTED_API_VERSION}) does not accept, and its object changes ` +
        'after the event, so it is not read again. Replay it with acceptedApiVersions listing ' +
        `${event.apiVersion} (if lib/stripe/events.ts can read it), or inline with api_version ` +
        `${SUPPORTED_API_VERSION} and data.object as it was then, fetched at that version`,
      { status: 500 },
    );
  }
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
 * anything runs; one in another API version is dealt with as a listed one is.
 */
export function parseBackfillRequest(input: unknown): BackfillRequest {
  if (typeof input === 'object' && input !== null && 'events' in input) {
    const request = parseWith(inlineSchema, input);
    request.events.forEach(checkEnvelope);
    return { source: 'events', events: request.events, dryRun: request.dryRun ?? false };
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

/** The envelope only: any API version passes here; the run decides what to do with it. */
function checkEnvelope(raw: unknown, index: number): void {
  const version = (raw as { api_version?: unknown } | null)?.api_version;
  try {
    parseStripeEvent(raw, new Set(typeof version === 'string' ? [version] : []));
  } catch (error) {
    if (error instanceof InputError) {
      const detail = error.message.slice(error.field.length + 2);
      throw new InputError(`events.${index}.${error.field}`, detail);
    }
    if (!(error instanceof UnsupportedApiVersionError)) throw error;
  }
}

/** Once per container, like the webhook's: the plan catalog's cache lives with it. */
export const backfillDepsFromEnv = once((): BackfillDeps => {
  const { config, ...ledger } = depsFromEnv();
  return {
    ...processDepsFromConfig(config, ledger),
    acceptedApiVersions: acceptedApiVersions(config.acceptedApiVersions),
  };
});

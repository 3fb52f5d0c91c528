import { CreditsError } from '../errors';
import type { LedgerDeps } from '../ledger/deps';
import { grantPack } from '../ledger/purchases';
import type { RedemptionOutcome } from '../ledger/redemptions';
import { factKeyOf, reverse } from '../ledger/reversals';
import { endSubscription, grantSubscriptionInvoice } from '../ledger/subscriptions';
import { errorFields, type Logger } from '../log';
import type { ProcessMetrics } from '../metrics';
import { defaultBudget } from '../store/call';
import { type CommandResult, CommandStatus, type RunOptions, readFact } from '../store/command';
import { purchaseOfPayment } from '../store/purchases';
import type { PlanCatalog } from './catalog';
import type { StripeAccess } from './client';
import { customerHistoryOf } from './customer-history';
import { UnsupportedApiVersionError } from './errors';
import type { AcceptedApiVersions, StripeEvent } from './events';
import { subscriptionHistoryOf } from './subscription-history';
import { type DomainCommand, type SkippedLine, translateEvent } from './translate';
import { verifyDelivery } from './verify';

/** What processing an event needs; the webhook adds its secrets (WebhookDeps). */
export type ProcessDeps = LedgerDeps & {
  readonly catalog: PlanCatalog;
  readonly stripe: StripeAccess;
  readonly logger: Logger;
  /** Counts outcomes, credits granted and faults (lib/metrics.ts); absent, nothing is counted. */
  readonly metrics?: ProcessMetrics;
  /** PLAN_CREDITS' prices: translating an invoice of only these needs no Stripe call. */
  readonly knownPrices?: ReadonlySet<string>;
};

export type WebhookDeps = ProcessDeps & {
  /** STRIPE_WEBHOOK_SECRET: several during a rotation. */
  readonly webhookSecrets: readonly string[];
  /** The API versions accepted (lib/stripe/events.ts); absent, only the pinned one. */
  readonly acceptedApiVersions?: AcceptedApiVersions;
};

export const EventOutcome = {
  /** Something changed: credits granted, forfeited, a bonus given, a fact first recorded. */
  applied: 'applied',
  /** Every command had been applied before (a duplicate, a replay, another event type). */
  alreadyApplied: 'already_applied',
  /** Nothing to do, with the reason: an unhandled type, a billing reason that grants nothing. */
  ignored: 'ignored',
} as const;
export type EventOutcome = (typeof EventOutcome)[keyof typeof EventOutcome];

export type CommandReport = {
  readonly command: DomainCommand['kind'] | 'redeemReferral';
  /** The natural key that makes the command idempotent. */
  readonly key: string;
  readonly customerId: string;
  readonly status: CommandStatus;
  readonly outcome: unknown;
  readonly note?: string;
};

export type EventSummary = {
  readonly eventId: string;
  readonly type: string;
  readonly outcome: EventOutcome;
  readonly reason?: string;
  readonly commands: readonly CommandReport[];
  readonly skippedLines?: readonly SkippedLine[];
  readonly dryRun?: true;
};

/**
 * Translates one verified (or replayed) event into commands and runs them in order, each in its
 * own idempotent transaction. Free of HTTP: the webhook and the backfill both call it. Faults
 * (store, unknown price, Stripe API) are thrown; running the event again after a fault is safe,
 * because every command already applied is found by its natural key.
 */
export async function processEvent(
  deps: ProcessDeps,
  event: StripeEvent,
  options: RunOptions = {},
): Promise<EventSummary> {
  const translation = await translateEvent(translateDeps(deps, options), event);
  const base = { eventId: event.id, type: event.type };
  if (translation.kind === 'settled') {
    // Found applied before any look-up in Stripe: the replay needs neither Stripe nor the catalog.
    const { command, key, customerId } = translation;
    const summary: EventSummary = {
      ...base,
      outcome: EventOutcome.alreadyApplied,
      commands: [{ command, key, customerId, status: CommandStatus.alreadyApplied, outcome: null }],
    };
    logSummary(deps.logger, summary);
    deps.metrics?.eventProcessed(summary);
    return summary;
  }
  if (translation.kind === 'ignored') {
    const summary: EventSummary = {
      ...base,
      outcome: EventOutcome.ignored,
      reason: translation.reason,
      commands: [],
    };
    logSummary(deps.logger, summary);
    deps.metrics?.eventProcessed(summary);
    return summary;
  }
  const reports: CommandReport[] = [];
  let dryRun = false;
  const ledger = withStripeHistory(deps);
  for (const command of translation.commands) {
    const { report: reported, result } = await execute(ledger, command, options);
    reports.push(...reported);
    dryRun ||= result.dryRun === true;
  }
  const summary: EventSummary = {
    ...base,
    ...summarise(reports),
    commands: reports,
    ...(translation.skippedLines.length > 0 && { skippedLines: translation.skippedLines }),
    ...(dryRun && { dryRun: true as const }),
  };
  logSummary(deps.logger, summary);
  deps.metrics?.eventProcessed(summary);
  return summary;
}

/**
 * What translating needs beyond the catalog and Stripe: whether a command was applied before
 * (asked only before calling Stripe), and which prices PLAN_CREDITS knows without it.
 */
function translateDeps(deps: ProcessDeps, options: RunOptions) {
  return {
    catalog: deps.catalog,
    stripe: deps.stripe,
    settled: async (customerId: string, key: string) =>
      (await readFact(deps, { customerId, key }, options.budget ?? defaultBudget())) !== undefined,
    ...(deps.knownPrices && { knownPrices: deps.knownPrices }),
    purchaseOfPayment: (paymentIntentId: string) =>
      purchaseOfPayment(deps, paymentIntentId, options.budget ?? defaultBudget()),
  };
}

/**
 * C10/C16: the questions a redemption asks Stripe from inside its decision, unless the caller
 * brought its own answers: whether the customer purchased before (lib/stripe/customer-history.ts)
 * and whether a paid renewal is its subscription's first paid invoice
 * (lib/stripe/subscription-history.ts).
 */
function withStripeHistory(deps: ProcessDeps): ProcessDeps {
  return {
    ...deps,
    customerHistory: deps.customerHistory ?? customerHistoryOf(deps.stripe, deps.logger),
    subscriptionHistory:
      deps.subscriptionHistory ?? subscriptionHistoryOf(deps.stripe, deps.logger),
  };
}

async function execute(
  deps: ProcessDeps,
  command: DomainCommand,
  options: RunOptions,
): Promise<{ report: CommandReport[]; result: CommandResult<unknown> }> {
  switch (command.kind) {
    case 'grantSubscriptionInvoice': {
      const result = await grantSubscriptionInvoice(deps, command.grant, options);
      const { grant } = command;
      return {
        result,
        report: [
          report(command.kind, grant.invoiceId, grant.customerId, result),
          ...redemptionReport(grant.customerId, result),
        ],
      };
    }
    case 'grantPack': {
      const result = await grantPack(deps, command.pack, options);
      const { pack } = command;
      return {
        result,
        report: [
          report(command.kind, pack.purchaseId, pack.customerId, result),
          ...redemptionReport(pack.customerId, result),
        ],
      };
    }
    case 'reverse': {
      const result = await reverse(deps, command.reversal, options);
      const { reversal } = command;
      return {
        result,
        report: [report(command.kind, factKeyOf(reversal), reversal.customerId, result)],
      };
    }
    case 'endSubscription': {
      const result = await endSubscription(deps, command.end, options);
      const { end } = command;
      return { result, report: [report(command.kind, end.subscriptionId, end.customerId, result)] };
    }
  }
}

/**
 * A referral code travels in its invoice's grant (one transaction), and is reported as its
 * own line, keyed by the customer who typed it (C12: one redemption per customer, ever).
 */
function redemptionReport(
  customerId: string,
  result: CommandResult<{ readonly referral?: RedemptionOutcome }>,
): CommandReport[] {
  const referral = result.outcome.referral;
  if (!referral) return [];
  return [
    {
      command: 'redeemReferral',
      key: customerId,
      customerId,
      status: redemptionStatus(result.status, referral),
      outcome: referral,
    },
  ];
}

function redemptionStatus(grantStatus: CommandStatus, referral: RedemptionOutcome) {
  if (grantStatus === CommandStatus.alreadyApplied || grantStatus === CommandStatus.conflict) {
    return CommandStatus.alreadyApplied;
  }
  if (referral.result === 'redeemed') return CommandStatus.applied;
  if (referral.result === 'rejected') return CommandStatus.recorded;
  return CommandStatus.refused;
}

/**
 * A fact that exists with other data (a second `customer.subscription.deleted` carrying another
 * `ended_at`, an invoice re-granted after the catalog changed) is settled by the first: the
 * event is reported as already applied, and the difference is noted, not treated as an error.
 */
function report(
  command: CommandReport['command'],
  key: string,
  customerId: string,
  result: CommandResult<unknown>,
): CommandReport {
  if (result.status !== CommandStatus.conflict) {
    return { command, key, customerId, status: result.status, outcome: result.outcome };
  }
  return {
    command,
    key,
    customerId,
    status: CommandStatus.alreadyApplied,
    outcome: result.outcome,
    note: 'settled earlier with different data; the first settlement stands',
  };
}

/** `applied` when anything was written for the first time; `ignored` when only a refusal or a
 * recorded no-op (e.g. C8: a grant for an ended subscription) came of it. */
function summarise(reports: readonly CommandReport[]): { outcome: EventOutcome; reason?: string } {
  const statuses = reports.map((each) => each.status);
  if (statuses.includes(CommandStatus.applied)) return { outcome: EventOutcome.applied };
  const recorded = reports.find((each) => each.status === CommandStatus.recorded);
  if (recorded) {
    return { outcome: EventOutcome.ignored, reason: `${recorded.command}: ${reasonOf(recorded)}` };
  }
  if (statuses.every((status) => status === CommandStatus.refused)) {
    return { outcome: EventOutcome.ignored, reason: 'every command was refused' };
  }
  return { outcome: EventOutcome.alreadyApplied };
}

function reasonOf(report: CommandReport): string {
  const outcome = report.outcome;
  if (outcome && typeof outcome === 'object' && 'reason' in outcome) return String(outcome.reason);
  return 'recorded';
}

function logSummary(logger: Logger, summary: EventSummary): void {
  const conflicts = summary.commands.filter((each) => each.note);
  for (const conflict of conflicts) {
    logger.warn('command settled earlier with different data', {
      eventId: summary.eventId,
      command: conflict.command,
      key: conflict.key,
    });
  }
  logger.info('stripe event processed', {
    eventId: summary.eventId,
    type: summary.type,
    outcome: summary.outcome,
    ...(summary.reason && { reason: summary.reason }),
    commands: summary.commands.map(({ command, key, customerId, status, outcome }) => ({
      command,
      key,
      customerId,
      status,
      outcome,
    })),
    ...(summary.skippedLines && { skippedLines: summary.skippedLines }),
    ...(summary.dryRun && { dryRun: true }),
  });
}

export type Delivery = {
  readonly rawBody: string | Uint8Array;
  /** Header names in any case; API Gateway v2 sends them lower-case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly receivedAtMs: number;
};

export type DeliveryResponse = {
  readonly statusCode: number;
  readonly body: Readonly<Record<string, unknown>>;
};

/**
 * The HTTP edge (DESIGN.md "Outcomes at the HTTP edge"): 200 for applied, already applied or
 * unhandled; 400 with nothing written for a bad signature, timestamp, body or API version; 5xx
 * for faults, so that Stripe retries, with the message kept out of the response.
 */
export async function handleDelivery(
  deps: WebhookDeps,
  delivery: Delivery,
  options: RunOptions = {},
): Promise<DeliveryResponse> {
  let event: StripeEvent | undefined;
  try {
    event = verifyDelivery(
      deps.webhookSecrets,
      {
        rawBody: delivery.rawBody,
        signatureHeader: headerOf(delivery.headers, 'stripe-signature'),
        receivedAtMs: delivery.receivedAtMs,
      },
      deps.acceptedApiVersions,
    );
    const summary = await processEvent(deps, event, options);
    return { statusCode: 200, body: { received: true, ...responseOf(summary) } };
  } catch (error) {
    deps.metrics?.fault(error);
    return failure(deps.logger, error, event);
  }
}

function responseOf(summary: EventSummary) {
  return {
    eventId: summary.eventId,
    type: summary.type,
    outcome: summary.outcome,
    ...(summary.reason && { reason: summary.reason }),
    commands: summary.commands.map(({ command, key, status }) => ({ command, key, status })),
  };
}

function failure(logger: Logger, error: unknown, event: StripeEvent | undefined): DeliveryResponse {
  const context = event
    ? { eventId: event.id, type: event.type }
    : error instanceof UnsupportedApiVersionError && error.eventId
      ? { eventId: error.eventId }
      : {};
  if (error instanceof CreditsError && error.expose) {
    const level = error instanceof UnsupportedApiVersionError ? 'error' : 'warn';
    logger[level]('stripe delivery refused', {
      ...context,
      status: error.status,
      error: errorFields(error),
    });
    return {
      statusCode: error.status,
      body: { received: false, error: error.name, message: error.message },
    };
  }
  const statusCode = error instanceof CreditsError ? error.status : 500;
  logger.error('stripe delivery failed; Stripe will retry', {
    ...context,
    status: statusCode,
    error: errorFields(error),
  });
  return { statusCode, body: { received: false, error: 'internal_error' } };
}

function headerOf(
  headers: Readonly<Record<string, string | undefined>>,
  name: string,
): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const found = Object.keys(headers).find((key) => key.toLowerCase() === name);
  return found === undefined ? undefined : headers[found];
}

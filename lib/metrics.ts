import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ContentionError, CreditsError, StoreError, UnknownPriceError } from './errors';
import { once } from './runtime';
import { StripeApiError } from './stripe/errors';
import type { DeliveryResponse, EventSummary } from './stripe/process';

/**
 * Business and fault figures as CloudWatch metrics in the Embedded Metric Format (Powertools
 * Metrics): JSON lines in the function's log that CloudWatch turns into metrics, with no API
 * call on the request path. Every metric is a count in namespace `ImageCredits` with the one
 * dimension `service` = `image-credits-<stage>`, so the alarms and the dashboard of
 * serverless.yml name them exactly. The names are the contract with the template: change one
 * only together with serverless.yml and docs/runbooks.md.
 */
export const MetricName = {
  eventsApplied: 'EventsApplied',
  eventsAlreadyApplied: 'EventsAlreadyApplied',
  eventsIgnored: 'EventsIgnored',
  /** 4xx: a bad signature, body or API version; nothing written. Never a fault of ours. */
  eventsRefused: 'EventsRefused',
  /** 5xx: Stripe retries the delivery. */
  eventsFailed: 'EventsFailed',
  creditsGranted: 'CreditsGranted',
  creditsConsumed: 'CreditsConsumed',
  insufficientCredits: 'InsufficientCredits',
  creditsExpired: 'CreditsExpired',
  backfillEventsProcessed: 'BackfillEventsProcessed',
  backfillEventsApplied: 'BackfillEventsApplied',
  backfillEventsFailed: 'BackfillEventsFailed',
  /** Faults by cause, from every function. */
  storeFaults: 'StoreFaults',
  contentionFaults: 'ContentionFaults',
  stripeFaults: 'StripeFaults',
  unknownPriceFaults: 'UnknownPriceFaults',
  otherFaults: 'OtherFaults',
  /** Invocations refused for the caller's input: Lambda counts them as Errors; alarms must not. */
  creditsInputErrors: 'CreditsInputErrors',
  backfillInputErrors: 'BackfillInputErrors',
  rolloverInputErrors: 'RolloverInputErrors',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

export const METRICS_NAMESPACE = 'ImageCredits';

/** Where counts go: Powertools in Lambda, a capturing recorder in tests, nothing by default. */
export type MetricsRecorder = {
  count(name: MetricName, value?: number): void;
  /** Writes what was counted since the last flush (one EMF line); a no-op when nothing was. */
  flush(): void;
};

export const noMetrics: MetricsRecorder = { count() {}, flush() {} };

export function powertoolsRecorder(metrics: Metrics): MetricsRecorder {
  return {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    // Powertools warns on an empty flush; an invocation that counted nothing is normal here.
    flush: () => {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}

/**
 * Once per container. Local runs (DynamoDB Local) write no EMF lines unless asked with
 * POWERTOOLS_METRICS_DISABLED=false: on a developer's console they are only noise.
 */
export const metricsFromEnv = once((): MetricsRecorder => {
  const local = Boolean(process.env.DYNAMODB_ENDPOINT?.trim());
  if (local && process.env.POWERTOOLS_METRICS_DISABLED === undefined) return noMetrics;
  return powertoolsRecorder(
    new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
      serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'image-credits',
    }),
  );
});

/**
 * The metric a failure counts under, or undefined for a caller's error (bad input, a refused
 * signature: `expose` errors below 500), which is not a fault and must never page anyone.
 */
export function faultMetricOf(error: unknown): MetricName | undefined {
  if (error instanceof ContentionError) return MetricName.contentionFaults;
  if (error instanceof StoreError) return MetricName.storeFaults;
  if (error instanceof StripeApiError) return MetricName.stripeFaults;
  if (error instanceof UnknownPriceError) return MetricName.unknownPriceFaults;
  if (error instanceof CreditsError && error.expose) return undefined;
  return MetricName.otherFaults;
}

/** What processEvent and the webhook's error path report (lib/stripe/process.ts). */
export type ProcessMetrics = {
  eventProcessed(summary: EventSummary): void;
  fault(error: unknown): void;
};

export function processMetrics(recorder: MetricsRecorder): ProcessMetrics {
  return {
    eventProcessed(summary) {
      const credits = creditsGrantedBy(summary);
      if (credits > 0) recorder.count(MetricName.creditsGranted, credits);
    },
    fault(error) {
      const name = faultMetricOf(error);
      if (name) recorder.count(name);
    },
  };
}

/**
 * Credits an event granted for the first time (subscription lots and referral bonuses); a
 * replay, a dry run or a refusal grants nothing and counts nothing.
 */
export function creditsGrantedBy(summary: EventSummary): number {
  if (summary.dryRun) return 0;
  let credits = 0;
  for (const report of summary.commands) {
    if (report.status !== 'applied') continue;
    // A grant's `credits`; a redemption's bonuses to both sides (C11).
    credits += ['credits', 'bonus', 'referrerBonus']
      .map((field) => numberField(report.outcome, field))
      .reduce((sum, each) => sum + each, 0);
  }
  return credits;
}

function numberField(value: unknown, field: string): number {
  if (typeof value !== 'object' || value === null) return 0;
  const inner = (value as Record<string, unknown>)[field];
  return typeof inner === 'number' && Number.isFinite(inner) && inner > 0 ? inner : 0;
}

/** The webhook's answer as one count: events by outcome, refusals and failures. */
export function countDelivery(recorder: MetricsRecorder, response: DeliveryResponse): void {
  recorder.count(deliveryMetricOf(response));
}

function deliveryMetricOf(response: DeliveryResponse): MetricName {
  if (response.statusCode >= 500) return MetricName.eventsFailed;
  if (response.statusCode >= 400) return MetricName.eventsRefused;
  const outcome = response.body.outcome;
  if (outcome === 'applied') return MetricName.eventsApplied;
  if (outcome === 'already_applied') return MetricName.eventsAlreadyApplied;
  return MetricName.eventsIgnored;
}

/**
 * Runs one invocation of an invoke-only function (credits, backfill, rollover) and counts how
 * it failed: a caller's input error under `inputErrors`, anything else as a fault by cause.
 * The error is rethrown unchanged: Lambda reports it to the caller either way. The alarms on
 * these functions subtract `inputErrors` from Lambda's Errors, so only faults page.
 */
export async function measured<T>(
  recorder: MetricsRecorder,
  inputErrors: MetricName,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    recorder.count(faultMetricOf(error) ?? inputErrors);
    throw error;
  } finally {
    recorder.flush();
  }
}

/**
 * A `consume` that succeeded counts its credits, a `settle` what it consumed (C25); a `consume`
 * or `reserve` refused for want of credits counts once.
 */
export function countCreditsResult(recorder: MetricsRecorder, input: unknown, result: unknown) {
  if (!isRecord(input) || !isRecord(result)) return;
  if (result.error === 'insufficient_credits') {
    if (input.action === 'consume' || input.action === 'reserve') {
      recorder.count(MetricName.insufficientCredits);
    }
  } else if (result.ok !== true) {
    return;
  } else if (input.action === 'consume' && typeof input.amount === 'number') {
    recorder.count(MetricName.creditsConsumed, input.amount);
  } else if (input.action === 'settle' && typeof result.consumed === 'number') {
    recorder.count(MetricName.creditsConsumed, result.consumed);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { ContentionError, StoreError } from '../errors';

/**
 * How long a store call may take in all: the caller's deadline (a Lambda's remaining time less
 * a margin, see budgetFor). Every DynamoDB call is aborted when the deadline passes, so that
 * the SDK's own retries never outlive the caller, and optimistic retries stop early enough to
 * answer with a clean ContentionError instead of a Lambda timeout.
 */
export type Budget = { readonly deadlineMs: number };

/**
 * When no caller says (tests, the local stack, jobs run by hand): long enough for a burst on
 * DynamoDB Local, which serialises transactions. Lambda callers pass their own (budgetFor).
 */
export const DEFAULT_BUDGET_MS = 20_000;
/** Kept back from the Lambda's remaining time for mapping the error and logging it. */
export const BUDGET_MARGIN_MS = 1_000;
/** An attempt is not started with less than this left: it could not finish in time. */
export const MIN_ATTEMPT_MS = 250;

export function defaultBudget(): Budget {
  return { deadlineMs: Date.now() + DEFAULT_BUDGET_MS };
}

/** The budget of a Lambda invocation: its remaining time less BUDGET_MARGIN_MS. */
export function budgetFor(remainingTimeMs: number): Budget {
  return { deadlineMs: Date.now() + Math.max(0, remainingTimeMs - BUDGET_MARGIN_MS) };
}

export function timeLeftMs(budget: Budget): number {
  return budget.deadlineMs - Date.now();
}

/**
 * Wraps a DynamoDB call: it gets an abort signal for the budget's deadline, and its failures
 * surface as StoreError with the cause kept (the SDK's own retries have run by then).
 */
export async function callStore<T>(
  operation: string,
  budget: Budget,
  call: (options: { abortSignal: AbortSignal }) => Promise<T>,
): Promise<T> {
  const leftMs = timeLeftMs(budget);
  if (leftMs <= 0) throw new StoreError(`DynamoDB ${operation} not started: out of time`);
  const deadline = AbortSignal.timeout(leftMs);
  try {
    return await call({ abortSignal: deadline });
  } catch (error) {
    if (error instanceof StoreError) throw error;
    if (deadline.aborted) {
      // Our own deadline, not DynamoDB's answer: the caller is out of time (retryable, 503).
      throw new ContentionError(`DynamoDB ${operation} abandoned: the caller's time ran out`);
    }
    throw new StoreError(
      `DynamoDB ${operation} failed: ${(error as Error).name ?? 'Error'}`,
      error,
    );
  }
}

/** Full-jitter exponential backoff between optimistic attempts, capped, within the budget. */
export async function backoff(attempt: number, budget: Budget): Promise<void> {
  const capMs = Math.min(200, 5 * 2 ** Math.min(attempt, 6));
  const waitMs = Math.min(Math.random() * capMs, Math.max(0, timeLeftMs(budget) - MIN_ATTEMPT_MS));
  await new Promise((resolve) => setTimeout(resolve, waitMs));
}

/** Throws ContentionError when there is no time left for another attempt. */
export function checkTimeForAttempt(budget: Budget, what: string, attempts: number): void {
  if (timeLeftMs(budget) < MIN_ATTEMPT_MS) {
    throw new ContentionError(
      `${what}: gave up after ${attempts} attempt(s) against concurrent writers, out of time`,
    );
  }
}

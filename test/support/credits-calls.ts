import type { Context } from 'aws-lambda';
import { expect } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import type { AsOfConfig } from '../../lib/config';
import { InputError } from '../../lib/errors';
import type { LedgerDeps } from '../../lib/ledger/deps';
import type { StoreDeps } from '../../lib/store/client';
import { grantOneLine } from './grants';

/** An invocation's context the way Lambda gives it (30 s left). */
export const CREDITS_CONTEXT = {
  functionName: 'credits',
  awsRequestId: 'test-request',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

export type Answer = Record<string, unknown>;

/**
 * The `credits` function as the app calls it: each answer serialised to JSON and back, as
 * Lambda returns it; `refusal` for a request that must throw an InputError.
 */
export function creditsFunction(deps: () => LedgerDeps & AsOfConfig) {
  const handler = createCreditsHandler(deps);
  return {
    async call(event: unknown): Promise<Answer> {
      return JSON.parse(JSON.stringify(await handler(event, CREDITS_CONTEXT))) as Answer;
    },
    async refusal(event: unknown): Promise<{ field: string; status: number; message: string }> {
      const failure = await handler(event, CREDITS_CONTEXT).then(
        () => new Error(`expected ${JSON.stringify(event).slice(0, 200)} to be refused`),
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(InputError);
      const { field, status, message } = failure as InputError;
      return { field, status, message };
    },
  };
}

export type CreditsFunction = ReturnType<typeof creditsFunction>;

/**
 * A customer with 54 credits in two lots: 4 of January's (granted 31 Jan, expiring 30 Apr,
 * C4) burn before 50 of February's (10 Feb, expiring 10 May), C5. Call at a clock before 30 Apr.
 */
export async function customerWith54(
  table: StoreDeps,
  credits: CreditsFunction,
  customerId: string,
): Promise<void> {
  await grantOneLine(table, customerId, `in_${customerId}_jan`, 100, '2026-01-31T10:00:00Z');
  await grantOneLine(table, customerId, `in_${customerId}_feb`, 50, '2026-02-10T10:00:00Z');
  const spent = await credits.call({
    action: 'consume',
    customerId,
    amount: 96,
    idempotencyKey: 'most-of-january',
  });
  expect(spent).toEqual({ ok: true, balance: 54 });
}

import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { LedgerDeps } from '../lib/ledger/deps';
import { runCreditsRequest } from '../lib/ops/credits-api';
import { budgetOf, depsFromEnv } from '../lib/runtime';

/**
 * `credits` (invoke-only): balance, consume, ledger, referralCode and adjust for the image app
 * and ops. Bad input throws an InputError naming the field, which Lambda reports as the
 * invocation's error; nothing is written.
 */
export function createCreditsHandler(deps: () => LedgerDeps) {
  return middy(async (event: unknown, context: Context) =>
    runCreditsRequest(deps(), event, { budget: budgetOf(context) }),
  );
}

export const handler = createCreditsHandler(depsFromEnv);

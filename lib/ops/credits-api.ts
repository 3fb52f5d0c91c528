import { InputError } from '../errors';
import { audit } from '../jobs/audit';
import type { LedgerDeps } from '../ledger/deps';
import { nowMs } from '../ledger/deps';
import { release, reserve, restore, settle } from '../ledger/holds';
import { balanceOf, ledgerOf } from '../ledger/queries';
import { referralCodeOf } from '../ledger/referrals';
import { adjust, consume } from '../ledger/spending';
import type { Budget } from '../store/call';
import { type CreditsRequest, parseCreditsRequest } from './credits-request';

/** How the edge runs a request: its time budget, and whether writes may name a `now`. */
export type CreditsRunOptions = {
  readonly budget?: Budget;
  /**
   * DESIGN.md's as-of rule: true only against DynamoDB Local or with ALLOW_AS_OF_WRITES=true
   * (lib/config.ts). Absent means false: a deployed function honours `now` only on reads.
   */
  readonly asOfWrites?: boolean;
};

/**
 * The invoke-only `credits` function's actions (DESIGN.md), for the image app and for ops.
 * `now` lets callers ask "as of" on reads; without it the deps' clock decides.
 */
export async function runCreditsRequest(
  deps: LedgerDeps,
  input: unknown,
  options: CreditsRunOptions = {},
) {
  const request = parseCreditsRequest(input);
  return dispatch(deps, request, options);
}

function atOr(deps: LedgerDeps, iso: string | undefined): number {
  return iso ? Date.parse(iso) : nowMs(deps);
}

/**
 * The time a write runs as of: a write "as of" another time could spend credits that have
 * expired by now (C6) or hold them past their lot's life, so `now` on a write is refused unless
 * this deployment allows as-of writes. Undefined: now, by the deps' clock.
 */
function writeTime(request: { now?: string }, options: CreditsRunOptions): number | undefined {
  if (request.now === undefined) return undefined;
  if (!options.asOfWrites) {
    throw new InputError(
      'now',
      'is honoured only on reads (balance, ledger, audit) here: leave it out to write as of ' +
        'now (as-of writes run only against DynamoDB Local or with ALLOW_AS_OF_WRITES=true)',
    );
  }
  return Date.parse(request.now);
}

async function dispatch(deps: LedgerDeps, request: CreditsRequest, options: CreditsRunOptions) {
  const run = { ...(options.budget && { budget: options.budget }) };
  switch (request.action) {
    case 'balance':
      return balanceOf(deps, request.customerId, atOr(deps, request.now));
    case 'consume': {
      const atMs = writeTime(request, options) ?? nowMs(deps);
      const { customerId, amount, idempotencyKey } = request;
      return consume(deps, { customerId, amount, idempotencyKey, atMs }, run);
    }
    case 'reserve': {
      const atMs = writeTime(request, options);
      const { customerId, amount, holdId, ttlSeconds } = request;
      return reserve(deps, { customerId, amount, holdId, ttlSeconds, atMs }, run);
    }
    case 'settle': {
      const atMs = writeTime(request, options);
      const { customerId, holdId, amount } = request;
      return settle(deps, { customerId, holdId, amount, atMs }, run);
    }
    case 'release': {
      const atMs = writeTime(request, options);
      return release(deps, { customerId: request.customerId, holdId: request.holdId, atMs }, run);
    }
    case 'restore': {
      const atMs = writeTime(request, options);
      const { customerId, restoreKey, amount, idempotencyKey, holdId } = request;
      // The schema lets exactly one of the two through.
      const of = holdId !== undefined ? { holdId } : { idempotencyKey: idempotencyKey as string };
      return restore(deps, { customerId, of, restoreKey, amount, atMs }, run);
    }
    case 'ledger':
      return ledgerOf(deps, request.customerId, {
        ...(request.limit !== undefined && { limit: request.limit }),
        ...(request.cursor !== undefined && { cursor: request.cursor }),
      });
    case 'referralCode':
      return { code: await referralCodeOf(deps, request.customerId) };
    case 'adjust':
      return adjust(
        deps,
        {
          customerId: request.customerId,
          amount: request.amount,
          reason: request.reason,
          idempotencyKey: request.idempotencyKey,
          atMs: atOr(deps, request.at),
        },
        run,
      );
    case 'audit':
      return audit(deps, {
        ...(request.customerId !== undefined && { customerId: request.customerId }),
        ...(request.limit !== undefined && { limit: request.limit }),
        ...(request.cursor !== undefined && { cursor: request.cursor }),
        ...(request.now !== undefined && { nowMs: Date.parse(request.now) }),
      });
  }
}

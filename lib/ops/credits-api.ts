import { audit } from '../jobs/audit';
import type { LedgerDeps } from '../ledger/deps';
import { nowMs } from '../ledger/deps';
import { balanceOf, ledgerOf } from '../ledger/queries';
import { referralCodeOf } from '../ledger/referrals';
import { adjust, consume } from '../ledger/spending';
import type { Budget } from '../store/call';
import { type CreditsRequest, parseCreditsRequest } from './credits-request';

/**
 * The invoke-only `credits` function's actions (DESIGN.md), for the image app and for ops.
 * `now` lets callers ask "as of"; without it the deps' clock decides.
 */
export async function runCreditsRequest(
  deps: LedgerDeps,
  input: unknown,
  options: { budget?: Budget } = {},
) {
  const request = parseCreditsRequest(input);
  return dispatch(deps, request, options);
}

function atOr(deps: LedgerDeps, iso: string | undefined): number {
  return iso ? Date.parse(iso) : nowMs(deps);
}

async function dispatch(deps: LedgerDeps, request: CreditsRequest, options: { budget?: Budget }) {
  switch (request.action) {
    case 'balance':
      return balanceOf(deps, request.customerId, atOr(deps, request.now));
    case 'consume':
      return consume(
        deps,
        {
          customerId: request.customerId,
          amount: request.amount,
          idempotencyKey: request.idempotencyKey,
          atMs: atOr(deps, request.now),
        },
        options,
      );
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
        options,
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

import { addLots, EntryType, isInsufficient, spend } from '../credits/account';
import { LotSource, newLot, spendableBalance } from '../credits/lots';
import { accountIn, type CommandResult, CommandStatus, runCommand } from '../store/command';
import { fingerprint, type LedgerDeps, nowMs } from './deps';

export type SpendOutcome =
  | { readonly ok: true; readonly balance: number }
  | { readonly ok: false; readonly error: 'insufficient_credits'; readonly balance: number }
  | { readonly ok: false; readonly error: 'idempotency_conflict'; readonly balance?: number };

/** A caller's key reused for different data: reported, never applied (C15). */
function conflictOr(result: CommandResult<SpendOutcome>): SpendOutcome {
  if (result.status === CommandStatus.conflict) return { ok: false, error: 'idempotency_conflict' };
  return result.outcome;
}

/**
 * C15: spends `amount` credits (one per image) from the lots unexpired at `atMs`, all or
 * nothing. The caller's idempotency key makes a retry return the first result.
 */
export async function consume(
  deps: LedgerDeps,
  request: { customerId: string; amount: number; idempotencyKey: string; atMs?: number },
): Promise<SpendOutcome> {
  const atMs = request.atMs ?? nowMs(deps);
  const result = await runCommand<SpendOutcome>(
    deps,
    {
      customerIds: [request.customerId],
      fact: {
        customerId: request.customerId,
        key: `consume#${request.idempotencyKey}`,
        fingerprint: fingerprint({ amount: request.amount }),
      },
      decide(accounts) {
        const account = accountIn(accounts, request.customerId);
        const change = spend(account, {
          type: EntryType.consumption,
          amount: request.amount,
          atMs,
          ref: request.idempotencyKey,
        });
        if (isInsufficient(change)) return { kind: 'refuse', outcome: { ok: false, ...change } };
        const balance = spendableBalance(change.account.lots, atMs);
        return { kind: 'apply', changes: [change], outcome: { ok: true, balance } };
      },
    },
    deps.clock,
  );
  return conflictOr(result);
}

/**
 * Ops adjustments: a positive amount is a new lot granted at `atMs` (expiring like any other,
 * C4); a negative one burns like a spend and is refused rather than driving a balance below 0.
 */
export async function adjust(
  deps: LedgerDeps,
  request: {
    customerId: string;
    amount: number;
    reason: string;
    idempotencyKey: string;
    atMs?: number;
  },
): Promise<SpendOutcome> {
  const atMs = request.atMs ?? nowMs(deps);
  const result = await runCommand<SpendOutcome>(
    deps,
    {
      customerIds: [request.customerId],
      fact: {
        customerId: request.customerId,
        key: `adjust#${request.idempotencyKey}`,
        fingerprint: fingerprint({ amount: request.amount, reason: request.reason }),
      },
      decide(accounts) {
        const account = accountIn(accounts, request.customerId);
        const entry = {
          type: EntryType.adjustment,
          atMs,
          ref: request.idempotencyKey,
          reason: request.reason,
        };
        const change =
          request.amount > 0
            ? addLots(account, entry, [
                newLot({
                  id: `adjust#${request.idempotencyKey}`,
                  source: LotSource.adjustment,
                  credits: request.amount,
                  grantedAtMs: atMs,
                  ref: request.idempotencyKey,
                }),
              ])
            : spend(account, { ...entry, amount: -request.amount });
        if (isInsufficient(change)) return { kind: 'refuse', outcome: { ok: false, ...change } };
        const balance = spendableBalance(change.account.lots, nowMs(deps));
        return { kind: 'apply', changes: [change], outcome: { ok: true, balance } };
      },
    },
    deps.clock,
  );
  return conflictOr(result);
}

import { grantLots, settleByTime } from '../credits/changes';
import { spendableAt, spendGivingBackLapses } from '../credits/holds';
import { LotSource, newLot } from '../credits/lots';
import {
  afterPending,
  type CustomerState,
  EntryType,
  type StateChange,
  stateAfter,
} from '../credits/state';
import { InputError } from '../errors';
import {
  type CommandResult,
  CommandStatus,
  type Decision,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import { consumptionRecord } from '../store/hold-items';
import { fingerprint, type LedgerDeps, nowMs } from './deps';
import { lapsesFirst } from './holds';

export type SpendOutcome =
  | { readonly ok: true; readonly balance: number }
  | { readonly ok: false; readonly error: 'insufficient_credits'; readonly balance: number }
  | { readonly ok: false; readonly error: 'idempotency_conflict'; readonly balance?: number };

const conflict = { ok: false, error: 'idempotency_conflict' } as const;

/** A caller's key reused for different data: reported, never applied (C15). */
function conflictOr(result: CommandResult<SpendOutcome>): SpendOutcome {
  if (result.status === CommandStatus.conflict) return conflict;
  return result.outcome;
}

/**
 * The outcome of a change that took credits: the balance after it, as this caller read the
 * lots (concurrent spends of the same customer may each report the balance they saw).
 */
function spent(
  state: CustomerState,
  change: StateChange,
  balanceAtMs: number,
): Decision<SpendOutcome> {
  const balance = spendableAt(stateAfter(state, change), balanceAtMs);
  return { kind: 'apply', changes: [change], outcome: { ok: true, balance } };
}

/**
 * C15: spends `amount` credits (one per image) from the lots spendable at `atMs`, all or
 * nothing. The caller's idempotency key makes a retry return the first result. A spend as of
 * now may be planned on the container's lot cache (one DynamoDB call); one as of another time
 * always reads first.
 */
export async function consume(
  deps: LedgerDeps,
  request: { customerId: string; amount: number; idempotencyKey: string; atMs?: number },
  options: RunOptions = {},
): Promise<SpendOutcome> {
  const now = nowMs(deps);
  const atMs = request.atMs ?? now;
  const result = await runCommand<SpendOutcome>(
    deps,
    {
      label: `consume for ${request.customerId}`,
      customerIds: [request.customerId],
      fact: {
        customerId: request.customerId,
        key: `consume#${request.idempotencyKey}`,
        fingerprint: fingerprint({ amount: request.amount }),
      },
      ...(atMs === now && { cache: { customerId: request.customerId, atMs } }),
      decide(states) {
        const state = stateIn(states, request.customerId);
        // C25: holds lapsed by now give their credits back first, in the same change; what the
        // spend took is kept on its fact, so that a restore can give it back (C26).
        const planned = spendGivingBackLapses(state, {
          id: `consume#${request.idempotencyKey}`,
          type: EntryType.consumption,
          amount: request.amount,
          atMs,
          ref: request.idempotencyKey,
        });
        if (planned.kind === 'batch') return lapsesFirst(planned.change, conflict);
        if (planned.kind === 'refused') {
          return { kind: 'refuse', outcome: { ok: false, ...planned.refusal } };
        }
        const record = consumptionRecord(request.customerId, planned.taken);
        return { ...spent(state, planned.change, atMs), record };
      },
    },
    options,
  );
  return conflictOr(result);
}

export type AdjustRequest = {
  customerId: string;
  amount: number;
  reason: string;
  idempotencyKey: string;
  atMs?: number;
};

/**
 * Ops adjustments: a positive amount is a new lot granted at `atMs` (expiring like any other,
 * C4); a negative one burns like a spend and is refused rather than driving a balance below 0.
 * A lot that would have expired by now when granted is refused: it would add nothing
 * spendable while reporting success.
 */
export async function adjust(
  deps: LedgerDeps,
  request: AdjustRequest,
  options: RunOptions = {},
): Promise<SpendOutcome> {
  const atMs = request.atMs ?? nowMs(deps);
  const fact = {
    customerId: request.customerId,
    key: `adjust#${request.idempotencyKey}`,
    fingerprint: fingerprint({ amount: request.amount, reason: request.reason }),
  };
  const expiredAtOnce =
    request.amount > 0 && newLot(adjustmentLot(request, atMs)).expiresAtMs <= nowMs(deps);
  const result = await runCommand<SpendOutcome | ExpiredAtOnce>(
    deps,
    {
      label: `adjust for ${request.customerId}`,
      customerIds: [request.customerId],
      fact,
      decide(states) {
        // Refused (so a retry of an adjustment applied before still returns its outcome), then
        // reported as the caller's error below.
        if (expiredAtOnce) return { kind: 'refuse', outcome: EXPIRED_AT_ONCE };
        const read = stateIn(states, request.customerId);
        // A grant writes the account: forfeits the rules imply but nobody wrote go with it.
        const { state, change: pending } =
          request.amount > 0 ? settleByTime(read, nowMs(deps)) : { state: read, change: undefined };
        const entry = {
          id: `adjust#${request.idempotencyKey}`,
          type: EntryType.adjustment,
          atMs,
          ref: request.idempotencyKey,
          reason: request.reason,
        };
        if (request.amount > 0) {
          const lot = newLot(adjustmentLot(request, atMs));
          const granted = grantLots(state, entry, [lot], { nowMs: nowMs(deps) });
          return spent(read, afterPending(pending, granted), nowMs(deps));
        }
        // A negative adjustment burns like a spend, lapsed holds given back first (C25).
        const planned = spendGivingBackLapses(state, { ...entry, amount: -request.amount });
        if (planned.kind === 'batch') return lapsesFirst(planned.change, conflict);
        if (planned.kind === 'refused') {
          return { kind: 'refuse', outcome: { ok: false, ...planned.refusal } };
        }
        return spent(read, planned.change, nowMs(deps));
      },
    },
    options,
  );
  if (result.outcome === EXPIRED_AT_ONCE) {
    throw new InputError('at', 'is so long ago that the credits would already have expired');
  }
  return conflictOr(result as CommandResult<SpendOutcome>);
}

type ExpiredAtOnce = { readonly ok: false; readonly error: 'expired_at_once' };
const EXPIRED_AT_ONCE: ExpiredAtOnce = { ok: false, error: 'expired_at_once' };

function adjustmentLot(request: AdjustRequest, atMs: number) {
  return {
    id: `adjust#${request.idempotencyKey}`,
    source: LotSource.adjustment,
    credits: request.amount,
    grantedAtMs: atMs,
    ref: request.idempotencyKey,
  };
}

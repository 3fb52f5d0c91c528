import {
  type Consumption,
  DEFAULT_HOLD_TTL_S,
  holdEndKey,
  LAPSE_FACT,
  releaseHold,
  reserveHold,
  restoreConsumption,
  settleHold,
  spendableAt,
} from '../credits/holds';
import { type CustomerState, type StateChange, stateAfter } from '../credits/state';
import { toIso } from '../credits/time';
import {
  type CommandResult,
  CommandStatus,
  type Decision,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import { consumptionRecord, readConsumption, type StoredConsumption } from '../store/hold-items';
import { fingerprint, type LedgerDeps, nowMs } from './deps';

/**
 * The image app's jobs (C25, C26): reserve credits before a render, settle or release them
 * after, restore a failed image's credit. Each is one command idempotent on its natural key:
 * the hold id (reserve: `hold#<id>`; settle and release share `hold-end#<id>`, since a hold ends
 * once, and so does its lapse), or the restore key. The rules are in lib/credits/holds.ts.
 */

type Conflict = { readonly ok: false; readonly error: 'idempotency_conflict' };
const conflict: Conflict = { ok: false, error: 'idempotency_conflict' };

export type ReserveOutcome =
  | {
      readonly ok: true;
      readonly balance: number;
      readonly held: number;
      readonly expiresAt: string;
    }
  | { readonly ok: false; readonly error: 'insufficient_credits'; readonly balance: number }
  | { readonly ok: false; readonly error: 'too_many_holds'; readonly balance: number }
  | Conflict;

export type SettleOutcome =
  | { readonly ok: true; readonly balance: number; readonly consumed: number }
  | { readonly ok: false; readonly error: 'hold_not_found' | 'hold_lapsed' | 'exceeds_hold' }
  | Conflict;

export type ReleaseOutcome =
  | { readonly ok: true; readonly balance: number; readonly released: number }
  | { readonly ok: false; readonly error: 'hold_not_found' };

export type RestoreOutcome =
  | {
      readonly ok: true;
      readonly balance: number;
      readonly restored: number;
      readonly expired: number;
    }
  | { readonly ok: false; readonly error: 'consumption_not_found' | 'exceeds_consumption' }
  | Conflict;

/**
 * Holds lapsed too many to go with this write: they are written first, without the command's
 * fact, and the command is decided again (lib/store/command.ts). `unused` is never returned.
 */
export function lapsesFirst<O>(change: StateChange, unused: O): Decision<O> {
  return { kind: 'apply', changes: [change], final: false, outcome: unused };
}

function balanceAfter(read: CustomerState, change: StateChange, atMs: number): number {
  return spendableAt(stateAfter(read, change), atMs);
}

/** The caller's key reused with other data: reported, never applied. */
function conflictOr<O>(result: CommandResult<O>): O | Conflict {
  return result.status === CommandStatus.conflict ? conflict : result.outcome;
}

type Request = { readonly customerId: string; readonly atMs?: number };

/** The decision time, and the cache when it is now (a write as of another time reads first). */
function timing(deps: LedgerDeps, request: Request) {
  const now = nowMs(deps);
  const atMs = request.atMs ?? now;
  return { atMs, ...(atMs === now && { cache: { customerId: request.customerId, atMs } }) };
}

/** C25: holds `amount` credits for a job until `ttlSeconds` from now (all or nothing, C15). */
export async function reserve(
  deps: LedgerDeps,
  request: Request & { holdId: string; amount: number; ttlSeconds?: number },
  options: RunOptions = {},
): Promise<ReserveOutcome> {
  const { customerId, holdId, amount } = request;
  const ttlSeconds = request.ttlSeconds ?? DEFAULT_HOLD_TTL_S;
  const { atMs, ...cache } = timing(deps, request);
  const result = await runCommand<ReserveOutcome>(
    deps,
    {
      label: `reserve for ${customerId}`,
      customerIds: [customerId],
      fact: { customerId, key: `hold#${holdId}`, fingerprint: fingerprint({ amount, ttlSeconds }) },
      ...cache,
      decide(states) {
        const read = stateIn(states, customerId);
        const planned = reserveHold(read, { holdId, amount, ttlMs: ttlSeconds * 1000, atMs });
        switch (planned.kind) {
          case 'batch':
            return lapsesFirst(planned.change, conflict);
          case 'known':
            // Its reserve was applied: refusing makes the command read the first outcome.
            return { kind: 'refuse', outcome: conflict };
          case 'refused':
            return { kind: 'refuse', outcome: { ok: false, ...planned.refusal } };
          case 'held': {
            const balance = balanceAfter(read, planned.change, atMs);
            const expiresAt = toIso(planned.hold.expiresAtMs);
            const outcome = { ok: true, balance, held: amount, expiresAt } as const;
            return { kind: 'apply', changes: [planned.change], outcome };
          }
        }
      },
    },
    options,
  );
  return conflictOr(result);
}

const holdNotFound = { ok: false, error: 'hold_not_found' } as const;

/**
 * C25: consumes `amount` of the hold (at most what it holds) and gives the rest back. A retry
 * returns the first answer; once the hold ended otherwise the answer says how.
 */
export async function settle(
  deps: LedgerDeps,
  request: Request & { holdId: string; amount: number },
  options: RunOptions = {},
): Promise<SettleOutcome> {
  const { customerId, holdId, amount } = request;
  const { atMs, ...cache } = timing(deps, request);
  const result = await runCommand<SettleOutcome>(
    deps,
    {
      label: `settle for ${customerId}`,
      customerIds: [customerId],
      fact: {
        customerId,
        key: holdEndKey(holdId),
        fingerprint: fingerprint({ action: 'settle', amount }),
      },
      ...cache,
      decide(states) {
        const read = stateIn(states, customerId);
        const planned = settleHold(read, { holdId, amount, atMs });
        switch (planned.kind) {
          case 'refused':
            return { kind: 'refuse', outcome: { ok: false, error: planned.error } };
          case 'batch':
            return lapsesFirst(planned.change, holdNotFound);
          case 'lapsed':
            return { kind: 'apply', changes: [planned.change], outcome: LAPSE_FACT.outcome };
          case 'settled': {
            const balance = balanceAfter(read, planned.change, atMs);
            return {
              kind: 'apply',
              changes: [planned.change],
              outcome: { ok: true, balance, consumed: amount },
              record: consumptionRecord(customerId, planned.consumed),
            };
          }
        }
      },
    },
    options,
  );
  if (result.status !== CommandStatus.conflict) return result.outcome;
  // The hold ended otherwise first: a settle of another amount, a release, or its lapse.
  const first = result.outcome as { ok: boolean; error?: string; consumed?: number };
  if (first.ok && first.consumed !== undefined) return conflict;
  return first.error === LAPSE_FACT.outcome.error ? LAPSE_FACT.outcome : holdNotFound;
}

/**
 * C25: gives every credit of the hold back to its lot. A hold that lapsed, was settled or was
 * released already has nothing left to release: `hold_not_found` (a retry of a release that
 * succeeded returns its first answer).
 */
export async function release(
  deps: LedgerDeps,
  request: Request & { holdId: string },
  options: RunOptions = {},
): Promise<ReleaseOutcome> {
  const { customerId, holdId } = request;
  const { atMs, ...cache } = timing(deps, request);
  const result = await runCommand<ReleaseOutcome | typeof LAPSE_FACT.outcome>(
    deps,
    {
      label: `release for ${customerId}`,
      customerIds: [customerId],
      fact: {
        customerId,
        key: holdEndKey(holdId),
        fingerprint: fingerprint({ action: 'release' }),
      },
      ...cache,
      decide(states) {
        const read = stateIn(states, customerId);
        const planned = releaseHold(read, { holdId, atMs });
        switch (planned.kind) {
          case 'refused':
            return { kind: 'refuse', outcome: holdNotFound };
          case 'batch':
            return lapsesFirst(planned.change, holdNotFound);
          case 'lapsed':
            return { kind: 'apply', changes: [planned.change], outcome: LAPSE_FACT.outcome };
          case 'released': {
            const balance = balanceAfter(read, planned.change, atMs);
            const outcome = { ok: true, balance, released: planned.back } as const;
            return { kind: 'apply', changes: [planned.change], outcome };
          }
        }
      },
    },
    options,
  );
  const outcome = result.outcome;
  if (result.status === CommandStatus.conflict || !outcome.ok) return holdNotFound;
  return outcome;
}

/** Which consumption a restore names: a consume's idempotency key, or a settled hold's id. */
export type ConsumptionName = { readonly idempotencyKey: string } | { readonly holdId: string };

function consumptionKey(name: ConsumptionName): { key: string; ref: string } {
  return 'holdId' in name
    ? { key: holdEndKey(name.holdId), ref: name.holdId }
    : { key: `consume#${name.idempotencyKey}`, ref: name.idempotencyKey };
}

/** A consumption that can be given back: a successful one written with its record. */
function restorable(
  stored: StoredConsumption | undefined,
  named: { key: string; ref: string },
): Consumption | undefined {
  if (!stored?.parts || (stored.outcome as { ok?: unknown } | null)?.ok !== true) return undefined;
  return { ...named, parts: stored.parts, restored: stored.restored };
}

/**
 * C26: gives back what a consumption took (all that is left, or `amount`), once per restore
 * key: the image failed after it was paid for.
 */
export async function restore(
  deps: LedgerDeps,
  request: Request & { of: ConsumptionName; restoreKey: string; amount?: number },
  options: RunOptions = {},
): Promise<RestoreOutcome> {
  const { customerId, restoreKey, amount } = request;
  const atMs = request.atMs ?? nowMs(deps);
  const named = consumptionKey(request.of);
  let stored: StoredConsumption | undefined;
  const result = await runCommand<RestoreOutcome>(
    deps,
    {
      label: `restore for ${customerId}`,
      customerIds: [customerId],
      fact: {
        customerId,
        key: `restore#${restoreKey}`,
        fingerprint: fingerprint({ of: named.key, amount: amount ?? 'all' }),
      },
      async prepare(budget) {
        stored = await readConsumption(deps, customerId, named.key, budget);
      },
      decide(states) {
        const consumption = restorable(stored, named);
        if (!consumption) {
          return { kind: 'refuse', outcome: { ok: false, error: 'consumption_not_found' } };
        }
        const read = stateIn(states, customerId);
        const planned = restoreConsumption(read, { consumption, restoreKey, amount, atMs });
        if (planned.kind === 'refused') {
          return { kind: 'refuse', outcome: { ok: false, error: planned.error } };
        }
        if (planned.kind === 'batch') return lapsesFirst(planned.change, conflict);
        const balance = balanceAfter(read, planned.change, atMs);
        const outcome = {
          ok: true,
          balance,
          restored: planned.back,
          expired: planned.gone,
        } as const;
        return { kind: 'apply', changes: [planned.change], outcome };
      },
    },
    options,
  );
  return conflictOr(result);
}

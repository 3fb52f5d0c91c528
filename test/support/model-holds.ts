import {
  CreditsModel,
  type Customer,
  type ModelHold,
  type ModelLot,
  type ModelPart,
  type ModelResult,
} from './model';

/**
 * The reference model with the image app's jobs (C25, C26), read from DOMAIN.md alone like the
 * rest of the model: plain maps and loops, none of lib/.
 *
 * - A hold takes credits out of the lots in burn order (C5), all or nothing (C15), and keeps
 *   them until it is settled (the soonest-expiring credits are consumed, the rest come back),
 *   released (all come back) or lapses at its expiry.
 * - From its expiry a lapsed hold's credits count as back in their lots for balances and
 *   spends (C25: by time alone); they are written back by the first write that meets the hold
 *   (a spend, a hold action, a restore, the expiry job) and never by a refusal or a retry.
 *   That is DESIGN.md's "a write that meets a lapsed hold records it", which decides which lots
 *   the expiry job later finds, so the model must do it at the same moments.
 * - Credits come back to the lot they came from at the moment they come back (a lapse: the
 *   hold's expiry), unless the lot had expired by then (C6) or a subscription's end covers it
 *   (C7: granted at or before the end, alive at the end): then they are gone (C26). Those an
 *   end covers are gone with what that end took from the lot: should a grant arriving later
 *   show that another subscription was active at the end (C8), they come back with it, as they
 *   would have had that grant arrived first (C16).
 * - A restore gives back what a consumption took last first, never more than it took.
 */
const HOLD_LAPSED = { ok: false, error: 'hold_lapsed' };
const HOLD_NOT_FOUND = { ok: false, error: 'hold_not_found' };
const CONFLICT = { ok: false, error: 'idempotency_conflict' };

function byBurnOrder(a: ModelLot, b: ModelLot): number {
  return (
    a.expiresAtMs - b.expiresAtMs ||
    a.grantedAtMs - b.grantedAtMs ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** The first `credits` of `parts` in burn order, and the rest. */
function split(parts: readonly ModelPart[], credits: number): [ModelPart[], ModelPart[]] {
  const first: ModelPart[] = [];
  const rest: ModelPart[] = [];
  let left = credits;
  for (const part of [...parts].sort((a, b) => byBurnOrder(a.lot, b.lot))) {
    const take = Math.min(left, part.amount);
    if (take > 0) first.push({ lot: part.lot, amount: take });
    if (part.amount > take) rest.push({ lot: part.lot, amount: part.amount - take });
    left -= take;
  }
  return [first, rest];
}

function sum(parts: readonly ModelPart[]): number {
  return parts.reduce((total, part) => total + part.amount, 0);
}

type Saved = { lots: ModelLot[]; holds: Map<string, ModelHold>; keys: Customer['keys'] };

export class HoldsModel extends CreditsModel {
  /** C14 C25: lots alive at `atMs`, and the credits of holds lapsed by then that come back. */
  override balance(customerId: string, atMs: number): number {
    const customer = this.customer(customerId);
    let total = super.balance(customerId, atMs);
    for (const hold of customer.holds.values()) {
      if (atMs < hold.expiresAtMs) continue;
      for (const part of hold.parts) {
        const back = this.comesBack(customer, part.lot, hold.expiresAtMs);
        const alive = part.lot.grantedAtMs <= atMs && atMs < part.lot.expiresAtMs;
        if (back && alive) total += part.amount;
      }
    }
    return total;
  }

  /** C25: what live holds keep at `atMs`. */
  held(customerId: string, atMs: number): number {
    let total = 0;
    for (const hold of this.customer(customerId).holds.values()) {
      if (atMs < hold.expiresAtMs) total += hold.amount;
    }
    return total;
  }

  /** Whether a hold lapsed by `atMs` is still stored (not yet recorded). */
  hasLapsedHolds(customerId: string, atMs: number): boolean {
    return [...this.customer(customerId).holds.values()].some((hold) => atMs >= hold.expiresAtMs);
  }

  storedHolds(customerId: string): number {
    return this.customer(customerId).holds.size;
  }

  override nextExpiryAfter(customerId: string, afterMs: number): number | undefined {
    let next = super.nextExpiryAfter(customerId, afterMs);
    for (const hold of this.customer(customerId).holds.values()) {
      if (hold.expiresAtMs > afterMs && (next === undefined || hold.expiresAtMs < next)) {
        next = hold.expiresAtMs;
      }
    }
    return next;
  }

  /** C6 C25: the job records the lapses first, then reclaims what has expired. */
  override expire(customerId: string, atMs: number): ModelResult {
    const lapsed = this.recordLapses(this.customer(customerId), atMs);
    const result = super.expire(customerId, atMs);
    if (lapsed === 0) return result;
    return { ...result, outcome: { ...(result.outcome as object), lapsedHolds: lapsed } };
  }

  /** A spend records the lapses it meets, unless it is refused (a refusal writes nothing). */
  protected override spend(customerId: string, amount: number, atMs: number, nowMs: number) {
    const customer = this.customer(customerId);
    const saved = this.save(customer);
    this.recordLapses(customer, atMs);
    const result = super.spend(customerId, amount, atMs, nowMs);
    if (result.status === 'refused') this.undo(customer, saved);
    return result;
  }

  /** C25: holds `amount` until `nowMs + ttlMs`, taken in burn order, all or nothing. */
  reserve(
    customerId: string,
    request: { holdId: string; amount: number; ttlSeconds: number },
    nowMs: number,
  ): unknown {
    const { holdId, amount, ttlSeconds } = request;
    const data = JSON.stringify([amount, ttlSeconds]);
    const result = this.once(customerId, `hold ${holdId}`, data, (customer) => {
      const saved = this.save(customer);
      this.recordLapses(customer, nowMs);
      const available = this.balance(customerId, nowMs);
      if (available < amount) {
        this.undo(customer, saved);
        return {
          status: 'refused',
          outcome: { ok: false, error: 'insufficient_credits', balance: available },
        };
      }
      const parts = this.burn(customer, amount, nowMs);
      const expiresAtMs = nowMs + ttlSeconds * 1000;
      customer.holds.set(holdId, { id: holdId, amount, parts, expiresAtMs });
      const expiresAt = new Date(expiresAtMs).toISOString();
      const balance = this.balance(customerId, nowMs);
      return { status: 'applied', outcome: { ok: true, balance, held: amount, expiresAt } };
    });
    return result.status === 'conflict' ? CONFLICT : result.outcome;
  }

  /** C25: consumes `amount` (soonest expiry first) and gives the rest back. */
  settle(customerId: string, holdId: string, amount: number, nowMs: number): unknown {
    const customer = this.customer(customerId);
    const key = `hold-end ${holdId}`;
    const data = `settle ${amount}`;
    const seen = customer.keys.get(key);
    if (seen) {
      if (seen.data === data) return seen.outcome;
      const first = seen.outcome as { ok: boolean; error?: string };
      if (first.ok && 'consumed' in first) return CONFLICT;
      return first.error === 'hold_lapsed' ? HOLD_LAPSED : HOLD_NOT_FOUND;
    }
    const hold = customer.holds.get(holdId);
    if (!hold) return HOLD_NOT_FOUND;
    if (nowMs >= hold.expiresAtMs) {
      this.recordLapses(customer, nowMs);
      return HOLD_LAPSED;
    }
    if (amount > hold.amount) return { ok: false, error: 'exceeds_hold' };
    this.recordLapses(customer, nowMs);
    const [consumed, rest] = split(hold.parts, amount);
    this.giveBack(customer, rest, nowMs);
    customer.holds.delete(holdId);
    customer.consumptions.set(key, { parts: consumed, restored: 0 });
    const outcome = { ok: true, balance: this.balance(customerId, nowMs), consumed: amount };
    customer.keys.set(key, { data, outcome });
    return outcome;
  }

  /** C25: every credit of the hold back to its lot. */
  release(customerId: string, holdId: string, nowMs: number): unknown {
    const customer = this.customer(customerId);
    const key = `hold-end ${holdId}`;
    const seen = customer.keys.get(key);
    if (seen) return seen.data === 'release' ? seen.outcome : HOLD_NOT_FOUND;
    const hold = customer.holds.get(holdId);
    if (!hold) return HOLD_NOT_FOUND;
    this.recordLapses(customer, nowMs);
    if (nowMs >= hold.expiresAtMs) return HOLD_NOT_FOUND;
    const { back } = this.giveBack(customer, hold.parts, nowMs);
    customer.holds.delete(holdId);
    const outcome = { ok: true, balance: this.balance(customerId, nowMs), released: back };
    customer.keys.set(key, { data: 'release', outcome });
    return outcome;
  }

  /** C26: gives back what a consume (by its key) or a settled hold (by its id) took. */
  restore(
    customerId: string,
    request: { of: { key: string } | { holdId: string }; restoreKey: string; amount?: number },
    nowMs: number,
  ): unknown {
    const named =
      'holdId' in request.of ? `hold-end ${request.of.holdId}` : `consume ${request.of.key}`;
    const data = JSON.stringify([named, request.amount ?? 'all']);
    const result = this.once(customerId, `restore ${request.restoreKey}`, data, (customer) => {
      const consumption = customer.consumptions.get(named);
      if (!consumption) {
        return { status: 'refused', outcome: { ok: false, error: 'consumption_not_found' } };
      }
      const left = sum(consumption.parts) - consumption.restored;
      const amount = request.amount ?? left;
      if (amount <= 0 || amount > left) {
        return { status: 'refused', outcome: { ok: false, error: 'exceeds_consumption' } };
      }
      this.recordLapses(customer, nowMs);
      const [unrestored] = split(consumption.parts, left);
      const [, given] = split(unrestored, left - amount);
      const { back, gone } = this.giveBack(customer, given, nowMs);
      consumption.restored += amount;
      const balance = this.balance(customerId, nowMs);
      return { status: 'applied', outcome: { ok: true, balance, restored: back, expired: gone } };
    });
    return result.status === 'conflict' ? CONFLICT : result.outcome;
  }

  /** C7 C26: a credit comes back to `lot` at `atMs` unless the lot expired or an end took it. */
  private comesBack(customer: Customer, lot: ModelLot, atMs: number): boolean {
    if (atMs >= lot.expiresAtMs) return false;
    const stored = customer.lots.find((each) => each.id === lot.id);
    if (stored?.takenBy) return false;
    return !this.endTakes(customer, lot);
  }

  private giveBack(
    customer: Customer,
    parts: readonly ModelPart[],
    atMs: number,
  ): { back: number; gone: number } {
    let back = 0;
    for (const part of parts) {
      if (!this.comesBack(customer, part.lot, atMs)) {
        if (atMs < part.lot.expiresAtMs) this.keepWithForfeit(customer, part);
        continue;
      }
      back += part.amount;
      const stored = customer.lots.find((lot) => lot.id === part.lot.id);
      if (stored) stored.remaining += part.amount;
      else customer.lots.push({ ...part.lot, remaining: part.amount });
    }
    return { back, gone: sum(parts) - back };
  }

  /** C7 C8: what an end took from the part's lot grows by the part (the lot kept if it went). */
  private keepWithForfeit(customer: Customer, part: ModelPart): void {
    let stored = customer.lots.find((lot) => lot.id === part.lot.id);
    if (!stored) {
      stored = { ...part.lot, remaining: 0 };
      customer.lots.push(stored);
    }
    if (stored.takenBy) {
      // A new record, not the old one grown: a refusal puts back copies that share it (undo).
      stored.takenBy = { ...stored.takenBy, credits: stored.takenBy.credits + part.amount };
      return;
    }
    const by = this.takingEnd(customer, stored);
    if (by === undefined) throw new Error(`no end takes ${stored.id}`);
    stored.takenBy = { subscriptionId: by, credits: stored.remaining + part.amount };
    stored.remaining = 0;
  }

  /** Writes back every hold lapsed by `atMs`, as of its expiry; how many there were. */
  private recordLapses(customer: Customer, atMs: number): number {
    const lapsed = [...customer.holds.values()].filter((hold) => atMs >= hold.expiresAtMs);
    for (const hold of lapsed) {
      this.giveBack(customer, hold.parts, hold.expiresAtMs);
      customer.holds.delete(hold.id);
      customer.keys.set(`hold-end ${hold.id}`, { data: 'lapse', outcome: HOLD_LAPSED });
    }
    return lapsed.length;
  }

  private save(customer: Customer): Saved {
    return {
      lots: customer.lots.map((lot) => ({ ...lot })),
      holds: new Map(customer.holds),
      keys: new Map(customer.keys),
    };
  }

  private undo(customer: Customer, saved: Saved): void {
    customer.lots = saved.lots;
    customer.holds = saved.holds;
    customer.keys = saved.keys;
  }
}

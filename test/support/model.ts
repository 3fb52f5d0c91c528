/**
 * A reference model of the credit rules, written from DOMAIN.md alone and kept deliberately
 * plain: arrays, loops, no DynamoDB, and none of lib/credits, so that the property test
 * compares two independent readings of the rules. Only the shapes of the outcomes follow the
 * real operations, because that is what the test compares.
 *
 * Rules modelled: C1 (whole credits, never negative), C3 (a grant's key is its invoice id),
 * C4 (a lot expires 3 calendar months after its grant time, clamped to the month's end), C5
 * (burn the soonest expiry first; among equal expiries the older grant, i.e. rollover first),
 * C6 (expired credit is neither spendable nor counted; the expiry job records and reclaims),
 * C7/C8 as amended (an end that leaves the customer with no active subscription forfeits what
 * was granted at or before it and was still alive then; while another subscription is active
 * at that moment nothing goes; a forfeit a later grant shows wrong is given back unless expired;
 * an ended subscription never grants again, and its lots not yet granted at its end go), C20
 * (a line over `m` months is `m` monthly lots, any remainder in the first, each granted `k`
 * months after the period start and expiring 3 months after its own grant; a lot is neither
 * spendable nor counted before its grant time), C21 (a pack is one lot that lives 12 months
 * and that no end forfeits), C13/C15 (idempotency keys: a replay returns the
 * first outcome, other data under the same key is a conflict, a refusal records nothing).
 *
 * The model keeps forfeits as a function of the facts: after every grant and end it asks, for
 * each lot, which end (if any) takes it, from scratch.
 *
 * Where DOMAIN.md is silent the model needs a decision too: lots with the same expiry and the
 * same grant time (two lines of one invoice, or two grants for the same period start) burn in
 * the order of their identity, the cause they name (C13): `<invoice id>#<line id>` for a
 * subscription line (`#<k>` after it for the k-th month of a line over several months), `adjust#<key>` for an ops adjustment. Which of two such lots is burned
 * shows in how many lots the expiry job later reclaims, so the model must pick one.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const DAY_MS = 86_400_000;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysIn(year: number, month: number): number {
  return month === 1 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month] ?? 31);
}

/** C4/C20: `months` calendar months later, same time of day, day clamped to the month's end. */
export function monthsAfter(atMs: number, months: number): number {
  const at = new Date(atMs);
  const index = at.getUTCFullYear() * 12 + at.getUTCMonth() + months;
  const year = Math.floor(index / 12);
  const month = index % 12;
  const day = Math.min(at.getUTCDate(), daysIn(year, month));
  const timeOfDayMs = atMs - Math.floor(atMs / DAY_MS) * DAY_MS;
  return Date.UTC(year, month, day) + timeOfDayMs;
}

/** C4: three calendar months later. */
export function threeMonthsAfter(atMs: number): number {
  return monthsAfter(atMs, 3);
}

/**
 * C20: how many calendar months a period spans, to the nearest whole month, at least 1: the
 * whole months that fit, plus the fraction of the next month that the rest covers.
 */
export function monthsSpanned(startMs: number, endMs: number): number {
  let whole = 0;
  while (monthsAfter(startMs, whole + 1) <= endMs) whole += 1;
  const from = monthsAfter(startMs, whole);
  const to = monthsAfter(startMs, whole + 1);
  return Math.max(1, Math.round(whole + (endMs - from) / (to - from)));
}

/**
 * C20: a line's monthly lots: `months` lots of equal size (any remainder in the first), lot
 * `k` granted `k` months after the period start.
 */
export function monthlyShares(
  totalCredits: number,
  months: number,
  startMs: number,
): { credits: number; grantedAtMs: number }[] {
  const share = Math.floor(totalCredits / months);
  return Array.from({ length: months }, (_, k) => ({
    credits: k === 0 ? totalCredits - share * (months - 1) : share,
    grantedAtMs: monthsAfter(startMs, k),
  }));
}

export type ModelLot = {
  id: string;
  granted: number;
  remaining: number;
  grantedAtMs: number;
  expiresAtMs: number;
};

export type Remembered = { data: string; outcome: unknown };

/** A lot as the model holds it: its subscription, and what an end took from it, if one did. */
type HeldLot = ModelLot & {
  subscriptionId?: string;
  /** C7/C21: a pack bought outright, which no end forfeits. */
  pack?: boolean;
  takenBy?: { subscriptionId: string; credits: number };
};

/** Credits taken from one lot, with the lot as it was (C25/C26: they may come back). */
export type ModelPart = { lot: ModelLot; amount: number };

/** C25: a hold as the model keeps it (test/support/model-holds.ts). */
export type ModelHold = { id: string; amount: number; parts: ModelPart[]; expiresAtMs: number };

export type Customer = {
  lots: HeldLot[];
  /** Idempotency: natural key -> the data it first carried and the outcome it got. */
  keys: Map<string, Remembered>;
  /** Subscription id -> when it ended. */
  ended: Map<string, number>;
  /** Subscription id -> the earliest period start a paid invoice of it granted for. */
  paidSince: Map<string, number>;
  /** C25: holds stored, live or lapsed and not yet recorded, by id. */
  holds: Map<string, ModelHold>;
  /** C26: what each consumption took, by its key, and how much of it came back. */
  consumptions: Map<string, { parts: ModelPart[]; restored: number }>;
};

export type ModelStatus = 'applied' | 'recorded' | 'refused' | 'already_applied' | 'conflict';
export type ModelResult = { status: ModelStatus; outcome: unknown };

export type ModelGrant = {
  invoiceId: string;
  subscriptionId: string;
  /** `credits` a month; `months` (default 1) is how many months the line's period spans (C20). */
  lines: {
    lineId: string;
    credits: number;
    periodStartMs: number;
    months?: number;
    /** All months together, when not `credits x months` (a C19 top-up). */
    totalCredits?: number;
  }[];
};

export class CreditsModel {
  private readonly customers = new Map<string, Customer>();

  protected customer(id: string): Customer {
    let found = this.customers.get(id);
    if (!found) {
      found = {
        lots: [],
        keys: new Map(),
        ended: new Map(),
        paidSince: new Map(),
        holds: new Map(),
        consumptions: new Map(),
      };
      this.customers.set(id, found);
    }
    return found;
  }

  /**
   * C6/C14/C20: what can be spent at `atMs`: the remaining credit of lots granted by then and
   * not yet expired (a retried adjustment burns as of its own, earlier, time).
   */
  balance(customerId: string, atMs: number): number {
    let sum = 0;
    for (const lot of this.customer(customerId).lots) {
      if (lot.grantedAtMs <= atMs && atMs < lot.expiresAtMs) sum += lot.remaining;
    }
    return sum;
  }

  /** The lots still held with credit (expired or not, until the job reclaims them), by id. */
  lots(customerId: string): ModelLot[] {
    return this.customer(customerId)
      .lots.filter((lot) => !lot.takenBy)
      .map(({ takenBy: _takenBy, subscriptionId: _subscriptionId, pack: _pack, ...lot }) => ({
        ...lot,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The soonest expiry after `afterMs` among the customer's lots, if any. */
  nextExpiryAfter(customerId: string, afterMs: number): number | undefined {
    let next: number | undefined;
    for (const lot of this.customer(customerId).lots) {
      if (lot.expiresAtMs > afterMs && (next === undefined || lot.expiresAtMs < next)) {
        next = lot.expiresAtMs;
      }
    }
    return next;
  }

  /**
   * C3/C4/C8/C20: a line's monthly lots, the first granted at its period start; once per
   * invoice. An ended subscription grants no lot after its end.
   */
  grant(customerId: string, grant: ModelGrant, nowMs: number): ModelResult {
    const data = JSON.stringify([grant.subscriptionId, grant.lines]);
    return this.once(customerId, `grant ${grant.invoiceId}`, data, (customer) => {
      // C8: an ended subscription grants nothing for after its end, in either order (C16).
      const endedAtMs = customer.ended.get(grant.subscriptionId);
      const lines = grant.lines.filter(
        (line) => endedAtMs === undefined || line.periodStartMs <= endedAtMs,
      );
      const lots = lines.flatMap((line) => {
        const months = line.months ?? 1;
        const total = line.totalCredits ?? line.credits * months;
        const shares = monthlyShares(total, months, line.periodStartMs);
        return shares.map((share, k) => ({
          id:
            months === 1
              ? `${grant.invoiceId}#${line.lineId}`
              : `${grant.invoiceId}#${line.lineId}#${k}`,
          ...share,
        }));
      });
      if (lines.length === 0) {
        return {
          status: 'recorded',
          outcome: { result: 'ignored', reason: 'subscription_ended' },
        };
      }
      let credits = 0;
      for (const lot of lots) {
        // C7/C20: the lots after its end of a subscription that ended are cancelled.
        if (endedAtMs !== undefined && lot.grantedAtMs > endedAtMs) continue;
        // C20: a share of nothing is no lot (a small top-up over several months, C19).
        if (lot.credits === 0) continue;
        credits += lot.credits;
        customer.lots.push({
          id: lot.id,
          subscriptionId: grant.subscriptionId,
          granted: lot.credits,
          remaining: lot.credits,
          grantedAtMs: lot.grantedAtMs,
          expiresAtMs: threeMonthsAfter(lot.grantedAtMs),
        });
      }
      const start = Math.min(...lines.map((line) => line.periodStartMs));
      const since = customer.paidSince.get(grant.subscriptionId) ?? start;
      customer.paidSince.set(grant.subscriptionId, Math.min(since, start));
      this.settleForfeits(customer, nowMs);
      const balance = this.balance(customerId, nowMs);
      return { status: 'applied', outcome: { result: 'granted', credits, balance } };
    });
  }

  /** C15: all or nothing, from lots alive at `atMs`, soonest expiry first (C5). */
  consume(customerId: string, amount: number, key: string, atMs: number): unknown {
    const result = this.once(customerId, `consume ${key}`, String(amount), (customer) => {
      const spent = this.spend(customerId, amount, atMs, atMs);
      // C26: what it took is remembered, for restores.
      if (spent.status === 'applied') {
        customer.consumptions.set(`consume ${key}`, { parts: spent.taken, restored: 0 });
      }
      return spent;
    });
    return result.status === 'conflict'
      ? { ok: false, error: 'idempotency_conflict' }
      : result.outcome;
  }

  /** Ops: positive adds a lot granted at `atMs`; negative spends like consume (C1). */
  adjust(
    customerId: string,
    change: { amount: number; reason: string; key: string; atMs: number },
    nowMs: number,
  ): unknown {
    const data = JSON.stringify([change.amount, change.reason]);
    const result = this.once(customerId, `adjust ${change.key}`, data, (customer) => {
      if (change.amount < 0) return this.spend(customerId, -change.amount, change.atMs, nowMs);
      customer.lots.push({
        id: `adjust#${change.key}`,
        granted: change.amount,
        remaining: change.amount,
        grantedAtMs: change.atMs,
        expiresAtMs: threeMonthsAfter(change.atMs),
      });
      this.settleForfeits(customer, nowMs);
      return { status: 'applied', outcome: { ok: true, balance: this.balance(customerId, nowMs) } };
    });
    return result.status === 'conflict'
      ? { ok: false, error: 'idempotency_conflict' }
      : result.outcome;
  }

  /**
   * C11: a referral bonus lot (or any lot granted outside a subscription invoice) arrives like
   * a grant: C4 expiry from its grant time, and forfeited at once when an end already covers it.
   */
  addLot(
    customerId: string,
    lot: { id: string; credits: number; grantedAtMs: number },
    nowMs = Number.POSITIVE_INFINITY,
  ): void {
    const customer = this.customer(customerId);
    customer.lots.push({
      id: lot.id,
      granted: lot.credits,
      remaining: lot.credits,
      grantedAtMs: lot.grantedAtMs,
      expiresAtMs: threeMonthsAfter(lot.grantedAtMs),
    });
    this.settleForfeits(customer, nowMs);
  }

  /** C21: a pack lot, once by its id: 12 months of life from its purchase, and no end takes it. */
  grantPack(
    customerId: string,
    lot: { id: string; credits: number; grantedAtMs: number },
    nowMs: number,
  ): void {
    const customer = this.customer(customerId);
    if (customer.lots.some((each) => each.id === lot.id) || customer.keys.has(lot.id)) return;
    customer.keys.set(lot.id, { data: String(lot.credits), outcome: null });
    customer.lots.push({
      id: lot.id,
      granted: lot.credits,
      remaining: lot.credits,
      grantedAtMs: lot.grantedAtMs,
      expiresAtMs: monthsAfter(lot.grantedAtMs, 12),
      pack: true,
    });
    this.settleForfeits(customer, nowMs);
  }

  /**
   * C7/C8/C16: makes every lot agree with the facts, whatever order they arrived in. An end
   * takes a lot when the lot was granted at or before it and still alive then, and no other
   * subscription was active at that moment (paid for a period started by then, not ended by
   * then); the earliest such end takes it. A lot an end no longer takes gets its credit back,
   * unless it has expired by `nowMs`.
   */
  private settleForfeits(customer: Customer, nowMs: number): void {
    const ends = this.forfeitingEnds(customer);
    for (const lot of customer.lots) {
      if (lot.pack) continue;
      const taking = ends.find(
        ([, endedAtMs]) => lot.grantedAtMs <= endedAtMs && endedAtMs < lot.expiresAtMs,
      );
      if (lot.takenBy) {
        // Kept while any end that forfeits covers it, the one that first took it or a later one.
        const still = ends.some(([id]) => id === lot.takenBy?.subscriptionId) || taking;
        if (!still && nowMs < lot.expiresAtMs) {
          lot.remaining = lot.takenBy.credits;
          delete lot.takenBy;
        }
        continue;
      }
      if (taking && lot.remaining > 0) {
        lot.takenBy = { subscriptionId: taking[0], credits: lot.remaining };
        lot.remaining = 0;
      }
    }
  }

  /**
   * The ends that leave no subscription active, earliest first. Only a subscription that was
   * itself paid for by its end can be the last active one to end; ends in one second go by
   * subscription id, so the order of arrival never decides.
   */
  private forfeitingEnds(customer: Customer): [string, number][] {
    return [...customer.ended.entries()]
      .filter(([id, endedAtMs]) => (customer.paidSince.get(id) ?? Infinity) <= endedAtMs)
      .filter(([id, endedAtMs]) => !this.anotherActive(customer, id, endedAtMs))
      .sort(([idA, a], [idB, b]) => a - b || (idA < idB ? -1 : idA > idB ? 1 : 0));
  }

  /** C7: the subscription whose end takes `lot` (the earliest end covering it), if any. */
  protected takingEnd(customer: Customer, lot: ModelLot & { pack?: boolean }): string | undefined {
    if (lot.pack) return undefined;
    const taking = this.forfeitingEnds(customer).find(
      ([, endedAtMs]) => lot.grantedAtMs <= endedAtMs && endedAtMs < lot.expiresAtMs,
    );
    return taking?.[0];
  }

  /** C7: whether a subscription's end takes `lot` (granted by then, alive then, none other active). */
  protected endTakes(customer: Customer, lot: ModelLot & { pack?: boolean }): boolean {
    if (lot.pack) return false;
    for (const [id, endedAtMs] of customer.ended) {
      if (lot.grantedAtMs > endedAtMs || endedAtMs >= lot.expiresAtMs) continue;
      if ((customer.paidSince.get(id) ?? Infinity) > endedAtMs) continue;
      if (!this.anotherActive(customer, id, endedAtMs)) return true;
    }
    return false;
  }

  private anotherActive(customer: Customer, subscriptionId: string, atMs: number): boolean {
    for (const [id, since] of customer.paidSince) {
      if (id === subscriptionId || since > atMs) continue;
      const endedAtMs = customer.ended.get(id);
      if (endedAtMs === undefined || endedAtMs > atMs) return true;
    }
    return false;
  }

  /** C6: the expiry job at `atMs` reclaims every expired lot that still held credit. */
  expire(customerId: string, atMs: number): ModelResult {
    const customer = this.customer(customerId);
    const expired = customer.lots.filter((lot) => lot.expiresAtMs <= atMs && lot.remaining > 0);
    // Expired records of forfeits go too: nothing can give their credit back any more.
    customer.lots = customer.lots.filter(
      (lot) => !expired.includes(lot) && !(lot.takenBy && lot.expiresAtMs <= atMs),
    );
    let credits = 0;
    for (const lot of expired) credits += lot.remaining;
    return {
      status: expired.length > 0 ? 'applied' : 'refused',
      outcome: { expiredLots: expired.length, expiredCredits: credits },
    };
  }

  /**
   * C7/C8: the end is recorded; its lots granted after it (which it would never have granted
   * had the end come first) go in every case; the forfeits follow from the facts.
   */
  end(customerId: string, subscriptionId: string, endedAtMs: number, nowMs: number): ModelResult {
    return this.once(customerId, `end ${subscriptionId}`, String(endedAtMs), (customer) => {
      customer.ended.set(subscriptionId, endedAtMs);
      customer.lots = customer.lots.filter(
        (lot) => !(lot.subscriptionId === subscriptionId && lot.grantedAtMs > endedAtMs),
      );
      this.settleForfeits(customer, nowMs);
      let forfeited = 0;
      for (const lot of customer.lots) {
        if (lot.takenBy?.subscriptionId === subscriptionId) forfeited += lot.takenBy.credits;
      }
      return { status: 'applied', outcome: { result: 'ended', forfeited } };
    });
  }

  protected spend(
    customerId: string,
    amount: number,
    atMs: number,
    nowMs: number,
  ): ModelResult & { taken: ModelPart[] } {
    const available = this.balance(customerId, atMs);
    if (available < amount) {
      return {
        status: 'refused',
        outcome: { ok: false, error: 'insufficient_credits', balance: available },
        taken: [],
      };
    }
    const taken = this.burn(this.customer(customerId), amount, atMs);
    const outcome = { ok: true, balance: this.balance(customerId, nowMs) };
    return { status: 'applied', outcome, taken };
  }

  /** C5: takes `amount` from the lots alive at `atMs`, soonest expiry first; what it took. */
  protected burn(customer: Customer, amount: number, atMs: number): ModelPart[] {
    const taken: ModelPart[] = [];
    const alive = customer.lots
      .filter((lot) => lot.grantedAtMs <= atMs && atMs < lot.expiresAtMs && lot.remaining > 0)
      .sort(
        (a, b) =>
          a.expiresAtMs - b.expiresAtMs ||
          a.grantedAtMs - b.grantedAtMs ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
    let left = amount;
    for (const lot of alive) {
      const take = Math.min(left, lot.remaining);
      if (take > 0) taken.push({ lot: { ...lot }, amount: take });
      lot.remaining -= take;
      left -= take;
    }
    customer.lots = customer.lots.filter((lot) => lot.remaining > 0 || lot.takenBy);
    return taken;
  }

  /**
   * Runs `apply` unless `key` was settled before: then the first outcome comes back, as
   * already_applied for the same data or conflict for other data. A refusal settles nothing.
   */
  protected once(
    customerId: string,
    key: string,
    data: string,
    apply: (customer: Customer) => ModelResult,
  ): ModelResult {
    const customer = this.customer(customerId);
    const seen = customer.keys.get(key);
    if (seen) {
      return { status: seen.data === data ? 'already_applied' : 'conflict', outcome: seen.outcome };
    }
    const result = apply(customer);
    if (result.status !== 'refused') customer.keys.set(key, { data, outcome: result.outcome });
    return result;
  }
}

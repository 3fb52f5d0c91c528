import { byBurnOrder, type Lot } from './lots';
import type { CustomerFacts, Debt, EntryDraft } from './state';
import { EntryType } from './state';

/**
 * C23: what a take-back could not find becomes debt, owed by the purchase whose reversal caused
 * it, and the next credits the customer is granted repay it before any of them is spendable.
 * A lot repays a debt when it has not expired by the debt's time: a lot granted after the debt
 * (the next credits) or one that was alive then, which the take-back would have found had
 * Stripe delivered its grant first (C16). Debts are repaid oldest first; lots by grant time.
 */

/** The debts in the order they are repaid: oldest first, then by purchase id. */
function debtsInOrder(facts: CustomerFacts): [string, Debt][] {
  return Object.entries(facts.debts ?? {})
    .filter(([, debt]) => debt.credits > 0)
    .sort(([a, x], [b, y]) => x.atMs - y.atMs || (a < b ? -1 : a > b ? 1 : 0));
}

export type Repayment = {
  /** The lots as they are to be created, less what they repaid. */
  readonly lots: readonly Lot[];
  readonly facts: CustomerFacts;
  /** One debt entry per lot that repaid something. */
  readonly drafts: readonly EntryDraft[];
};

/** Each debt (oldest first) repaid from the credits `available` offers, lots by grant time. */
function allocate(
  debts: readonly [string, Debt][],
  lots: readonly Lot[],
  available: (lot: Lot) => number,
): { repaid: Map<string, number>; owed: Map<string, number> } {
  const byGrant = [...lots].sort((a, b) => a.grantedAtMs - b.grantedAtMs || byBurnOrder(a, b));
  const left = new Map(byGrant.map((lot) => [lot.id, available(lot)]));
  const repaid = new Map<string, number>();
  const owed = new Map(debts.map(([id, debt]) => [id, debt.credits]));
  for (const [purchaseId, debt] of debts) {
    for (const lot of byGrant) {
      const due = owed.get(purchaseId) ?? 0;
      const credits = left.get(lot.id) ?? 0;
      if (due === 0) break;
      if (credits === 0 || lot.forfeit || lot.expiresAtMs <= debt.atMs) continue;
      const pay = Math.min(due, credits);
      owed.set(purchaseId, due - pay);
      left.set(lot.id, credits - pay);
      repaid.set(lot.id, (repaid.get(lot.id) ?? 0) + pay);
    }
  }
  return { repaid, owed };
}

/** The debts as `owed` leaves them, those repaid in full gone. */
function debtsAfter(debts: readonly [string, Debt][], owed: ReadonlyMap<string, number>) {
  return Object.fromEntries(
    debts
      .map(([id, debt]) => [id, { ...debt, credits: owed.get(id) ?? 0 }] as const)
      .filter(([, debt]) => debt.credits > 0),
  );
}

/**
 * New lots (not yet written) repay the customer's debts, before they are created, so nothing
 * is spendable while a debt is owed. A lot not yet granted (C20) repays by being granted less:
 * it is not in the ledger, so its entry moves `balance - debt` by what it repaid. Undefined
 * when there is nothing to repay or nothing to repay it with.
 */
export function repayFromNewLots(
  facts: CustomerFacts,
  lots: readonly Lot[],
  entry: { readonly id: string; readonly atMs: number; readonly ref: string },
): Repayment | undefined {
  const debts = debtsInOrder(facts);
  if (debts.length === 0) return undefined;
  const { repaid, owed } = allocate(debts, lots, (lot) => lot.remaining);
  if (repaid.size === 0) return undefined;
  return {
    // A lot that repaid all it had is not created: no lot is ever kept at 0 (lib/store/lot-cache.ts).
    lots: lots
      .map((lot) => reducedBy(lot, repaid.get(lot.id) ?? 0))
      .filter((lot) => lot.remaining > 0 || lot.forfeit !== undefined),
    facts: { ...facts, debts: debtsAfter(debts, owed) },
    drafts: [...lots]
      .sort((a, b) => a.grantedAtMs - b.grantedAtMs || byBurnOrder(a, b))
      .filter((lot) => repaid.has(lot.id))
      .map((lot) => repaymentEntry(lot, repaid.get(lot.id) ?? 0, entry, !lot.upcoming)),
  };
}

/** What credits given back to months repaid (`GivenBackRepayment`). */
export type GivenBackRepayment = {
  /** Credits of the give-back each month repaid instead of receiving them, by lot id. */
  readonly repaid: ReadonlyMap<string, number>;
  readonly debts: NonNullable<CustomerFacts['debts']>;
  /** One debt entry per month that repaid something. */
  readonly drafts: readonly EntryDraft[];
};

/**
 * C19/C22/C23: credits a moved cut gives back to months (`credits` of each lot) repay the
 * customer's debts first, like any credits granted. A refund that found such a month cut
 * took its credits from the customer's other lots or left them owed; in Stripe's order (the
 * refund after the cut's move) it would have taken the month itself, so the month pays the
 * debt it left. The month receives only the rest, so each entry counts what the month repaid
 * (a debt entry moving `balance - debt` by it, as for a month not yet granted). Undefined when
 * nothing is owed or nothing repays.
 */
export function repayFromGivenBack(
  debts: CustomerFacts['debts'],
  givenBack: readonly { readonly lot: Lot; readonly credits: number }[],
  entry: { readonly id: string; readonly atMs: number; readonly ref: string },
): GivenBackRepayment | undefined {
  const ordered = debtsInOrder({ subscriptions: {}, ...(debts && { debts }) });
  if (ordered.length === 0) return undefined;
  const credits = new Map(givenBack.map((each) => [each.lot.id, each.credits]));
  const lots = givenBack.map((each) => each.lot);
  const { repaid, owed } = allocate(ordered, lots, (lot) => credits.get(lot.id) ?? 0);
  if (repaid.size === 0) return undefined;
  return {
    repaid,
    debts: debtsAfter(ordered, owed),
    drafts: lots
      .filter((lot) => repaid.has(lot.id))
      .map((lot) => repaymentEntry(lot, repaid.get(lot.id) ?? 0, entry, false)),
  };
}

/** A lot less what it repaid: an upcoming lot grants less, a granted one holds less. */
function reducedBy(lot: Lot, credits: number): Lot {
  if (credits === 0) return lot;
  if (lot.upcoming)
    return { ...lot, granted: lot.granted - credits, remaining: lot.remaining - credits };
  return { ...lot, remaining: lot.remaining - credits };
}

/**
 * `counted`: the lot's credits are in the ledger already (a granted lot's grant entry counted
 * them), so repaying moves only the debt; else the entry counts what the lot repaid instead.
 */
function repaymentEntry(
  lot: Lot,
  credits: number,
  entry: { readonly id: string; readonly atMs: number; readonly ref: string },
  counted: boolean,
): EntryDraft {
  return {
    id: `${entry.id}#repays#${lot.id}`,
    type: EntryType.debt,
    amount: counted ? 0 : credits,
    debt: -credits,
    atMs: Math.max(entry.atMs, lot.grantedAtMs),
    ref: entry.ref,
    reason: `repays ${credits} credits of debt (C23)`,
    lots: counted ? [{ lotId: lot.id, amount: -credits }] : [],
  };
}

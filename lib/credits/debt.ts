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
  const byGrant = [...lots].sort((a, b) => a.grantedAtMs - b.grantedAtMs || byBurnOrder(a, b));
  const left = new Map(byGrant.map((lot) => [lot.id, lot.remaining]));
  const repaid = new Map<string, number>();
  const owed = new Map(debts.map(([id, debt]) => [id, debt.credits]));
  for (const [purchaseId, debt] of debts) {
    for (const lot of byGrant) {
      const due = owed.get(purchaseId) ?? 0;
      const available = left.get(lot.id) ?? 0;
      if (due === 0) break;
      if (available === 0 || lot.forfeit || lot.expiresAtMs <= debt.atMs) continue;
      const pay = Math.min(due, available);
      owed.set(purchaseId, due - pay);
      left.set(lot.id, available - pay);
      repaid.set(lot.id, (repaid.get(lot.id) ?? 0) + pay);
    }
  }
  if (repaid.size === 0) return undefined;
  const debtsAfter = Object.fromEntries(
    debts
      .map(([id, debt]) => [id, { ...debt, credits: owed.get(id) ?? 0 }] as const)
      .filter(([, debt]) => debt.credits > 0),
  );
  return {
    // A lot that repaid all it had is not created: no lot is ever kept at 0 (lib/store/lot-cache.ts).
    lots: lots
      .map((lot) => reducedBy(lot, repaid.get(lot.id) ?? 0))
      .filter((lot) => lot.remaining > 0 || lot.forfeit !== undefined),
    facts: { ...facts, debts: debtsAfter },
    drafts: byGrant
      .filter((lot) => repaid.has(lot.id))
      .map((lot) => repaymentEntry(lot, repaid.get(lot.id) ?? 0, entry)),
  };
}

/** A lot less what it repaid: an upcoming lot grants less, a granted one holds less. */
function reducedBy(lot: Lot, credits: number): Lot {
  if (credits === 0) return lot;
  if (lot.upcoming)
    return { ...lot, granted: lot.granted - credits, remaining: lot.remaining - credits };
  return { ...lot, remaining: lot.remaining - credits };
}

function repaymentEntry(
  lot: Lot,
  credits: number,
  entry: { readonly id: string; readonly atMs: number; readonly ref: string },
): EntryDraft {
  return {
    id: `${entry.id}#repays#${lot.id}`,
    type: EntryType.debt,
    // A granted lot's credits were counted by the grant's entry: repaying moves only the debt.
    amount: lot.upcoming ? credits : 0,
    debt: -credits,
    atMs: Math.max(entry.atMs, lot.grantedAtMs),
    ref: entry.ref,
    reason: `repays ${credits} credits of debt (C23)`,
    lots: lot.upcoming ? [] : [{ lotId: lot.id, amount: -credits }],
  };
}

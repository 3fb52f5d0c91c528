import { isDeepStrictEqual } from 'node:util';
import {
  type CutChange,
  MAX_ITEMS_PER_RETAKE,
  MAX_LOTS_PER_DOWNGRADE,
  reconcileCuts,
  withSubscriptionPart,
} from '../credits/downgrades';
import { takeAgain } from '../credits/reversals';
import {
  andThen,
  type CustomerFacts,
  type CustomerState,
  changeOf,
  type StateChange,
} from '../credits/state';

/**
 * C19 C22: the reversals whose months the plan cuts take that much again elsewhere (takeAgain),
 * after the plan's own changes, leaving the granted lots those change alone (one write per
 * lot); a month to come that the plan cuts they may cancel more of, the two cancels written as
 * one (mergeChanges). `ofCuts`: what they took of a later downgrade's cuts, which needs the
 * cuts planned again.
 */
export function retaken(
  after: CustomerState,
  plan: CutChange,
  nowMs: number,
): { change?: StateChange; ofCuts: number } {
  if (plan.retakes.length === 0) return { ofCuts: 0 };
  return takeAgain(after, plan.retakes, plan.retakeId, {
    maxItems: MAX_ITEMS_PER_RETAKE,
    skip: new Set(plan.cancelled.filter((each) => !each.lot.upcoming).map((each) => each.lot.id)),
    nowMs,
  });
}

/**
 * C19: the plan's changes to stored lots (cut more, given back, or a month coming back), with
 * `facts` (the customer's, by default) and the debts its give-backs repaid (C23).
 */
export function storedLotsCut(
  customer: CustomerState,
  plan: CutChange,
  facts: CustomerFacts = customer.facts,
): StateChange {
  const next = withRepaid(facts, plan);
  return changeOf(customer, {
    cancelled: plan.cancelled,
    created: plan.created,
    drafts: plan.drafts,
    ...(next !== customer.facts && { facts: next }),
  });
}

/** The facts with the debts the plan's give-backs leave (C23), when they repaid any. */
export function withRepaid(facts: CustomerFacts, plan: CutChange): CustomerFacts {
  return plan.debts ? { ...facts, debts: plan.debts } : facts;
}

/**
 * C19 C22 C16: one subscription's cuts planned again with no invoice arriving, after a reversal
 * took months a later downgrade had cut (cuts-after.ts): the downgrade cuts elsewhere what it
 * can, as in Stripe's order. `more`: more stored lots differ than one transaction changes.
 * Nothing to change when the lots already agree with the plan.
 */
export function replanCuts(
  customer: CustomerState,
  subscriptionId: string,
  entryId: string,
  nowMs: number,
): { change?: StateChange; more: boolean } {
  const plan = reconcileCuts(customer.lots, {
    subscriptionId,
    facts: customer.facts.subscriptions[subscriptionId] ?? {},
    arriving: [],
    entryId,
    nowMs,
    maxLots: MAX_LOTS_PER_DOWNGRADE,
    ...(customer.facts.debts && { debts: customer.facts.debts }),
  });
  const facts = withSubscriptionPart(customer.facts, subscriptionId, plan.part([]));
  const writes = plan.cancelled.length + plan.created.length + plan.retakes.length;
  // The plan writes its facts afresh, in its own key order: only what they say counts.
  const sameFacts = isDeepStrictEqual(facts, customer.facts);
  if (writes === 0 && !plan.debts && sameFacts) return { more: false };
  const changed = storedLotsCut(customer, plan, facts);
  let ofCuts = 0;
  const { change } = andThen(customer, changed, (after) => {
    const again = retaken(after, plan, nowMs);
    ofCuts = again.ofCuts;
    return again.change;
  });
  // A reversal that took a later downgrade's cuts again: that downgrade cuts elsewhere next.
  return { ...(change && { change }), more: plan.more || ofCuts > 0 };
}

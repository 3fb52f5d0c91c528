import {
  grantLots,
  MAX_LOTS_PER_GRANT,
  monthlyLots,
  settleByTime,
  topUpIdPrefix,
} from '../credits/changes';
import { repaidBeforeCuts } from '../credits/cuts-after';
import {
  arrivalsAfterEnd,
  type CutChange,
  type DowngradeFacts,
  MAX_LOTS_PER_DOWNGRADE,
  reconcileCuts,
  withDowngrade,
  withSubscriptionPart,
} from '../credits/downgrades';
import {
  endSubscription as endRule,
  lotsAfterEnd,
  MAX_LOTS_PER_END,
  reconcileForfeits,
} from '../credits/forfeits';
import { spendableAt } from '../credits/holds';
import { type Lot, LotSource } from '../credits/lots';
import type { PurchaseGrant, PurchaseRecord, ReferralOfPurchase } from '../credits/purchase';
import { normalizeReferralCode } from '../credits/referral';
import {
  andThen,
  type CustomerFacts,
  type CustomerState,
  changeOf,
  EntryType,
  LotExistsError,
  mergeChanges,
  type StateChange,
  type SubscriptionFacts,
  stateAfter,
} from '../credits/state';
import { lotExpiresAtMs } from '../credits/time';
import { ownerOfCode } from '../store/codes';
import {
  type CommandResult,
  CommandStatus,
  type Decision,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import {
  type EarlierPurchaseLookup,
  earlierPurchaseLookup,
  type FirstPaidLookup,
  firstPaidLookup,
} from './customer-history';
import { fingerprint, type LedgerDeps, nowMs } from './deps';
import { retaken, storedLotsCut, withRepaid } from './recut';
import { decideRedemption, type RedemptionOutcome, withRedemption } from './redemptions';
import { expectNoRecord, settleGrantReversals, withPurchaseRecord } from './reversals';

/** One plain subscription line of a paid invoice (C2, C3, C20). */
export type GrantLine = {
  readonly lineId: string;
  /** Credits a month: the price's monthly credits times the quantity. */
  readonly credits: number;
  readonly periodStartMs: number;
  /** C20: how many calendar months the line's period spans; default 1. */
  readonly months?: number;
};

/** C19: the net of an invoice's proration lines, already rounded down. */
export type ProrationGrant = {
  /** Positive: granted over the period; zero or less: a downgrade (cancels upcoming credit). */
  readonly credits: number;
  /** The start of the prorated period: the time of the change. */
  readonly periodStartMs: number;
  /**
   * Its end: the end of the billing period the change falls in, where the next renewal's
   * credits begin. Not part of the grant's fingerprint, which predates it.
   */
  readonly periodEndMs: number;
  readonly months: number;
};

export type SubscriptionGrant = {
  readonly customerId: string;
  readonly invoiceId: string;
  readonly subscriptionId: string;
  /** C3: subscription_create, subscription_cycle or subscription_update; default create. */
  readonly billingReason?: string;
  readonly lines: readonly GrantLine[];
  readonly proration?: ProrationGrant;
  /** When Stripe created the invoice: orders a customer's purchases (C10). */
  readonly invoiceCreatedMs: number;
  /** C10/C18: money paid, in minor units; 0 for a trial or a 100% coupon; absent: paid. */
  readonly amountPaid?: number;
  /** C10: a referral code the subscription's metadata carries, as typed. */
  readonly referral?: { readonly code: string };
  /** C24: the payment intent that paid it, when known: a refund naming it finds the invoice. */
  readonly paymentIntentId?: string;
};

export type GrantOutcome = (
  | {
      readonly result: 'granted';
      readonly credits: number;
      readonly balance: number;
      /** C19: credits a downgrade cancelled from lots not yet granted. */
      readonly cancelled?: number;
    }
  | { readonly result: 'ignored'; readonly reason: 'subscription_ended' }
) & { readonly referral?: RedemptionOutcome };

/**
 * C3: a paid subscription invoice grants its period's credits once, keyed by invoice id: each
 * plain line as monthly lots over its period (C20), the net of its prorations as a top-up or
 * a cancellation of credit not yet granted (C19). C8: an ended subscription grants nothing,
 * recorded so that the invoice stays settled. C10-C12: a referral code on the customer's first
 * purchase is redeemed in the same transaction, so the grant, both bonuses and the customer's
 * one redemption are written together or not at all.
 */
export async function grantSubscriptionInvoice(
  deps: LedgerDeps,
  grant: SubscriptionGrant,
  options: RunOptions = {},
): Promise<CommandResult<GrantOutcome>> {
  const code = grant.referral ? normalizeReferralCode(grant.referral.code) : null;
  const referrerId = code ? await ownerOfCode(deps, code, options.budget) : undefined;
  const earlierPurchase = earlierPurchaseLookup(deps.customerHistory);
  const firstPaid = firstPaidLookup(deps.subscriptionHistory);
  const result = await runCommand<GrantOutcome>(
    deps,
    {
      label: `grant of ${grant.invoiceId}`,
      customerIds:
        referrerId && referrerId !== grant.customerId
          ? [grant.customerId, referrerId]
          : [grant.customerId],
      purchases: [expectNoRecord(grant.customerId, grant.invoiceId)],
      fact: {
        customerId: grant.customerId,
        key: `grant#${grant.invoiceId}`,
        fingerprint: fingerprint({
          subscriptionId: grant.subscriptionId,
          lines: grant.lines,
          ...(grant.proration && { proration: fingerprinted(grant.proration) }),
          ...(grant.referral && { code: code ?? grant.referral.code }),
        }),
      },
      decide: (states) =>
        decideGrant(states, grant, {
          code,
          referrerId,
          nowMs: nowMs(deps),
          earlierPurchase,
          firstPaid,
        }),
    },
    options,
  );
  // Remembering that an ignored invoice was paid is bookkeeping, not a grant.
  return result.status === CommandStatus.applied &&
    result.outcome.result === 'ignored' &&
    result.outcome.referral?.result !== 'redeemed'
    ? { ...result, status: CommandStatus.recorded }
    : result;
}

type ReferralLookup = {
  readonly code: string | null;
  readonly referrerId: string | undefined;
  readonly nowMs: number;
  readonly earlierPurchase: EarlierPurchaseLookup;
  /** C10/C18: whether a paid renewal is its subscription's first paid invoice, by Stripe. */
  readonly firstPaid: FirstPaidLookup;
};

function decideGrant(
  states: ReadonlyMap<string, CustomerState>,
  grant: SubscriptionGrant,
  lookup: ReferralLookup,
): Decision<GrantOutcome> {
  const read = stateIn(states, grant.customerId);
  // C16/C22: the grant's lots are all written, the reversals delivered before it not yet all
  // taken back: it goes on with them, and writes its fact with the last batch.
  const record = read.purchases?.get(grant.invoiceId);
  if (record?.settlingGrant) return settlingDecision(states, record, lookup.nowMs);
  // What time alone settled (upcoming lots now granted, forfeits the facts imply) goes first,
  // in the same transaction: this one writes the account anyway.
  const settled = settleByTime(read, lookup.nowMs);
  const granted = grantChange(settled.state, grant, lookup.nowMs);
  // C4/C19/C20: a downgrade delivered late cancels months come due since its change, which
  // time releases in this decision too; one transaction writes a lot once, so the release goes
  // in a transaction of its own first, and the grant runs again.
  if (settled.change && cancelsReleased(settled.change, granted.change)) {
    const outcome = { result: 'granted' as const, credits: 0, balance: 0 };
    return { kind: 'apply', changes: [settled.change], outcome, final: false };
  }
  const own = andThen(read, settled.change, () => granted.change);
  // The referral goes with the grant's last transaction, which also writes the fact.
  const referral = granted.more ? null : redemptionFor(states, own.state, grant, lookup);
  const redeemed = withRedemption(own.change, referral?.changes ?? []);
  const answer = {
    result: 'granted' as const,
    credits: granted.credits,
    ...(granted.cancelled > 0 && { cancelled: granted.cancelled }),
    ...(referral && { referral: referral.outcome }),
  };
  // C22: the last transaction records what the purchase granted, and applies reversals that
  // arrived before it (C16), as many as fit beside it; the rest in transactions of their own.
  const recorded =
    granted.more || granted.ignored
      ? undefined
      : withPurchaseRecord(
          read,
          {
            state: referral?.state ?? own.state,
            ...refereeChangeIn(redeemed, grant.customerId),
          },
          grant.invoiceId,
          purchaseGrantOf(grant, granted.credits, referral?.outcome),
          referrerOf(states, redeemed, {
            customerId: grant.customerId,
            referrerId: lookup.referrerId,
          }),
          { answer, nowMs: lookup.nowMs },
        );
  const outcome: GrantOutcome = granted.ignored
    ? {
        result: 'ignored' as const,
        reason: 'subscription_ended' as const,
        ...(referral && { referral: referral.outcome }),
      }
    : // C25: holds lapsed by now count as back in their lots (lib/credits/holds.ts).
      { ...answer, balance: spendableAt(recorded?.state ?? own.state, lookup.nowMs) };
  const changes = recorded ? recordedChanges(recorded, redeemed, lookup.referrerId) : redeemed;
  const final = !granted.more && !recorded?.more;
  if (changes.length > 0) return { kind: 'apply', changes, outcome, final };
  return { kind: 'record', outcome };
}

/** C16/C22: a batch of the take-back a grant goes on with (settleGrantReversals). */
function settlingDecision(
  states: ReadonlyMap<string, CustomerState>,
  record: PurchaseRecord,
  nowMs: number,
): Decision<GrantOutcome> {
  const batch = settleGrantReversals(states, record, nowMs);
  // The answer the grant's last transaction kept, with the balance the batch leaves.
  const outcome = {
    ...record.settlingGrant,
    balance: spendableAt(batch.state, nowMs),
  } as GrantOutcome;
  return { kind: 'apply', changes: batch.changes, outcome, final: !batch.more };
}

/** Whether `change` cancels credit from a lot that `settling` releases (C19, C20). */
function cancelsReleased(settling: StateChange, change: StateChange | undefined): boolean {
  const released = new Set(settling.released.map((lot) => lot.id));
  return change?.cancelled.some((each) => released.has(each.lot.id)) ?? false;
}

/** The customer's own change among a purchase's changes (the referrer's is another). */
export function refereeChangeIn(
  changes: readonly StateChange[],
  customerId: string,
): { change?: StateChange } {
  const change = changes.find((each) => each.customerId === customerId);
  return change ? { change } : {};
}

/** The referrer's state as read and the bonus change, when the purchase redeemed a code. */
export function referrerOf(
  states: ReadonlyMap<string, CustomerState>,
  changes: readonly StateChange[],
  referral: { customerId: string; referrerId: string | undefined },
): { read: CustomerState; change?: StateChange } | undefined {
  const { customerId, referrerId } = referral;
  // The customer's own code (C12: rejected) has no referrer other than the customer.
  if (!referrerId || referrerId === customerId) return undefined;
  const read = states.get(referrerId);
  return read && { read, ...refereeChangeIn(changes, referrerId) };
}

/** The purchase's changes with the record written: the customer's, then the referrer's. */
export function recordedChanges(
  recorded: { change: StateChange; referrerChange?: StateChange },
  changes: readonly StateChange[],
  referrerId: string | undefined,
): StateChange[] {
  const customerId = recorded.change.customerId;
  const others = changes.filter(
    (each) =>
      each.customerId !== customerId &&
      (each.customerId !== referrerId || !recorded.referrerChange),
  );
  return [
    recorded.change,
    ...(recorded.referrerChange ? [recorded.referrerChange] : []),
    ...others,
  ];
}

/** C22/C24: what the record keeps of a subscription invoice's grant for its reversals. */
function purchaseGrantOf(
  grant: SubscriptionGrant,
  credits: number,
  referral: RedemptionOutcome | undefined,
): PurchaseGrant {
  const expiries = lotsOf(grant).map((lot) => lot.expiresAtMs);
  return {
    credits,
    amountPaid: grant.amountPaid ?? 0,
    expiresAtMs: Math.max(0, ...expiries),
    source: LotSource.subscription,
    subscriptionId: grant.subscriptionId,
    ...(grant.paymentIntentId !== undefined && { paymentIntentId: grant.paymentIntentId }),
    ...referralOfPurchase(grant.customerId, periodStartOf(grant), referral),
  };
}

/** C24: the redemption a first purchase made, as its record keeps it. */
export function referralOfPurchase(
  customerId: string,
  periodStartMs: number,
  referral: RedemptionOutcome | undefined,
): { referral?: ReferralOfPurchase } {
  if (referral?.result !== 'redeemed') return {};
  return {
    referral: {
      referrerId: referral.referrerId,
      bonus: referral.bonus,
      referrerBonus: referral.referrerBonus,
      referrerLotId: `referral#${customerId}`,
      referrerExpiresAtMs: lotExpiresAtMs(periodStartMs),
    },
  };
}

type GrantChange = {
  readonly change?: StateChange;
  readonly credits: number;
  readonly cancelled: number;
  readonly more: boolean;
  readonly ignored: boolean;
};

/**
 * The grant's change. An ended subscription grants nothing for after its end (C8: `ignored`
 * when nothing is left); its invoice was paid all the same, so it still counts as a purchase
 * for a later referral code (C10/C12/C16), whichever order Stripe delivers the end and the
 * invoice in. C19: the invoice's downgrade is recorded, and the subscription's cuts are planned
 * again in Stripe's order (lib/credits/downgrades.ts): stored lots that differ from the plan
 * are changed first, in transactions of their own when the invoice also has lots to create or
 * more of them differ than one holds; then the invoice's lots are created as the plan cuts
 * them, in several transactions when they are many.
 */
function grantChange(
  customer: CustomerState,
  grant: SubscriptionGrant,
  nowMs: number,
): GrantChange {
  const first = debtRepaidBeforeCuts(customer, grant, nowMs);
  if (!first) return plannedGrant(customer, grant, nowMs);
  const planned = plannedGrant(stateAfter(customer, first), grant, nowMs);
  return { ...planned, change: planned.change ? mergeChanges(first, planned.change) : first };
}

/**
 * C19 C22 C23: the invoice's months that a downgrade billed after a debt's reversal cuts
 * repay that debt before the cut plan runs (repaidBeforeCuts in cuts-after.ts), as in
 * Stripe's order; a change of facts and entries only, the months being granted less.
 */
function debtRepaidBeforeCuts(
  customer: CustomerState,
  grant: SubscriptionGrant,
  nowMs: number,
): StateChange | undefined {
  if (!customer.facts.debts) return undefined;
  const stored = customer.facts.subscriptions[grant.subscriptionId] ?? {};
  const subscription = withDowngrade(stored, grant);
  const known = new Set(customer.lots.map((lot) => lot.id));
  const endedAtMs = subscription.endedAtMs;
  const arriving = lotsOf(grant).filter(
    (lot) => !known.has(lot.id) && (endedAtMs === undefined || lot.grantedAtMs <= endedAtMs),
  );
  const entry = { id: `grant#${grant.invoiceId}#before-cut`, atMs: nowMs, ref: grant.invoiceId };
  const own = customer.lots.filter((lot) => lot.subscriptionId === grant.subscriptionId);
  const repaid = repaidBeforeCuts(customer.facts, subscription, own, arriving, entry, nowMs);
  return repaid && changeOf(customer, { drafts: repaid.drafts, facts: repaid.facts });
}

/** The grant's change, once debts the invoice's months repay before any cut are repaid. */
function plannedGrant(
  customer: CustomerState,
  grant: SubscriptionGrant,
  nowMs: number,
): GrantChange {
  const facts = invoiceFacts(customer.facts, grant);
  const subscription = withDowngrade(facts.subscriptions[grant.subscriptionId] ?? {}, grant);
  const endedAtMs = subscription.endedAtMs;
  // C7/C8: after its end a subscription grants nothing; a month of it that started by its end
  // was granted all the same, whichever of the two Stripe delivered first (C16).
  const planned = lotsOf(grant);
  const byEnd = planned.filter((lot) => endedAtMs === undefined || lot.grantedAtMs <= endedAtMs);
  const known = new Set(customer.lots.map((lot) => lot.id));
  const missing = planned.filter((lot) => !known.has(lot.id));
  const entryId = `grant#${grant.invoiceId}#downgrade`;
  const plan = reconcileCuts(customer.lots, {
    subscriptionId: grant.subscriptionId,
    facts: subscription,
    arriving: missing,
    entryId,
    nowMs,
    maxLots: MAX_LOTS_PER_DOWNGRADE,
    ...(customer.facts.debts && { debts: customer.facts.debts }),
  });
  const recorded =
    subscription === facts.subscriptions[grant.subscriptionId]
      ? facts
      : {
          ...facts,
          subscriptions: { ...facts.subscriptions, [grant.subscriptionId]: subscription },
        };
  const withPart = (part: DowngradeFacts) =>
    withSubscriptionPart(recorded, grant.subscriptionId, part);
  // C22: what the purchase granted, before cuts of downgrades that followed it in Stripe's order.
  const credits = byEnd.reduce((sum, lot) => sum + lot.granted, 0);
  const stored = plan.cancelled.length + plan.created.length + (plan.debts ? 1 : 0);
  const cuts = stored + plan.retakes.length;
  if (cuts > 0) {
    // Stored lots first, on their own: the invoice's lots follow in the command's next run.
    // So too when a reversal takes again a later downgrade's cuts (C19 C22): that downgrade
    // cuts elsewhere in the next run's plan, before the invoice is done.
    const changed = storedLotsCut(customer, plan, withPart(plan.part([])));
    let ofCuts = 0;
    const { change } = andThen(customer, changed, (after) => {
      const again = retaken(after, plan, nowMs);
      ofCuts = again.ofCuts;
      return again.change;
    });
    if (plan.more || missing.length > 0 || ofCuts > 0) {
      return { ...(change && { change }), credits, cancelled: 0, more: true, ignored: false };
    }
  }
  // Every lot after the end: nothing to grant, but what the end would have cancelled is kept.
  if (byEnd.length === 0 && planned.length > 0) {
    const next = withPart(withAfterEnd(subscription, plan.part([]), missing, nowMs));
    const change =
      next === customer.facts
        ? undefined
        : grantLots(customer, grantEntry(grant), [], { facts: next });
    return { ...(change && { change }), credits: 0, cancelled: 0, more: false, ignored: true };
  }
  const creatable = plan.arrivals.filter(
    (lot) => endedAtMs === undefined || lot.grantedAtMs <= endedAtMs,
  );
  const started = planned.some((lot) => known.has(lot.id));
  // Nothing left to create: the last transaction is being written by a concurrent delivery.
  if (started && creatable.length === 0) {
    throw new LotExistsError(customer.customerId, planned[0]?.id ?? '');
  }
  const chunk = creatable.slice(0, MAX_LOTS_PER_GRANT);
  const more = creatable.length > chunk.length;
  // Each transaction records the cuts of the lots it creates; the last, the lots after the end.
  const part = plan.part(more ? chunk : missing);
  const cutFacts = more ? part : withAfterEnd(subscription, part, missing, nowMs);
  // A later transaction of a long invoice has its own entry.
  const entry = started
    ? { ...grantEntry(grant), id: `grant#${grant.invoiceId}#${chunk[0]?.id}` }
    : grantEntry(grant);
  if (more) {
    const next = withSubscriptionPart(customer.facts, grant.subscriptionId, cutFacts);
    const change = grantLots(customer, entry, chunk, {
      nowMs,
      ...(next !== customer.facts && { facts: next }),
    });
    return { change, credits, cancelled: 0, more, ignored: false };
  }
  const storedCuts = stored > 0 ? storedLotsCut(customer, plan) : undefined;
  return lastTransaction(customer, grant, {
    entry,
    chunk,
    storedCuts,
    nowMs,
    credits,
    plan,
    facts: withRepaid(withPart(cutFacts), plan),
  });
}

/** The invoice's last transaction: its lots, the facts, and forfeits they show due (C8). */
function lastTransaction(
  customer: CustomerState,
  grant: SubscriptionGrant,
  last: {
    entry: ReturnType<typeof grantEntry>;
    chunk: readonly Lot[];
    storedCuts: StateChange | undefined;
    nowMs: number;
    credits: number;
    plan: CutChange;
    facts: CustomerFacts;
  },
): GrantChange {
  const nowMs = last.nowMs;
  const granted = andThen(customer, last.storedCuts, (after) =>
    grantLots(after, last.entry, last.chunk, { facts: activeFacts(last.facts, grant), nowMs }),
  );
  // C22: after the grant, whose facts are the plan's, the reversals take again what it cut.
  const active = andThen(
    customer,
    granted.change,
    (after) => retaken(after, last.plan, nowMs).change,
  );
  // C8: this subscription's new facts may show an earlier forfeit wrong (or due).
  const reconciled = andThen(
    customer,
    active.change,
    (after) => reconcileForfeits(after, nowMs).change,
  );
  return {
    ...(reconciled.change && { change: reconciled.change }),
    credits: last.credits,
    cancelled: last.plan.cutsOf(grant.invoiceId),
    more: false,
    ignored: false,
  };
}

/** C7/C8: the invoice's planned lots after the end become the end's cuts, with the rest. */
function withAfterEnd(
  subscription: SubscriptionFacts,
  part: DowngradeFacts,
  missing: readonly Lot[],
  nowMs: number,
): DowngradeFacts {
  const after = arrivalsAfterEnd({ ...subscription, ...part }, missing, nowMs);
  return after.endCuts ? { ...part, endCuts: after.endCuts } : part;
}

function fingerprinted({ periodEndMs: _periodEndMs, ...proration }: ProrationGrant) {
  return proration;
}

/** The invoice's lots: each plain line month by month (C20), and a positive proration (C19). */
function lotsOf(grant: SubscriptionGrant): Lot[] {
  const lineLots = grant.lines.flatMap((line) =>
    monthlyLots({
      idPrefix: `${grant.invoiceId}#${line.lineId}`,
      source: LotSource.subscription,
      totalCredits: line.credits * (line.months ?? 1),
      months: line.months ?? 1,
      startMs: line.periodStartMs,
      ref: grant.invoiceId,
      subscriptionId: grant.subscriptionId,
      purchasedAtMs: grant.invoiceCreatedMs,
    }),
  );
  const proration = grant.proration;
  if (!proration || proration.credits <= 0) return lineLots;
  const topUp = monthlyLots({
    idPrefix: topUpIdPrefix(grant.invoiceId),
    source: LotSource.subscription,
    totalCredits: proration.credits,
    months: proration.months,
    startMs: proration.periodStartMs,
    ref: grant.invoiceId,
    subscriptionId: grant.subscriptionId,
    purchasedAtMs: grant.invoiceCreatedMs,
    topUp: true,
  });
  return [...lineLots, ...topUp];
}

function grantEntry(grant: SubscriptionGrant) {
  return {
    id: `grant#${grant.invoiceId}`,
    type: EntryType.grant,
    atMs: periodStartOf(grant),
    ref: grant.invoiceId,
  };
}

/** The earliest period start the invoice grants for: its lots' and its bonuses' grant time. */
export function periodStartOf(grant: SubscriptionGrant): number {
  const starts = [
    ...grant.lines.map((line) => line.periodStartMs),
    ...(grant.proration ? [grant.proration.periodStartMs] : []),
  ];
  return Math.min(...starts);
}

/** C10/C18: whether the invoice is a purchase (money paid; absent means paid). */
export function isPurchase(grant: SubscriptionGrant): boolean {
  return grant.amountPaid === undefined || grant.amountPaid > 0;
}

/**
 * The facts an invoice leaves, whatever it grants: the customer's earliest purchase (C10), and
 * for its subscription the earliest invoice with money paid or, for a $0 first invoice, when
 * it was free (a trial whose first paid invoice may still redeem a code).
 */
function invoiceFacts(facts: CustomerFacts, grant: SubscriptionGrant): CustomerFacts {
  const subscription = facts.subscriptions[grant.subscriptionId] ?? {};
  const next: SubscriptionFacts = isPurchase(grant)
    ? {
        ...subscription,
        firstPaidMs: Math.min(subscription.firstPaidMs ?? Infinity, grant.invoiceCreatedMs),
      }
    : (grant.billingReason ?? 'subscription_create') === 'subscription_create'
      ? { ...subscription, freeStartMs: grant.invoiceCreatedMs }
      : subscription;
  const first = facts.firstPurchase;
  const earliest = isPurchase(grant) && (!first || grant.invoiceCreatedMs < first.atMs);
  if (next === subscription && !earliest) return facts;
  return {
    ...facts,
    ...(earliest && { firstPurchase: { id: grant.invoiceId, atMs: grant.invoiceCreatedMs } }),
    subscriptions: { ...facts.subscriptions, [grant.subscriptionId]: next },
  };
}

/** C7: the subscription is active from the start of the earliest period it was granted for. */
function activeFacts(facts: CustomerFacts, grant: SubscriptionGrant): CustomerFacts {
  const subscription = facts.subscriptions[grant.subscriptionId] ?? {};
  const startMs = periodStartOf(grant);
  const since = Math.min(subscription.activeSinceMs ?? startMs, startMs);
  return {
    ...facts,
    subscriptions: {
      ...facts.subscriptions,
      [grant.subscriptionId]: { ...subscription, activeSinceMs: since },
    },
  };
}

/**
 * C10: an invoice redeems the subscription's code when it is that subscription's first with
 * money paid: its first invoice, or the first paid one after a $0 start (a trial). A renewal
 * carries the code too and never redeems; a $0 invoice leaves the code waiting.
 */
function redemptionFor(
  states: ReadonlyMap<string, CustomerState>,
  customer: CustomerState,
  grant: SubscriptionGrant,
  lookup: ReferralLookup,
) {
  if (!grant.referral) return null;
  if (!isPurchase(grant)) {
    return { outcome: { result: 'not_a_purchase' as const }, changes: [], state: customer };
  }
  const billingReason = grant.billingReason ?? 'subscription_create';
  const before = states.get(grant.customerId)?.facts.subscriptions[grant.subscriptionId] ?? {};
  if (
    billingReason !== 'subscription_create' &&
    !firstPaidOfItsSubscription(before, grant, lookup.firstPaid)
  ) {
    return {
      outcome: { result: 'not_first_purchase' as const, billingReason },
      changes: [],
      state: customer,
    };
  }
  return decideRedemption(states, customer, {
    purchaseId: grant.invoiceId,
    code: lookup.code,
    referrerId: lookup.referrerId,
    // C11: the base is the first month's credits of what the invoice grants.
    purchaseCredits: firstMonthCredits(grant),
    periodStartMs: periodStartOf(grant),
    nowMs: lookup.nowMs,
    purchasedAtMs: grant.invoiceCreatedMs,
    earlierPurchase: lookup.earlierPurchase,
  });
}

/**
 * C10/C18: whether a paid renewal is its subscription's first invoice with money paid, i.e. the
 * subscription began free and no renewal before it was paid. Known when an earlier paid one was
 * delivered; else Stripe is asked from inside the decision (`firstPaid`, once per command, no
 * second read), so that neither the redemption nor the reason it is refused depends on which
 * invoice was delivered first (C16). Steady renewals never ask: their subscription's first
 * paid invoice is known.
 */
function firstPaidOfItsSubscription(
  before: SubscriptionFacts,
  grant: SubscriptionGrant,
  firstPaid: FirstPaidLookup,
): boolean {
  if (before.firstPaidMs !== undefined && before.firstPaidMs < grant.invoiceCreatedMs) return false;
  // A known $0 start does not settle it: a paid renewal between the two may not be delivered
  // yet (two renewals delivered together would each redeem first, dated by whichever won). It
  // is only the answer when Stripe cannot be asked.
  return firstPaid({
    subscriptionId: grant.subscriptionId,
    invoiceId: grant.invoiceId,
    invoiceCreatedMs: grant.invoiceCreatedMs,
    localGuess: before.freeStartMs !== undefined,
  });
}

/** C11: each line's first month, and a top-up's first monthly lot (C19, C20). */
function firstMonthCredits(grant: SubscriptionGrant): number {
  const lines = grant.lines.reduce((sum, line) => sum + line.credits, 0);
  const topUp = lotsOf({ ...grant, lines: [] })[0]?.granted ?? 0;
  return lines + topUp;
}

export type EndOutcome = { readonly result: 'ended'; readonly forfeited: number };

/**
 * C7: a subscription ended at `endedAtMs`: its lots not yet granted are cancelled, and when it
 * leaves the customer with no active subscription every credit granted up to then is
 * forfeited. The end is keyed by subscription id, so `customer.subscription.deleted` and an
 * `updated` to `canceled` settle it once. An end that changes more lots than one transaction
 * holds writes them in several, and its fact with the last.
 */
export function endSubscription(
  deps: LedgerDeps,
  end: { customerId: string; subscriptionId: string; endedAtMs: number },
  options: RunOptions = {},
): Promise<CommandResult<EndOutcome>> {
  return runCommand<EndOutcome>(
    deps,
    {
      label: `end of ${end.subscriptionId}`,
      customerIds: [end.customerId],
      fact: {
        customerId: end.customerId,
        key: `end#${end.subscriptionId}`,
        fingerprint: fingerprint({ endedAtMs: end.endedAtMs }),
      },
      decide(states) {
        const read = stateIn(states, end.customerId);
        const at = nowMs(deps);
        const settled = settleByTime(read, at);
        // C20: lots come due are released in a transaction of their own first, since the end's
        // forfeit may take them and one transaction writes a lot once; then it runs again.
        if (settled.change && settled.change.released.length > 0) {
          const outcome = { result: 'ended' as const, forfeited: 0 };
          return { kind: 'apply', changes: [settled.change], outcome, final: false };
        }
        const rule = {
          id: end.subscriptionId,
          endedAtMs: end.endedAtMs,
          entryId: `end#${end.subscriptionId}`,
          nowMs: at,
        };
        // More months to cancel than one transaction holds: a batch of them first, on its own
        // (the end recorded with it, so a grant meanwhile is cut too); then it runs again.
        if (lotsAfterEnd(read, rule).length > MAX_LOTS_PER_END) {
          const outcome = { result: 'ended' as const, forfeited: 0 };
          const batch = endRule(read, rule, MAX_LOTS_PER_END);
          return { kind: 'apply', changes: [batch], outcome, final: false };
        }
        const ended = andThen(read, settled.change, (after) => endRule(after, rule));
        const reconciliation = reconcileForfeits(ended.state, at);
        const all = andThen(read, ended.change, () => reconciliation.change);
        const forfeited = forfeitedBy(all.state, end.subscriptionId);
        return {
          kind: 'apply',
          changes: all.change ? [all.change] : [],
          outcome: { result: 'ended', forfeited },
          final: !reconciliation.more,
        };
      },
    },
    options,
  );
}

/** Everything a subscription's end has taken so far, across its transactions. */
function forfeitedBy(state: CustomerState, subscriptionId: string): number {
  return state.lots.reduce(
    (sum, lot) => (lot.forfeit?.by === subscriptionId ? sum + lot.forfeit.credits : sum),
    0,
  );
}

import { spendableAt } from '../credits/holds';
import { LotSource, newLot } from '../credits/lots';
import {
  normalizeReferralCode,
  type Redemption,
  type RejectionReason,
  redeem,
  rejectionOf,
} from '../credits/referral';
import {
  afterPending,
  type CustomerFacts,
  type CustomerState,
  EntryType,
  endSubscription as endRule,
  grantLots,
  LotExistsError,
  mergeChanges,
  type StateChange,
  settlePendingForfeits,
  stateAfter,
} from '../credits/state';
import { ownerOfCode } from '../store/codes';
import {
  type CommandResult,
  CommandStatus,
  type Decision,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import { fingerprint, type LedgerDeps, nowMs } from './deps';

/** One subscription line of a paid invoice: its credits already multiplied by quantity (C2). */
export type GrantLine = {
  readonly lineId: string;
  readonly credits: number;
  readonly periodStartMs: number;
};

export type SubscriptionGrant = {
  readonly customerId: string;
  readonly invoiceId: string;
  readonly subscriptionId: string;
  readonly lines: readonly GrantLine[];
  /** When Stripe created the invoice: orders a customer's paid invoices (C10). */
  readonly invoiceCreatedMs: number;
  /** C10: a referral code the invoice carries, as typed, and the invoice's billing reason. */
  readonly referral?: { readonly code: string; readonly billingReason: string };
};

/** What became of a referral code an invoice carried (C10-C12). */
export type RedemptionOutcome =
  | {
      readonly result: 'redeemed';
      readonly referrerId: string;
      readonly bonus: number;
      readonly referrerBonus: number;
    }
  | { readonly result: 'rejected'; readonly reason: RejectionReason }
  /** A renewal carries the subscription's code too, but only a first invoice redeems. */
  | { readonly result: 'not_first_purchase'; readonly billingReason: string };

export type GrantOutcome = (
  | { readonly result: 'granted'; readonly credits: number; readonly balance: number }
  | { readonly result: 'ignored'; readonly reason: 'subscription_ended' }
) & { readonly referral?: RedemptionOutcome };

/**
 * C3: a paid subscription invoice grants its period's credits once, keyed by invoice id; each
 * line becomes a lot granted at its period start (C4). C8: an ended subscription grants nothing,
 * and that is recorded so that the invoice stays settled. C10-C12: a referral code on the
 * customer's first invoice is redeemed in the same transaction, so the grant, both bonuses and
 * the customer's one redemption are written together or not at all.
 */
export async function grantSubscriptionInvoice(
  deps: LedgerDeps,
  grant: SubscriptionGrant,
  options: RunOptions = {},
): Promise<CommandResult<GrantOutcome>> {
  const code = grant.referral ? normalizeReferralCode(grant.referral.code) : null;
  const redeems = grant.referral?.billingReason === 'subscription_create';
  const referrerId = code && redeems ? await ownerOfCode(deps, code, options.budget) : undefined;
  const result = await runCommand<GrantOutcome>(
    deps,
    {
      label: `grant of ${grant.invoiceId}`,
      customerIds:
        referrerId && referrerId !== grant.customerId
          ? [grant.customerId, referrerId]
          : [grant.customerId],
      fact: {
        customerId: grant.customerId,
        key: `grant#${grant.invoiceId}`,
        fingerprint: fingerprint({
          subscriptionId: grant.subscriptionId,
          lines: grant.lines,
          ...(grant.referral && { code: code ?? grant.referral.code }),
        }),
      },
      decide: (states) => decideGrant(states, grant, { code, referrerId, nowMs: nowMs(deps) }),
    },
    options,
  );
  // Remembering that an ignored invoice was paid (ignoreEnded) is bookkeeping, not a grant.
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
};

function decideGrant(
  states: ReadonlyMap<string, CustomerState>,
  grant: SubscriptionGrant,
  lookup: ReferralLookup,
): Decision<GrantOutcome> {
  // Forfeits the rules imply but nobody wrote go with the grant, which writes the account.
  const settled = settlePendingForfeits(stateIn(states, grant.customerId));
  const customer = settled.state;
  const granted = grantChange(customer, grant);
  const after = granted.change ? stateAfter(customer, granted.change) : customer;
  // The referral goes with the grant's last transaction, which also writes the fact.
  const referral = granted.more ? null : decideReferral(states, after, grant, lookup);
  const own = granted.change ? afterPending(settled.change, granted.change) : settled.change;
  const changes = combine(own, referral?.changes ?? []);
  const outcome: GrantOutcome = {
    ...(!granted.ignored
      ? {
          result: 'granted' as const,
          credits: grantedCredits(grant),
          // C25: holds lapsed by now count as back in their lots (lib/credits/holds.ts).
          balance: spendableAt(after, lookup.nowMs),
        }
      : { result: 'ignored' as const, reason: 'subscription_ended' as const }),
    ...(referral && { referral: referral.outcome }),
  };
  if (changes.length > 0) return { kind: 'apply', changes, outcome, final: !granted.more };
  return { kind: 'record', outcome };
}

/** How many lots one grant writes per transaction (an invoice may have hundreds of lines). */
export const MAX_LOTS_PER_GRANT = 40;

/**
 * The grant's change. An ended subscription grants nothing (C8: `ignored`); its invoice was
 * paid all the same, so it still makes the customer "not new" for a later referral code
 * (C10/C12/C16), whichever order Stripe delivers the end and the invoice in.
 * An invoice with more lines than one transaction holds is granted in several, the first of
 * which records the facts; `more` says another must follow.
 */
function grantChange(
  customer: CustomerState,
  grant: SubscriptionGrant,
): { change?: StateChange; more: boolean; ignored: boolean } {
  const facts = paidInvoiceFacts(customer, grant);
  if (customer.facts.subscriptions[grant.subscriptionId]?.endedAtMs !== undefined) {
    if (facts === customer.facts) return { more: false, ignored: true };
    const change = grantLots(customer, grantEntry(grant), [], { facts });
    return { change: { ...change, entries: [] }, more: false, ignored: true };
  }
  const lots = grant.lines.map((line) =>
    newLot({
      id: `${grant.invoiceId}#${line.lineId}`,
      source: LotSource.subscription,
      credits: line.credits,
      grantedAtMs: line.periodStartMs,
      ref: grant.invoiceId,
    }),
  );
  const known = new Set(customer.lots.map((lot) => lot.id));
  const missing = lots.filter((lot) => !known.has(lot.id));
  // Nothing missing: the last transaction is being written by a concurrent delivery.
  if (missing.length === 0) throw new LotExistsError(customer.customerId, lots[0]?.id ?? '');
  const chunk = missing.slice(0, MAX_LOTS_PER_GRANT);
  const more = missing.length > chunk.length;
  if (missing.length < lots.length) {
    // A later transaction of a long invoice: its own entry, the facts already written.
    const entry = { ...grantEntry(grant), id: `grant#${grant.invoiceId}#${chunk[0]?.id}` };
    return { change: grantLots(customer, entry, chunk), more, ignored: false };
  }
  const startMs = periodStartOf(grant);
  const subscription = customer.facts.subscriptions[grant.subscriptionId] ?? {};
  const since = Math.min(subscription.activeSinceMs ?? startMs, startMs);
  const change = grantLots(customer, grantEntry(grant), chunk, {
    facts: {
      ...facts,
      subscriptions: {
        ...facts.subscriptions,
        [grant.subscriptionId]: { ...subscription, activeSinceMs: since },
      },
    },
  });
  return { change, more, ignored: false };
}

function grantedCredits(grant: SubscriptionGrant): number {
  return grant.lines.reduce((sum, line) => sum + line.credits, 0);
}

function grantEntry(grant: SubscriptionGrant) {
  return {
    id: `grant#${grant.invoiceId}`,
    type: EntryType.grant,
    atMs: periodStartOf(grant),
    ref: grant.invoiceId,
  };
}

function periodStartOf(grant: SubscriptionGrant): number {
  return Math.min(...grant.lines.map((line) => line.periodStartMs));
}

/** The facts with this invoice as the earliest paid one, when it is (C10). */
function paidInvoiceFacts(customer: CustomerState, grant: SubscriptionGrant): CustomerFacts {
  const first = customer.facts.firstPaidInvoice;
  if (first && first.atMs <= grant.invoiceCreatedMs) return customer.facts;
  return {
    ...customer.facts,
    firstPaidInvoice: { id: grant.invoiceId, atMs: grant.invoiceCreatedMs },
  };
}

/** A grant followed by the redemption's changes: one change per customer. */
function combine(first: StateChange | undefined, rest: readonly StateChange[]): StateChange[] {
  const [own, ...others] = rest;
  if (!first) return [...rest];
  if (own && own.customerId === first.customerId) return [mergeChanges(first, own), ...others];
  return [first, ...rest];
}

/**
 * C10-C12 on the state after the grant: a code on a first invoice redeems once, with both
 * bonuses; a rejection is recorded with its reason in the invoice's fact and gives nothing.
 */
function decideReferral(
  states: ReadonlyMap<string, CustomerState>,
  customer: CustomerState,
  grant: SubscriptionGrant,
  lookup: ReferralLookup,
): { outcome: RedemptionOutcome; changes: StateChange[] } | null {
  if (!grant.referral) return null;
  if (grant.referral.billingReason !== 'subscription_create') {
    return {
      outcome: { result: 'not_first_purchase', billingReason: grant.referral.billingReason },
      changes: [],
    };
  }
  const rejection = rejectionOf(
    customer,
    lookup.code ? lookup.referrerId : undefined,
    grant.invoiceId,
  );
  if (rejection || !lookup.code || !lookup.referrerId) {
    return { outcome: { result: 'rejected', reason: rejection ?? 'unknown_code' }, changes: [] };
  }
  const redemption: Redemption = {
    invoiceId: grant.invoiceId,
    code: lookup.code,
    purchaseCredits: grantedCredits(grant),
    periodStartMs: periodStartOf(grant),
  };
  const redeemed = redeem(customer, stateIn(states, lookup.referrerId), redemption, lookup.nowMs);
  return {
    outcome: {
      result: 'redeemed',
      referrerId: lookup.referrerId,
      bonus: redeemed.bonus,
      referrerBonus: redeemed.referrer ? redeemed.bonus : 0,
    },
    changes: [redeemed.referee, ...(redeemed.referrer ? [redeemed.referrer] : [])],
  };
}

export type EndOutcome = { readonly result: 'ended'; readonly forfeited: number };

/**
 * C7: a subscription ended at `endedAtMs` forfeits every credit granted up to then. The end is
 * keyed by subscription id, so `customer.subscription.deleted` and an `updated` to `canceled`
 * for the same subscription settle it once. An end that forfeits more lots than one
 * transaction holds writes them in several, and its fact with the last.
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
        // Forfeits of earlier ends that nobody wrote come first, at their own ends' times.
        const { state, change: pending } = settlePendingForfeits(stateIn(states, end.customerId));
        const { change, more } = endRule(state, {
          id: end.subscriptionId,
          endedAtMs: end.endedAtMs,
          entryId: `end#${end.subscriptionId}`,
        });
        const forfeited = forfeitedBy(stateAfter(state, change), end.subscriptionId);
        return {
          kind: 'apply',
          changes: [afterPending(pending, change)],
          outcome: { result: 'ended', forfeited },
          final: !more,
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

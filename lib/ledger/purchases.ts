import { grantLots, settleByTime } from '../credits/changes';
import { effectiveLots } from '../credits/forfeits';
import { LotSource, newLot, spendableBalance } from '../credits/lots';
import { normalizeReferralCode } from '../credits/referral';
import { andThen, type CustomerFacts, type CustomerState, EntryType } from '../credits/state';
import { ownerOfCode } from '../store/codes';
import {
  type CommandResult,
  type Decision,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import { type EarlierPurchaseLookup, earlierPurchaseLookup } from './customer-history';
import { fingerprint, type LedgerDeps, nowMs } from './deps';
import { decideRedemption, type RedemptionOutcome, withRedemption } from './redemptions';
import { expectNoRecord, withPurchaseRecord } from './reversals';
import { recordedChanges, refereeChangeIn, referralOfPurchase, referrerOf } from './subscriptions';

/** C21: a pack lot lives this long after its purchase, spent after subscription credits (C5). */
export const PACK_LIFETIME_MONTHS = 12;

/** One line of a pack purchase: its price's credits times its quantity (C2, C21). */
export type PackLine = { readonly lineId: string; readonly credits: number };

export type PackPurchase = {
  readonly customerId: string;
  /** The natural key: the invoice id when there is one, else the Checkout Session's (C21). */
  readonly purchaseId: string;
  readonly lines: readonly PackLine[];
  /** The invoice's paid_at, or the created of the event that completed the Checkout Session. */
  readonly purchasedAtMs: number;
  /**
   * C10/C16: the purchase's time among the customer's purchases, as Stripe's lists give it
   * (lib/stripe/customer-history.ts), so that who was new does not depend on which purchase is
   * delivered first: a Checkout Session without an invoice at its creation (the one time Stripe
   * keeps on a Session, before an asynchronous payment), else `purchasedAtMs`.
   */
  readonly listedAtMs?: number;
  /** C10: money paid, in minor units; only a pack above zero is a purchase for referrals. */
  readonly amountPaid: number;
  /** C24: the payment a refund names, for a pack bought without an invoice. */
  readonly paymentIntentId?: string;
  readonly referral?: { readonly code: string };
};

export type PackOutcome = {
  readonly result: 'granted';
  readonly credits: number;
  readonly balance: number;
  readonly referral?: RedemptionOutcome;
};

/**
 * C21: a one-time credit pack grants `credits x quantity` of its lines as one lot at the
 * purchase time, expiring PACK_LIFETIME_MONTHS later, once per purchase: the Checkout event
 * and the invoice event of one purchase share the key `grant#<invoice id>`. A pack is never
 * forfeited (C7). C10-C12: a pack above zero can be the customer's first purchase, and then
 * redeems the referral code of its Checkout Session, with the pack as the bonus base (C11).
 */
export async function grantPack(
  deps: LedgerDeps,
  pack: PackPurchase,
  options: RunOptions = {},
): Promise<CommandResult<PackOutcome>> {
  const code = pack.referral ? normalizeReferralCode(pack.referral.code) : null;
  const referrerId = code ? await ownerOfCode(deps, code, options.budget) : undefined;
  const earlierPurchase = earlierPurchaseLookup(deps.customerHistory);
  return runCommand<PackOutcome>(
    deps,
    {
      label: `pack ${pack.purchaseId}`,
      customerIds:
        referrerId && referrerId !== pack.customerId
          ? [pack.customerId, referrerId]
          : [pack.customerId],
      purchases: [expectNoRecord(pack.customerId, pack.purchaseId)],
      fact: {
        customerId: pack.customerId,
        key: `grant#${pack.purchaseId}`,
        // The two events of one purchase carry different times: the lines and money say it.
        fingerprint: fingerprint({
          credits: creditsOf(pack),
          amountPaid: pack.amountPaid,
          ...(pack.referral && { code: code ?? pack.referral.code }),
        }),
      },
      decide: (states) =>
        decidePack(states, pack, { code, referrerId, nowMs: nowMs(deps), earlierPurchase }),
    },
    options,
  );
}

function creditsOf(pack: PackPurchase): number {
  return pack.lines.reduce((sum, line) => sum + line.credits, 0);
}

function decidePack(
  states: ReadonlyMap<string, CustomerState>,
  pack: PackPurchase,
  lookup: {
    code: string | null;
    referrerId: string | undefined;
    nowMs: number;
    earlierPurchase: EarlierPurchaseLookup;
  },
): Decision<PackOutcome> {
  const read = stateIn(states, pack.customerId);
  const settled = settleByTime(read, lookup.nowMs);
  const credits = creditsOf(pack);
  const lot = newLot({
    id: `pack#${pack.purchaseId}`,
    source: LotSource.pack,
    credits,
    grantedAtMs: pack.purchasedAtMs,
    ref: pack.purchaseId,
    lifetimeMonths: PACK_LIFETIME_MONTHS,
  });
  const entry = {
    id: `grant#${pack.purchaseId}`,
    type: EntryType.grant,
    atMs: pack.purchasedAtMs,
    ref: pack.purchaseId,
    reason: 'credit pack',
  };
  const own = andThen(read, settled.change, (after) =>
    grantLots(after, entry, credits > 0 ? [lot] : [], {
      facts: purchaseFacts(after.facts, pack),
      nowMs: lookup.nowMs,
    }),
  );
  const referral =
    pack.referral && pack.amountPaid > 0
      ? decideRedemption(states, own.state, {
          purchaseId: pack.purchaseId,
          code: lookup.code,
          referrerId: lookup.referrerId,
          purchaseCredits: credits,
          periodStartMs: pack.purchasedAtMs,
          nowMs: lookup.nowMs,
          purchasedAtMs: listedAt(pack),
          earlierPurchase: lookup.earlierPurchase,
        })
      : pack.referral
        ? { outcome: { result: 'not_a_purchase' as const }, changes: [], state: own.state }
        : null;
  const redeemed = withRedemption(own.change, referral?.changes ?? []);
  // C22: the record of what the pack granted, with reversals that arrived before it (C16).
  const recorded = withPurchaseRecord(
    read,
    { state: referral?.state ?? own.state, ...refereeChangeIn(redeemed, pack.customerId) },
    pack.purchaseId,
    {
      credits,
      amountPaid: pack.amountPaid,
      expiresAtMs: lot.expiresAtMs,
      source: LotSource.pack,
      ...(pack.paymentIntentId !== undefined && { paymentIntentId: pack.paymentIntentId }),
      ...referralOfPurchase(pack.customerId, pack.purchasedAtMs, referral?.outcome),
    },
    referrerOf(states, redeemed, { customerId: pack.customerId, referrerId: lookup.referrerId }),
  );
  const outcome: PackOutcome = {
    result: 'granted',
    credits,
    balance: spendableBalance(effectiveLots(recorded.state, lookup.nowMs), lookup.nowMs),
    ...(referral && { referral: referral.outcome }),
  };
  const changes = recordedChanges(recorded, redeemed, lookup.referrerId);
  return { kind: 'apply', changes, outcome };
}

/** C10: a pack above zero is a purchase; the earliest purchase decides who is new. */
function purchaseFacts(facts: CustomerFacts, pack: PackPurchase): CustomerFacts {
  const first = facts.firstPurchase;
  const atMs = listedAt(pack);
  if (pack.amountPaid <= 0 || (first && first.atMs <= atMs)) return facts;
  return { ...facts, firstPurchase: { id: pack.purchaseId, atMs } };
}

function listedAt(pack: PackPurchase): number {
  return pack.listedAtMs ?? pack.purchasedAtMs;
}

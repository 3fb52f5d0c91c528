import { CreditsModel, type ModelLot, monthsSpanned } from './model';

/**
 * The reference model of the system-level model-based test (test/property/delivery-model.test.ts)
 * at the level of Stripe facts: DOMAIN.md's rules read on top of the plain ledger model of
 * model.ts, free of DynamoDB and of lib/.
 */

/** A paid subscription invoice, as the model reads it: ids, Stripe times, the typed code. */
export type ModelInvoice = {
  customerId: string;
  invoiceId: string;
  subscriptionId: string;
  billingReason: 'subscription_create' | 'subscription_cycle';
  createdMs: number;
  /** Cents paid: 0 for a trial or a 100% coupon (C18). */
  amountPaid: number;
  lines: {
    lineId: string;
    priceId: string;
    quantity: number;
    periodStartMs: number;
    periodEndMs: number;
    /** Credits not from the price: a C19 top-up's first month and total (delivery-upgrades). */
    credits?: { month: number; total: number };
  }[];
  referralCode: string | null;
};

export type LotView = {
  source: 'subscription' | 'referral_bonus' | 'adjustment' | 'pack';
  granted: number;
  remaining: number;
  grantedAt: string;
  expiresAt: string;
};

type Person = {
  /** C10/C12: the earliest purchase (money paid) received, by Stripe's creation time. */
  firstPurchase?: { invoiceId: string; createdMs: number };
  /** C10/C18: the subscriptions with an invoice with money paid received. */
  purchasedOn: Set<string>;
  /** C12: the one redemption (the invoice and code it took), if any. */
  referral?: string;
  /** Subscription id -> the earliest period start granted for it; deleted when it ends. */
  active: Map<string, number>;
  ended: Set<string>;
};

/**
 * DOMAIN.md's rules applied to Stripe facts, each once:
 * - C2/C3: a paid invoice's line grants price credits x quantity, once per invoice id, whichever
 *   event type carries it; C8 an ended subscription grants nothing (model.ts).
 * - C7: an end forfeits what was granted up to it (model.ts); payment trouble changes nothing.
 * - C9: a code belongs to one customer; lookup ignores case and dashes.
 * - C10-C12: a subscription's first invoice with money paid (its first invoice, or the first
 *   renewal after a $0 trial, C18) carrying a code is rejected (unknown code, own code, not
 *   the customer's first purchase) or, once ever, redeemed, giving the new customer half the
 *   purchase (rounded down) as a lot granted at the purchase's period start, and the referrer
 *   the same, whatever their own subscription status. Any other invoice carrying the
 *   subscription's code settles nothing. "Not new" means a purchase (money paid) created
 *   earlier was received, or Stripe lists one (delivered or not) at or before it, the same
 *   second counting (Stripe cannot order the two), whatever became of its grant.
 * - C20: a line over several months grants a lot a month (model.ts).
 * - C21: a paid manual invoice for a pack grants one lot, once, and is a purchase (C10).
 * - C18: a $0 invoice grants its lines like any other paid invoice, and is no purchase.
 */
export class DeliveryModel {
  readonly ledger = new CreditsModel();
  private readonly people = new Map<string, Person>();
  /** Canonical code -> its owner. */
  private readonly owners = new Map<string, string>();
  /** C24: invoice id -> the referral bonus its redemption gave, and to which referrer. */
  readonly bonuses = new Map<string, { bonus: number; referrerId: string }>();
  /**
   * C10/C16: Stripe's record of each customer's purchases (money paid), delivered or not:
   * purchase id -> its time in Stripe's lists, in whole seconds.
   */
  private readonly listed = new Map<string, Map<string, number>>();

  constructor(private readonly planCredits: Readonly<Record<string, number>>) {}

  private person(customerId: string): Person {
    let found = this.people.get(customerId);
    if (!found) {
      found = { active: new Map(), ended: new Set(), purchasedOn: new Set() };
      this.people.set(customerId, found);
    }
    return found;
  }

  /** C9: case, spaces and dashes do not matter. */
  static canonicalCode(typed: string): string {
    return typed.toUpperCase().replace(/[\s-]/g, '');
  }

  registerCode(customerId: string, code: string): void {
    this.owners.set(DeliveryModel.canonicalCode(code), customerId);
  }

  /** C10/C16: Stripe now lists the purchase, made at `atSeconds`, whether delivered or not. */
  listedByStripe(customerId: string, purchaseId: string, atSeconds: number): void {
    let purchases = this.listed.get(customerId);
    if (!purchases) {
      purchases = new Map();
      this.listed.set(customerId, purchases);
    }
    purchases.set(purchaseId, Math.min(purchases.get(purchaseId) ?? atSeconds, atSeconds));
  }

  /**
   * C10: whether Stripe lists another purchase of the customer at or before `atMs`. Stripe's
   * times are whole seconds, so one in the same second, made before or after, cannot be told
   * apart from an earlier one: neither purchase is the customer's first for certain.
   */
  private purchasedBefore(customerId: string, purchaseId: string, atMs: number): boolean {
    const upTo = Math.floor(atMs / 1000);
    for (const [id, atSeconds] of this.listed.get(customerId) ?? []) {
      if (id !== purchaseId && atSeconds <= upTo) return true;
    }
    return false;
  }

  invoicePaid(invoice: ModelInvoice, nowMs: number): void {
    const person = this.person(invoice.customerId);
    const lines = invoice.lines.map((line) => ({
      lineId: line.lineId,
      credits:
        line.credits?.month ?? (this.planCredits[line.priceId] ?? Number.NaN) * line.quantity,
      ...(line.credits && { totalCredits: line.credits.total }),
      periodStartMs: line.periodStartMs,
      months: monthsSpanned(line.periodStartMs, line.periodEndMs),
    }));
    const result = this.ledger.grant(
      invoice.customerId,
      { invoiceId: invoice.invoiceId, subscriptionId: invoice.subscriptionId, lines },
      nowMs,
    );
    const startMs = Math.min(...lines.map((line) => line.periodStartMs));
    if (result.status === 'applied') {
      const since = person.active.get(invoice.subscriptionId) ?? startMs;
      person.active.set(invoice.subscriptionId, Math.min(since, startMs));
    }
    // C10/C18: a $0 invoice is no purchase; the subscription's first with money paid redeems.
    if (invoice.amountPaid <= 0) return;
    const firstOnSubscription = !person.purchasedOn.has(invoice.subscriptionId);
    person.purchasedOn.add(invoice.subscriptionId);
    if (!person.firstPurchase || invoice.createdMs < person.firstPurchase.createdMs) {
      person.firstPurchase = { invoiceId: invoice.invoiceId, createdMs: invoice.createdMs };
    }
    if (invoice.referralCode === null || !firstOnSubscription) return;
    // C11: for a line over several months (C20) the base is its first month.
    const credits = lines.reduce((sum, line) => sum + line.credits, 0);
    this.redeem(invoice, credits, startMs, nowMs);
  }

  /** `invoice.createdMs` (else `startMs`): the purchase's time, as C10 orders purchases. */
  protected redeem(
    invoice: Pick<ModelInvoice, 'customerId' | 'invoiceId' | 'referralCode'> & {
      createdMs?: number;
    },
    purchaseCredits: number,
    startMs: number,
    nowMs: number,
  ): void {
    const person = this.person(invoice.customerId);
    if (person.referral !== undefined) return; // C12: at most once, ever
    const code = DeliveryModel.canonicalCode(invoice.referralCode ?? '');
    const referrerId = this.owners.get(code);
    // A rejected code gives nothing and uses nothing up: only a redemption is once ever.
    if (referrerId === undefined || referrerId === invoice.customerId) return;
    if (person.firstPurchase && person.firstPurchase.invoiceId !== invoice.invoiceId) return;
    const atMs = invoice.createdMs ?? startMs;
    if (this.purchasedBefore(invoice.customerId, invoice.invoiceId, atMs)) return;
    person.referral = `${invoice.invoiceId} ${code}`;
    const bonus = Math.floor(purchaseCredits / 2);
    if (bonus === 0) return;
    this.bonuses.set(invoice.invoiceId, { bonus, referrerId });
    this.ledger.addLot(
      invoice.customerId,
      { id: `referral#${invoice.invoiceId}`, credits: bonus, grantedAtMs: startMs },
      nowMs,
    );
    // C12: the referrer gets the bonus whatever their own subscription status; it is then an
    // ordinary lot, which an end that covers it forfeits (C7/C8), in either delivery order.
    this.ledger.addLot(
      referrerId,
      { id: `referral#${invoice.customerId}`, credits: bonus, grantedAtMs: startMs },
      nowMs,
    );
  }

  /**
   * C21: a pack grants `credits x quantity` as one lot at its purchase time, once per invoice,
   * living 12 months and forfeited by no end (model.ts); it is a purchase for C10, at
   * `listedAtMs` (a Checkout Session's creation) or else its payment.
   */
  packPaid(
    pack: {
      customerId: string;
      invoiceId: string;
      priceId: string;
      quantity: number;
      paidAtMs: number;
      listedAtMs?: number;
      amountPaid: number;
    },
    nowMs: number,
  ): void {
    const credits = (this.planCredits[pack.priceId] ?? Number.NaN) * pack.quantity;
    this.ledger.grantPack(
      pack.customerId,
      { id: `pack#${pack.invoiceId}`, credits, grantedAtMs: pack.paidAtMs },
      nowMs,
    );
    const person = this.person(pack.customerId);
    if (pack.amountPaid <= 0) return;
    const listedAtMs = pack.listedAtMs ?? pack.paidAtMs;
    if (!person.firstPurchase || listedAtMs < person.firstPurchase.createdMs) {
      person.firstPurchase = { invoiceId: pack.invoiceId, createdMs: listedAtMs };
    }
  }

  subscriptionEnded(
    end: { customerId: string; subscriptionId: string; endedAtMs: number },
    nowMs: number,
  ): void {
    const person = this.person(end.customerId);
    this.ledger.end(end.customerId, end.subscriptionId, end.endedAtMs, nowMs);
    person.active.delete(end.subscriptionId);
    person.ended.add(end.subscriptionId);
  }

  consume(customerId: string, amount: number, key: string, atMs: number): unknown {
    return this.ledger.consume(customerId, amount, key, atMs);
  }

  expire(customerId: string, atMs: number): void {
    this.ledger.expire(customerId, atMs);
  }

  balance(customerId: string, atMs: number): number {
    return this.ledger.balance(customerId, atMs);
  }

  /** C20: lots granted after `atMs`, as the `credits` balance lists them (by grant time). */
  upcomingLots(customerId: string, atMs: number) {
    return this.ledger
      .lots(customerId)
      .filter((lot) => lot.grantedAtMs > atMs && lot.remaining > 0)
      .sort((a, b) => a.grantedAtMs - b.grantedAtMs || a.expiresAtMs - b.expiresAtMs)
      .map(({ remaining: _remaining, ...lot }) => {
        const { source, granted, grantedAt, expiresAt } = viewOf({ ...lot, remaining: 0 });
        return { source, granted, grantedAt, expiresAt };
      });
  }

  /** The lots granted by `atMs` and unexpired then, in burn order (C5), as the balance lists them. */
  liveLots(customerId: string, atMs: number): LotView[] {
    return this.ledger
      .lots(customerId)
      .filter((lot) => lot.grantedAtMs <= atMs && atMs < lot.expiresAtMs)
      .sort(
        (a, b) =>
          a.expiresAtMs - b.expiresAtMs ||
          a.grantedAtMs - b.grantedAtMs ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      )
      .map(viewOf);
  }
}

function viewOf(lot: ModelLot): LotView {
  return {
    source: lot.id.startsWith('referral#')
      ? 'referral_bonus'
      : lot.id.startsWith('pack#')
        ? 'pack'
        : lot.id.startsWith('adjust#')
          ? 'adjustment'
          : 'subscription',
    granted: lot.granted,
    remaining: lot.remaining,
    grantedAt: new Date(lot.grantedAtMs).toISOString(),
    expiresAt: new Date(lot.expiresAtMs).toISOString(),
  };
}

import { DeliveryModel, type ModelInvoice } from './delivery-reference';
import { CreditsModel, monthlyShares, monthsSpanned } from './model';

/**
 * The reference model's side of plan changes (C19) and Checkout packs (C21), read from
 * DOMAIN.md on top of DeliveryModel (test/support/delivery-reference.ts); the generator's side
 * is test/support/delivery-upgrades.ts.
 * - C19: each proration line of a paid invoice contributes `monthly credits x months per
 *   interval x amount / unit amount`; the sum, rounded down, is granted if positive, released
 *   over the lines' period as C20 from its start (the change); zero or less cancels that many
 *   credits of the subscription's lots not yet granted at the change, latest first (the reverse
 *   of the burn order, C5), taking back nothing already granted, and leaving alone the top-up
 *   of an invoice billed at the same instant (the tie rule; the plan's months of that instant
 *   it cuts).
 * - C21: a pack bought through Checkout grants one lot, once per purchase (its invoice id, else
 *   its Session id) whichever events carry it, and only once paid; it is a purchase (C10) and,
 *   as the customer's first, redeems the Session's code with the pack as the base (C11).
 */

/** A proration line as the model reads it from the invoice. */
export type ModelProration = {
  priceId: string;
  amount: number;
  unitAmount: number;
  periodStartMs: number;
  periodEndMs: number;
};

/** C19/C20: the ledger model plus a downgrade's cancellation of credit not yet granted. */
export class UpgradeLedger extends CreditsModel {
  cancelUpcoming(
    customerId: string,
    subscriptionId: string,
    credits: number,
    atMs: number,
    spared: (lotId: string) => boolean = () => false,
  ): void {
    const customer = this.customer(customerId);
    const later = customer.lots
      .filter(
        (lot) =>
          lot.subscriptionId === subscriptionId &&
          lot.grantedAtMs > atMs &&
          lot.remaining > 0 &&
          !spared(lot.id),
      )
      .sort(
        (a, b) =>
          b.expiresAtMs - a.expiresAtMs ||
          b.grantedAtMs - a.grantedAtMs ||
          (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
      );
    let left = credits;
    for (const lot of later) {
      const amount = Math.min(left, lot.remaining);
      lot.granted -= amount;
      lot.remaining -= amount;
      left -= amount;
    }
    customer.lots = customer.lots.filter((lot) => lot.remaining > 0 || lot.takenBy);
  }

  endedAt(customerId: string, subscriptionId: string): number | undefined {
    return this.customer(customerId).ended.get(subscriptionId);
  }
}

export type UpgradeInvoice = Omit<ModelInvoice, 'billingReason'> & {
  billingReason: ModelInvoice['billingReason'] | 'subscription_update';
  prorations?: readonly ModelProration[];
};

export class UpgradesModel extends DeliveryModel {
  override readonly ledger = new UpgradeLedger();
  private readonly seen = new Set<string>();
  /** C19: when Stripe billed each invoice with a top-up, by invoice id. */
  private readonly topUps = new Map<string, number>();
  /** C19 C22: each customer's downgrades, when Stripe billed them and what they cancel. */
  private readonly downgrades = new Map<string, { billedAtMs: number; credits: number }[]>();

  constructor(
    private readonly credits: Readonly<Record<string, number>>,
    private readonly intervalMonths: Readonly<Record<string, number>>,
    private readonly packPriceId: string,
  ) {
    super(credits);
  }

  /** C19: the invoice's plain lines as before, its prorations as a top-up or a downgrade. */
  override invoicePaid(invoice: UpgradeInvoice, nowMs: number): void {
    const prorations = invoice.prorations ?? [];
    const first = !this.seen.has(invoice.invoiceId);
    this.seen.add(invoice.invoiceId);
    if (prorations.length === 0) {
      super.invoicePaid(invoice as ModelInvoice, nowMs);
      return;
    }
    const net = this.prorated(prorations);
    const startMs = Math.min(...prorations.map((line) => line.periodStartMs));
    const endMs = Math.max(...prorations.map((line) => line.periodEndMs));
    // C8: an ended subscription's invoice changes nothing it has not granted (model.ts).
    const ended = this.ledger.endedAt(invoice.customerId, invoice.subscriptionId);
    const grants = ended === undefined || invoice.lines.some((line) => line.periodStartMs <= ended);
    if (first && net <= 0 && grants) {
      const spared = this.toppedUpWith(invoice.createdMs);
      this.ledger.cancelUpcoming(invoice.customerId, invoice.subscriptionId, -net, startMs, spared);
    }
    if (first && net > 0) this.topUps.set(invoice.invoiceId, invoice.createdMs);
    if (first && net < 0) {
      const known = this.downgrades.get(invoice.customerId) ?? [];
      this.downgrades.set(invoice.customerId, [
        ...known,
        { billedAtMs: invoice.createdMs, credits: -net },
      ]);
    }
    const months = monthsSpanned(startMs, endMs);
    const topUp =
      net > 0
        ? [
            {
              lineId: 'proration',
              priceId: 'proration',
              quantity: 1,
              periodStartMs: startMs,
              periodEndMs: endMs,
              // C11: a purchase released over months counts its first month.
              credits: { month: monthlyShares(net, months, startMs)[0]?.credits ?? 0, total: net },
            },
          ]
        : [];
    super.invoicePaid({ ...invoice, lines: [...invoice.lines, ...topUp] } as ModelInvoice, nowMs);
  }

  /**
   * C19's tie rule: a downgrade leaves alone the top-up of an invoice billed at the very same
   * instant (nothing in Stripe's data orders the two; a plan's months of that instant count as
   * billed before, and the model cuts them as they are already there).
   */
  private toppedUpWith(billedAtMs: number): (lotId: string) => boolean {
    const prefixes = [...this.topUps]
      .filter(([, atMs]) => atMs === billedAtMs)
      .map(([invoiceId]) => `${invoiceId}#proration`);
    return (lotId) => prefixes.some((prefix) => lotId === prefix || lotId.startsWith(`${prefix}#`));
  }

  /**
   * C19 C22: at most what the customer's downgrades billed at or after `atMs` cancel. A reversal
   * of that time delivered after them counts as first (Stripe's order): what it takes of their
   * cuts was gone already, so the customer may lose up to that much less than it asks.
   */
  cutAtOrAfter(customerId: string, atMs: number): number {
    return (this.downgrades.get(customerId) ?? [])
      .filter((each) => each.billedAtMs >= atMs)
      .reduce((sum, each) => sum + each.credits, 0);
  }

  /** C19: Stripe's proration factor per line, summed, rounded down (whole cents, exactly). */
  prorated(prorations: readonly Omit<ModelProration, 'periodStartMs' | 'periodEndMs'>[]): number {
    // Over the product of the (whole-cent) unit amounts, so the sum is exact: in floating point
    // -2699.55 + 1799.55 is -900.0000000000002, one credit too many once rounded down.
    const denominator = prorations.reduce((product, line) => product * BigInt(line.unitAmount), 1n);
    let numerator = 0n;
    for (const line of prorations) {
      const months = this.intervalMonths[line.priceId] ?? 1;
      const credits = this.credits[line.priceId];
      if (credits === undefined) throw new Error(`no credits for ${line.priceId} in the model`);
      numerator += (BigInt(credits * months * line.amount) * denominator) / BigInt(line.unitAmount);
    }
    const quotient = numerator / denominator;
    return Number(numerator % denominator < 0n ? quotient - 1n : quotient);
  }

  /**
   * C21: a Checkout purchase, once, when paid; C10/C11 a first purchase redeems its code. Its
   * lot is granted at `purchasedAtMs` (the payment); among the customer's purchases it counts at
   * `listedAtMs`, the time Stripe's lists give it.
   */
  checkoutPaid(
    purchase: {
      customerId: string;
      purchaseId: string;
      quantity: number;
      purchasedAtMs: number;
      listedAtMs: number;
      amountPaid: number;
      referralCode: string | null;
    },
    nowMs: number,
  ): void {
    if (this.seen.has(purchase.purchaseId)) return;
    this.seen.add(purchase.purchaseId);
    this.packPaid(
      {
        customerId: purchase.customerId,
        invoiceId: purchase.purchaseId,
        priceId: this.packPriceId,
        quantity: purchase.quantity,
        paidAtMs: purchase.purchasedAtMs,
        listedAtMs: purchase.listedAtMs,
        amountPaid: purchase.amountPaid,
      },
      nowMs,
    );
    if (purchase.referralCode === null || purchase.amountPaid <= 0) return;
    const credits = (this.credits[this.packPriceId] ?? Number.NaN) * purchase.quantity;
    this.redeem(
      {
        customerId: purchase.customerId,
        invoiceId: purchase.purchaseId,
        referralCode: purchase.referralCode,
        createdMs: purchase.listedAtMs,
      },
      credits,
      purchase.purchasedAtMs,
      nowMs,
    );
  }
}

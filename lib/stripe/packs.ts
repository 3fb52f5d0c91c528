import type { PackLine, PackPurchase } from '../ledger/purchases';
import type { PlanCatalog } from './catalog';
import { type StripeAccess, stripeFault } from './client';
import { UnexpectedPayloadError } from './errors';
import {
  type Invoice,
  LineKind,
  parseCheckoutLine,
  parseCheckoutSession,
  type StripeEvent,
} from './events';
import { allLinesOf, type SkippedLine } from './invoice-lines';
import { REFERRAL_METADATA_KEY } from './promotion';
import { ignored, needsStripe, type TranslateDeps, type Translation } from './translation';

/**
 * C21: one-time credit packs. A Checkout Session in `payment` mode, completed and paid, or a
 * paid invoice with `billing_reason` `manual`, grants its lines' credits as one lot. The key is
 * the invoice id when there is one (a Session with invoice creation names it), so that the
 * Session's event and the invoice's event of one purchase grant once; else the Session's id.
 */
export async function translateCheckoutCompleted(
  deps: TranslateDeps,
  event: StripeEvent,
): Promise<Translation> {
  const session = parseCheckoutSession(event.object);
  if (session.mode !== 'payment') {
    return ignored(`a ${session.mode} Checkout Session: its invoices grant the credits (C3)`);
  }
  if (session.paymentStatus !== 'paid') {
    return ignored(
      `payment_status ${session.paymentStatus}: checkout.session.async_payment_succeeded grants`,
    );
  }
  if (!session.customerId) {
    return ignored('the Checkout Session has no customer, so nobody to credit (C21)');
  }
  const purchaseId = session.invoiceId ?? session.id;
  // A Session's lines are not in the event: reading them is a Stripe call, after the replay check.
  if (await deps.settled?.(session.customerId, `grant#${purchaseId}`)) {
    return {
      kind: 'settled',
      command: 'grantPack',
      key: purchaseId,
      customerId: session.customerId,
    };
  }
  const priced = await checkoutLinesOf(deps.stripe, session.id);
  const { lines, skippedLines } = await packLinesOf(deps.catalog, priced);
  return packTranslation(
    {
      customerId: session.customerId,
      purchaseId,
      lines,
      purchasedAtMs: event.createdMs,
      // C10: Stripe lists an invoiced Session's purchase by its invoice, paid when this event came.
      ...(!session.invoiceId && { listedAtMs: session.createdMs }),
      amountPaid: session.amountTotal,
      ...(session.paymentIntentId && { paymentIntentId: session.paymentIntentId }),
      ...referralOf(session.metadata),
    },
    skippedLines,
  );
}

/** C21: a paid manual invoice is a pack; its lines name their prices. */
export async function packFromInvoice(
  deps: TranslateDeps,
  invoice: Invoice,
  customerId: string,
): Promise<Translation> {
  if (needsStripe(deps, invoice) && (await deps.settled?.(customerId, `grant#${invoice.id}`))) {
    return { kind: 'settled', command: 'grantPack', key: invoice.id, customerId };
  }
  const all = invoice.hasMoreLines ? await allLinesOf(deps.stripe, invoice.id) : invoice.lines;
  const skipped: SkippedLine[] = [];
  const priced: PricedLine[] = [];
  for (const [index, line] of all.entries()) {
    if (line.kind !== LineKind.invoiceItem) {
      skipped.push({ lineId: line.id, reason: 'a subscription line on a manual invoice' });
      continue;
    }
    if (line.priceId === null) {
      skipped.push({ lineId: line.id, reason: 'no price (a custom amount grants nothing)' });
      continue;
    }
    if (line.quantity === null) {
      throw new UnexpectedPayloadError(`data.object.lines.data.${index}.quantity`, 'is null');
    }
    priced.push({ lineId: line.id, priceId: line.priceId, quantity: line.quantity });
  }
  const { lines, skippedLines } = await packLinesOf(deps.catalog, priced);
  return packTranslation(
    {
      customerId,
      purchaseId: invoice.id,
      lines,
      purchasedAtMs: invoice.paidAtMs,
      amountPaid: invoice.amountPaid,
      ...(invoice.paymentIntentId && { paymentIntentId: invoice.paymentIntentId }),
      // The app sets the code on the Session; for an invoice it sets it on the invoice too.
      ...referralOf(invoice.metadata),
    },
    [...skipped, ...skippedLines],
  );
}

type PricedLine = { lineId: string; priceId: string; quantity: number };

async function packLinesOf(catalog: PlanCatalog, priced: readonly PricedLine[]) {
  const lines: PackLine[] = [];
  const skippedLines: SkippedLine[] = [];
  for (const line of priced) {
    const { credits } = await catalog.priceFor(line.priceId);
    const total = credits * line.quantity;
    if (total === 0) {
      skippedLines.push({ lineId: line.lineId, reason: `price ${line.priceId} grants no credits` });
      continue;
    }
    lines.push({ lineId: line.lineId, credits: total });
  }
  return { lines, skippedLines };
}

function packTranslation(pack: PackPurchase, skippedLines: readonly SkippedLine[]): Translation {
  if (pack.lines.length === 0) {
    return ignored(`the purchase has no line granting credits (${skippedLines.length} skipped)`);
  }
  return { kind: 'commands', commands: [{ kind: 'grantPack', pack }], skippedLines };
}

function referralOf(metadata: Readonly<Record<string, string>>) {
  const code = metadata[REFERRAL_METADATA_KEY]?.trim();
  return code ? { referral: { code } } : {};
}

/** The Session's lines, from the API (they are not in the event). */
async function checkoutLinesOf(stripe: StripeAccess, sessionId: string): Promise<PricedLine[]> {
  const client = await stripe(`list the line items of Checkout Session ${sessionId}`);
  const raw: unknown[] = [];
  try {
    for await (const line of client.checkout.sessions.listLineItems(sessionId, { limit: 100 })) {
      raw.push(line);
    }
  } catch (error) {
    throw stripeFault(`GET /v1/checkout/sessions/${sessionId}/line_items`, error);
  }
  return raw.map((each, index) => {
    const where = `Checkout Session ${sessionId} line_items.${index}`;
    const line = parseCheckoutLine(each, where);
    if (line.priceId === null) throw new UnexpectedPayloadError(`${where}.price`, 'is null');
    if (line.quantity === null) throw new UnexpectedPayloadError(`${where}.quantity`, 'is null');
    return { lineId: line.id, priceId: line.priceId, quantity: line.quantity };
  });
}

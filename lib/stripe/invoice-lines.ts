import { type ProrationTerm, proratedCredits } from '../credits/proration';
import { calendarMonthsBetween } from '../credits/time';
import type { GrantLine, ProrationGrant } from '../ledger/subscriptions';
import type { PlanCatalog } from './catalog';
import { type StripeAccess, stripeFault } from './client';
import { UnexpectedPayloadError } from './errors';
import { type InvoiceLine, LineKind, parseInvoiceLine } from './events';

/** A line of a paid invoice that grants nothing, and why (logged, never silent). */
export type SkippedLine = { readonly lineId: string; readonly reason: string };

export type SubscriptionLines = {
  readonly grantLines: readonly GrantLine[];
  readonly proration?: ProrationGrant;
  readonly skippedLines: readonly SkippedLine[];
};

/**
 * C2/C3/C19/C20: what a subscription invoice's lines grant. A plain line grants its price's
 * monthly credits times its quantity for each month of its period; a price with no credits is
 * skipped (C2: an add-on or a metered overage). Proration lines add up, each contributing
 * `monthly credits x months per interval x quantity x amount / (unit amount x quantity)`,
 * i.e. `monthly credits x months per interval x amount / unit amount`.
 */
export async function subscriptionLinesOf(
  catalog: PlanCatalog,
  subscriptionId: string,
  lines: readonly InvoiceLine[],
): Promise<SubscriptionLines> {
  const skippedLines: SkippedLine[] = [];
  const plain: { line: InvoiceLine; priceId: string; quantity: number }[] = [];
  const prorations: { line: InvoiceLine; priceId: string }[] = [];
  for (const [index, line] of lines.entries()) {
    const skip = skipReason(line, subscriptionId);
    if (skip) {
      skippedLines.push({ lineId: line.id, reason: skip });
      continue;
    }
    const { priceId, quantity } = priced(line, `data.object.lines.data.${index}`);
    if (line.kind === LineKind.proration) prorations.push({ line, priceId });
    else if (quantity === 0) skippedLines.push({ lineId: line.id, reason: 'quantity 0' });
    else plain.push({ line, priceId, quantity });
  }
  const grantLines: GrantLine[] = [];
  for (const { line, priceId, quantity } of plain) {
    const { credits } = await catalog.priceFor(priceId);
    if (credits === 0) {
      skippedLines.push({ lineId: line.id, reason: `price ${priceId} grants no credits (C2)` });
      continue;
    }
    grantLines.push({
      lineId: line.id,
      credits: credits * quantity,
      periodStartMs: line.periodStartMs,
      months: calendarMonthsBetween(line.periodStartMs, line.periodEndMs),
    });
  }
  const proration = await prorationOf(catalog, prorations, plain);
  return { grantLines, ...(proration && { proration }), skippedLines };
}

function priced(line: InvoiceLine, field: string): { priceId: string; quantity: number } {
  if (line.priceId === null) {
    throw new UnexpectedPayloadError(`${field}.pricing.price_details.price`, 'is missing');
  }
  if (line.quantity === null) throw new UnexpectedPayloadError(`${field}.quantity`, 'is null');
  return { priceId: line.priceId, quantity: line.quantity };
}

function skipReason(line: InvoiceLine, subscriptionId: string): string | null {
  if (line.kind === LineKind.invoiceItem) return 'not a subscription line (invoice item)';
  if (line.subscriptionId !== null && line.subscriptionId !== subscriptionId) {
    return `belongs to subscription ${line.subscriptionId}, not ${subscriptionId}`;
  }
  return null;
}

/**
 * C19: the net of the proration lines, rounded down, over their period (the time of the change
 * to the period's end). A price's months per interval come from the catalog, else from a
 * plain line of the same price on this invoice, else from the Price; its unit amount from the
 * line, else from the Price.
 */
async function prorationOf(
  catalog: PlanCatalog,
  prorations: readonly { line: InvoiceLine; priceId: string }[],
  plain: readonly { line: InvoiceLine; priceId: string }[],
): Promise<ProrationGrant | undefined> {
  if (prorations.length === 0) return undefined;
  const terms: ProrationTerm[] = [];
  for (const { line, priceId } of prorations) {
    const full = plain.find((each) => each.priceId === priceId)?.line;
    const fullMonths = full && calendarMonthsBetween(full.periodStartMs, full.periodEndMs);
    const price = await catalog.priceFor(priceId, {
      intervalMonths: fullMonths === undefined,
      unitAmount: line.unitAmount === null,
    });
    terms.push({
      credits: price.credits,
      months: price.intervalMonths ?? fullMonths ?? 1,
      amount: line.amount,
      unitAmount: line.unitAmount ?? String(price.unitAmount ?? 0),
    });
  }
  const startMs = Math.min(...prorations.map(({ line }) => line.periodStartMs));
  const endMs = Math.max(...prorations.map(({ line }) => line.periodEndMs));
  return {
    credits: proratedCredits(terms),
    periodStartMs: startMs,
    periodEndMs: endMs,
    months: calendarMonthsBetween(startMs, endMs),
  };
}

/** A webhook carries at most one page of lines: fetch them all rather than grant part (C3). */
export async function allLinesOf(stripe: StripeAccess, invoiceId: string): Promise<InvoiceLine[]> {
  const client = await stripe(`list the lines of invoice ${invoiceId}, which has more than a page`);
  const raw: unknown[] = [];
  try {
    for await (const line of client.invoices.listLineItems(invoiceId, { limit: 100 })) {
      raw.push(line);
    }
  } catch (error) {
    throw stripeFault(`GET /v1/invoices/${invoiceId}/lines`, error);
  }
  return raw.map((line, index) => parseInvoiceLine(line, `invoice ${invoiceId} lines.${index}`));
}

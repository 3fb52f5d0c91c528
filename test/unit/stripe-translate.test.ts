import { describe, expect, it } from 'vitest';
import { UnknownPriceError } from '../../lib/errors';
import type { PlanCatalog } from '../../lib/stripe/catalog';
import type { StripeAccess } from '../../lib/stripe/client';
import { UnexpectedPayloadError } from '../../lib/stripe/errors';
import {
  LineKind,
  parseCheckoutSession,
  parseInvoice,
  parseStripeEvent,
  parseSubscription,
} from '../../lib/stripe/events';
import { type DomainCommand, translateEvent } from '../../lib/stripe/translate';
import {
  checkoutSession,
  ms,
  paidInvoiceEvent,
  stripeEvent,
  stripeFixture,
  subscriptionDeletedEvent,
  subscriptionUpdatedEvent,
} from '../support/stripe-events';

/** A catalog from a plain map of monthly credits, every price billed monthly. */
function catalogOf(credits: Record<string, number>): PlanCatalog {
  const priceFor = async (priceId: string) => {
    const found = credits[priceId];
    if (found === undefined) throw new UnknownPriceError(priceId);
    return { credits: found, intervalMonths: 1 };
  };
  return { priceFor, creditsFor: async (priceId) => (await priceFor(priceId)).credits };
}

const noStripe: StripeAccess = (purpose) => {
  throw new Error(`this test expects no Stripe API call (asked to ${purpose})`);
};

const deps = { catalog: catalogOf({ price_basic: 100, price_pro: 500 }), stripe: noStripe };
const periodStart = '2026-11-01T00:00:00Z';

function translate(event: Record<string, unknown>) {
  return translateEvent(deps, parseStripeEvent(event));
}

/** The event's data.object, loosely typed so a test can bend a sample payload. */
function objectOf(event: Record<string, unknown>) {
  // biome-ignore lint/suspicious/noExplicitAny: tests reshape Stripe's sample JSON freely
  return (event.data as { object: Record<string, any> }).object;
}

function commandsOf(translation: Awaited<ReturnType<typeof translate>>): readonly DomainCommand[] {
  if (translation.kind !== 'commands')
    throw new Error(`not commands: ${JSON.stringify(translation)}`);
  return translation.commands;
}

describe('Function: parseInvoice / parseSubscription on Stripe sample objects', () => {
  it("reads Stripe's own invoice sample unchanged", () => {
    // Prepare: the sample as fixtures3.json has it (a draft invoice with one invoice item line).
    const sample = stripeFixture('invoice');
    // Act
    const invoice = parseInvoice(sample);
    // Assess
    expect(invoice).toMatchObject({
      id: 'in_1Pgc6tB7WZ01zgkWu9fdqL6I',
      customerId: 'cus_QXg1o8vcGmoR32',
      status: 'draft',
      billingReason: 'manual',
      subscriptionId: 'subscription',
      subscriptionMetadata: {},
      hasMoreLines: false,
    });
    expect(invoice.lines).toHaveLength(1);
    expect(invoice.lines[0]?.kind).toBe(LineKind.invoiceItem);
  });

  it("reads Stripe's own subscription sample unchanged", () => {
    const subscription = parseSubscription(stripeFixture('subscription'));
    expect(subscription).toMatchObject({
      id: 'sub_1Pgc6rB7WZ01zgkWNy0Cn5nw',
      customerId: 'cus_QXg1o8vcGmoR32',
      status: 'active',
      cancelAtPeriodEnd: true,
      endedAtMs: 1234567890_000,
    });
  });

  it('accepts expanded customer, subscription and price objects', () => {
    // Prepare
    const event = paidInvoiceEvent({
      customerId: 'cus_x',
      subscriptionId: 'sub_x',
      lines: [{ priceId: 'price_basic', periodStart }],
    });
    const invoice = objectOf(event);
    invoice.customer = { ...stripeFixture('customer'), id: 'cus_x' };
    invoice.parent.subscription_details.subscription = { id: 'sub_x', object: 'subscription' };
    invoice.lines.data[0].pricing.price_details.price = {
      ...stripeFixture('price'),
      id: 'price_basic',
    };
    // Act
    const parsed = parseInvoice(invoice);
    // Assess
    expect(parsed.customerId).toBe('cus_x');
    expect(parsed.subscriptionId).toBe('sub_x');
    expect(parsed.lines[0]?.priceId).toBe('price_basic');
  });

  it('names the field when a handled payload has an unexpected shape', () => {
    const event = paidInvoiceEvent({
      customerId: 'cus_x',
      subscriptionId: 'sub_x',
      lines: [{ priceId: 'price_basic', periodStart }],
    });
    const invoice = objectOf(event);
    invoice.lines.data[0].period = { start: 'yesterday', end: 1 };
    expect(() => parseInvoice(invoice)).toThrow(UnexpectedPayloadError);
    expect(() => parseInvoice(invoice)).toThrow(/data\.object\.lines\.data\.0\.period\.start/);
  });

  it("C10 C21: reads a Checkout Session's own created time, and names it when it is missing", () => {
    const session = checkoutSession({
      customerId: 'cus_x',
      sessionCreated: '2026-03-01T08:00:00Z',
    });
    expect(parseCheckoutSession(session).createdMs).toBe(Date.parse('2026-03-01T08:00:00Z'));
    const { created: _created, ...withoutCreated } = session;
    expect(() => parseCheckoutSession(withoutCreated)).toThrow(/data\.object\.created/);
  });
});

describe('Function: translateEvent', () => {
  it('C2 C3: a paid first invoice grants credits x quantity per subscription line, at its period start', async () => {
    // Prepare
    const event = paidInvoiceEvent({
      customerId: 'cus_1',
      subscriptionId: 'sub_1',
      invoiceId: 'in_1',
      created: '2026-11-01T00:00:05Z',
      lines: [
        { priceId: 'price_pro', quantity: 1, periodStart, lineId: 'il_pro' },
        { priceId: 'price_basic', quantity: 3, periodStart, lineId: 'il_basic' },
      ],
    });
    // Act
    const commands = commandsOf(await translate(event));
    // Assess
    expect(commands).toEqual([
      {
        kind: 'grantSubscriptionInvoice',
        grant: {
          customerId: 'cus_1',
          invoiceId: 'in_1',
          subscriptionId: 'sub_1',
          billingReason: 'subscription_create',
          invoiceCreatedMs: ms('2026-11-01T00:00:05Z'),
          amountPaid: 2000 + 3 * 2000,
          lines: [
            { lineId: 'il_pro', credits: 500, periodStartMs: ms(periodStart), months: 1 },
            { lineId: 'il_basic', credits: 300, periodStartMs: ms(periodStart), months: 1 },
          ],
        },
      },
    ]);
  });

  it('C3: a renewal (subscription_cycle) grants, and invoice.payment_succeeded reads the same invoice', async () => {
    const options = {
      customerId: 'cus_1',
      subscriptionId: 'sub_1',
      invoiceId: 'in_renewal',
      billingReason: 'subscription_cycle',
      lines: [
        { priceId: 'price_basic', periodStart: '2026-12-01T00:00:00Z', lineId: 'il_renewal' },
      ],
    };
    const paid = commandsOf(await translate(paidInvoiceEvent(options)));
    const succeeded = commandsOf(
      await translate(paidInvoiceEvent({ ...options, type: 'invoice.payment_succeeded' })),
    );
    expect(paid).toHaveLength(1);
    expect(succeeded).toEqual(paid);
  });

  it.each(['subscription_threshold', 'quote_accept'])(
    'C3: billing_reason %s is ignored with the reason',
    async (billingReason) => {
      const translation = await translate(
        paidInvoiceEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          billingReason,
          lines: [{ priceId: 'price_basic', periodStart }],
        }),
      );
      expect(translation).toEqual({
        kind: 'ignored',
        reason: `billing_reason ${billingReason} grants no credits (C3)`,
      });
    },
  );

  it('C3: an invoice that is not paid grants nothing', async () => {
    const translation = await translate(
      paidInvoiceEvent({
        customerId: 'cus_1',
        subscriptionId: 'sub_1',
        status: 'open',
        type: 'invoice.payment_succeeded',
        lines: [{ priceId: 'price_basic', periodStart }],
      }),
    );
    expect(translation).toEqual({ kind: 'ignored', reason: 'invoice status is open, not paid' });
  });

  it('C2: one-off invoice items on a subscription invoice are skipped with a reason', async () => {
    // Prepare
    const event = paidInvoiceEvent({
      customerId: 'cus_1',
      subscriptionId: 'sub_1',
      lines: [
        { priceId: 'price_basic', periodStart, lineId: 'il_plan' },
        { priceId: 'price_setup', periodStart, lineId: 'il_setup', kind: 'invoice_item' },
        { priceId: 'price_basic', periodStart, lineId: 'il_other', subscriptionId: 'sub_2' },
      ],
    });
    // Act
    const translation = await translate(event);
    // Assess
    expect(translation).toMatchObject({
      kind: 'commands',
      skippedLines: [
        { lineId: 'il_setup', reason: 'not a subscription line (invoice item)' },
        { lineId: 'il_other', reason: 'belongs to subscription sub_2, not sub_1' },
      ],
    });
    const [grant] = commandsOf(translation);
    expect(grant?.kind === 'grantSubscriptionInvoice' && grant.grant.lines).toEqual([
      { lineId: 'il_plan', credits: 100, periodStartMs: ms(periodStart), months: 1 },
    ]);
  });

  it('C2: a price that grants no credits (an add-on) is skipped, the rest still grants', async () => {
    const zeroDeps = {
      ...deps,
      catalog: catalogOf({ price_basic: 100, price_addon: 0 }),
    };
    const translation = await translateEvent(
      zeroDeps,
      parseStripeEvent(
        paidInvoiceEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          lines: [
            { priceId: 'price_basic', periodStart, lineId: 'il_plan' },
            { priceId: 'price_addon', periodStart, lineId: 'il_addon' },
          ],
        }),
      ),
    );
    expect(translation).toMatchObject({
      kind: 'commands',
      skippedLines: [{ lineId: 'il_addon', reason: 'price price_addon grants no credits (C2)' }],
    });
  });

  it('C19: an upgrade invoice (subscription_update) grants the prorated difference, rounded down', async () => {
    // Prepare: basic (100/month at $20) to pro (500/month at $50) half way through the month:
    // unused basic time is -$10, remaining pro time is +$25.
    const changedAt = '2026-11-16T00:00:00Z';
    const periodEnd = '2026-12-01T00:00:00Z';
    const event = paidInvoiceEvent({
      customerId: 'cus_1',
      subscriptionId: 'sub_1',
      billingReason: 'subscription_update',
      lines: [
        {
          priceId: 'price_basic',
          kind: 'proration',
          periodStart: changedAt,
          periodEnd,
          unitAmount: 2000,
          amount: -1000,
          lineId: 'il_unused',
        },
        {
          priceId: 'price_pro',
          kind: 'proration',
          periodStart: changedAt,
          periodEnd,
          unitAmount: 5000,
          amount: 2501,
          lineId: 'il_remaining',
        },
      ],
    });
    // Act
    const [command] = commandsOf(await translate(event));
    // Assess: 500 x 2501/5000 - 100 x 1000/2000 = 250.1 - 50 = 200.1, granted as 200.
    expect(command?.kind === 'grantSubscriptionInvoice' && command.grant).toMatchObject({
      billingReason: 'subscription_update',
      lines: [],
      proration: { credits: 200, periodStartMs: ms(changedAt), months: 1 },
    });
  });

  it('C21: a paid manual invoice is a pack bought outright, keyed by the invoice', async () => {
    const packDeps = { ...deps, catalog: catalogOf({ price_pack: 250 }) };
    const translation = await translateEvent(
      packDeps,
      parseStripeEvent(
        paidInvoiceEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_ignored',
          invoiceId: 'in_pack',
          billingReason: 'manual',
          lines: [{ priceId: 'price_pack', periodStart, kind: 'invoice_item', quantity: 2 }],
        }),
      ),
    );
    const [command] = commandsOf(translation);
    expect(command).toMatchObject({
      kind: 'grantPack',
      pack: { customerId: 'cus_1', purchaseId: 'in_pack' },
    });
    expect(command?.kind === 'grantPack' && command.pack.lines).toEqual([
      expect.objectContaining({ credits: 500 }),
    ]);
  });

  it('an invoice with no subscription line left is ignored, not granted empty', async () => {
    const translation = await translate(
      paidInvoiceEvent({
        customerId: 'cus_1',
        subscriptionId: 'sub_1',
        lines: [{ priceId: 'price_setup', periodStart, kind: 'invoice_item' }],
      }),
    );
    expect(translation.kind).toBe('ignored');
  });

  it('C2: an unknown price fails the translation instead of granting part of the invoice', async () => {
    const event = paidInvoiceEvent({
      customerId: 'cus_1',
      subscriptionId: 'sub_1',
      lines: [
        { priceId: 'price_basic', periodStart },
        { priceId: 'price_mystery', periodStart },
      ],
    });
    await expect(translate(event)).rejects.toThrow(UnknownPriceError);
  });

  it('C10: a referral_code in the subscription metadata travels with the grant, as typed', async () => {
    // Prepare
    const event = paidInvoiceEvent({
      customerId: 'cus_new',
      subscriptionId: 'sub_new',
      invoiceId: 'in_first',
      created: '2026-11-01T00:00:07Z',
      metadata: { referral_code: '  ABCD-EFGH-JK ', plan: 'pro' },
      lines: [{ priceId: 'price_pro', periodStart }],
    });
    // Act
    const commands = commandsOf(await translate(event));
    // Assess: one command, so the grant and the redemption are one transaction.
    expect(commands).toEqual([
      {
        kind: 'grantSubscriptionInvoice',
        grant: {
          customerId: 'cus_new',
          invoiceId: 'in_first',
          subscriptionId: 'sub_new',
          billingReason: 'subscription_create',
          invoiceCreatedMs: ms('2026-11-01T00:00:07Z'),
          amountPaid: 2000,
          lines: [
            {
              lineId: expect.any(String),
              credits: 500,
              periodStartMs: ms(periodStart),
              months: 1,
            },
          ],
          referral: { code: 'ABCD-EFGH-JK' },
        },
      },
    ]);
  });

  it.each<Record<string, string> | null>([
    { referral_code: '' },
    { referral_code: '   ' },
    {},
    null,
  ])('C10: no redemption without a referral code (metadata %j)', async (metadata) => {
    const commands = commandsOf(
      await translate(
        paidInvoiceEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          metadata,
          lines: [{ priceId: 'price_basic', periodStart }],
        }),
      ),
    );
    expect(commands.map((command) => command.kind)).toEqual(['grantSubscriptionInvoice']);
    const [grant] = commands;
    expect(grant?.kind === 'grantSubscriptionInvoice' && grant.grant).not.toHaveProperty(
      'referral',
    );
  });

  it('C7: customer.subscription.deleted ends the subscription at ended_at', async () => {
    const commands = commandsOf(
      await translate(
        subscriptionDeletedEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          endedAt: '2026-11-15T08:00:00Z',
          canceledAt: '2026-11-10T08:00:00Z',
          eventCreated: '2026-11-15T08:00:01Z',
        }),
      ),
    );
    expect(commands).toEqual([
      {
        kind: 'endSubscription',
        end: {
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          endedAtMs: ms('2026-11-15T08:00:00Z'),
        },
      },
    ]);
  });

  it('C7: without ended_at the end falls back to canceled_at, then to the event time', async () => {
    const byCanceledAt = commandsOf(
      await translate(
        subscriptionDeletedEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          endedAt: null,
          canceledAt: '2026-11-10T08:00:00Z',
          eventCreated: '2026-11-15T00:00:00Z',
        }),
      ),
    );
    const byEventTime = commandsOf(
      await translate(
        subscriptionDeletedEvent({
          customerId: 'cus_1',
          subscriptionId: 'sub_1',
          endedAt: null,
          canceledAt: null,
          eventCreated: '2026-11-15T00:00:00Z',
        }),
      ),
    );
    expect(byCanceledAt[0]).toMatchObject({ end: { endedAtMs: ms('2026-11-10T08:00:00Z') } });
    expect(byEventTime[0]).toMatchObject({ end: { endedAtMs: ms('2026-11-15T00:00:00Z') } });
  });

  it.each(['canceled', 'incomplete_expired'])(
    'C7: customer.subscription.updated to %s ends the subscription',
    async (status) => {
      const commands = commandsOf(
        await translate(
          subscriptionUpdatedEvent({
            customerId: 'cus_1',
            subscriptionId: 'sub_1',
            status,
            endedAt: '2026-11-20T00:00:00Z',
          }),
        ),
      );
      expect(commands[0]?.kind).toBe('endSubscription');
    },
  );

  it.each([
    ['a cancellation scheduled for the period end', 'active', true, /scheduled for the period end/],
    ['past_due', 'past_due', false, /payment trouble/],
    ['unpaid', 'unpaid', false, /payment trouble/],
    ['a plain update', 'active', false, /status active ends nothing/],
  ])('C7: %s forfeits nothing', async (_name, status, cancelAtPeriodEnd, reason) => {
    const translation = await translate(
      subscriptionUpdatedEvent({
        customerId: 'cus_1',
        subscriptionId: 'sub_1',
        status,
        cancelAtPeriodEnd,
        canceledAt: cancelAtPeriodEnd ? '2026-11-10T00:00:00Z' : null,
      }),
    );
    expect(translation.kind).toBe('ignored');
    expect(translation.kind === 'ignored' && translation.reason).toMatch(reason);
  });

  it('any other event type is acknowledged and changes nothing', async () => {
    const translation = await translate(
      stripeEvent({ type: 'customer.created', object: stripeFixture('customer') }),
    );
    expect(translation).toEqual({
      kind: 'ignored',
      reason: 'event type customer.created is not handled',
    });
  });
});

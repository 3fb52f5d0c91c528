import { afterEach, describe, expect, it } from 'vitest';
import { consume } from '../../lib/ledger/spending';
import {
  paidInvoiceEvent,
  subscriptionDeletedEvent,
  subscriptionUpdatedEvent,
} from '../support/stripe-events';
import { type WebhookHarness, webhookHarness } from '../support/webhook-harness';

const PLANS = { price_basic: 100, price_pro: 500 };

describe('Function: stripeWebhook cancellations (C7, C8)', () => {
  let h: WebhookHarness | undefined;
  afterEach(async () => {
    await h?.drop();
    h = undefined;
  });

  /** A customer subscribed to the 500-credit plan on 1 Nov, with 100 credits spent. */
  async function subscribed(customerId: string, subscriptionId: string) {
    h = await webhookHarness({ planCredits: PLANS, now: '2026-11-01T00:10:00Z' });
    await h.deliver(
      paidInvoiceEvent({
        customerId,
        subscriptionId,
        invoiceId: `in_${subscriptionId}_1`,
        lines: [{ priceId: 'price_pro', periodStart: '2026-11-01T00:00:00Z' }],
      }),
    );
    await consume(h.deps, { customerId, amount: 100, idempotencyKey: `spend-${customerId}` });
    expect((await h.balance(customerId)).balance).toBe(400);
    return h;
  }

  it('C7: customer.subscription.deleted forfeits every remaining credit granted up to ended_at', async () => {
    // Prepare
    const h = await subscribed('cus_quit', 'sub_quit');
    h.setNow('2026-11-15T08:00:05Z');
    // Act
    const response = await h.deliver(
      subscriptionDeletedEvent({
        customerId: 'cus_quit',
        subscriptionId: 'sub_quit',
        endedAt: '2026-11-15T08:00:00Z',
      }),
    );
    // Assess
    expect(response).toMatchObject({
      statusCode: 200,
      body: {
        outcome: 'applied',
        commands: [{ command: 'endSubscription', key: 'sub_quit', status: 'applied' }],
      },
    });
    expect((await h.balance('cus_quit')).balance).toBe(0);
    const [forfeit] = await h.ledger('cus_quit');
    expect(forfeit).toMatchObject({
      type: 'forfeit',
      amount: -400,
      balanceAfter: 0,
      at: '2026-11-15T08:00:00.000Z',
      ref: 'sub_quit',
    });
  });

  it.each(['canceled', 'incomplete_expired'])(
    'C7: customer.subscription.updated to %s forfeits too',
    async (status) => {
      const h = await subscribed('cus_upd', 'sub_upd');
      const response = await h.deliver(
        subscriptionUpdatedEvent({
          customerId: 'cus_upd',
          subscriptionId: 'sub_upd',
          status,
          endedAt: '2026-11-20T00:00:00Z',
        }),
      );
      expect(response.body).toMatchObject({ outcome: 'applied' });
      expect((await h.balance('cus_upd')).balance).toBe(0);
    },
  );

  it.each([
    ['a cancellation scheduled for the period end', { status: 'active', cancelAtPeriodEnd: true }],
    ['past_due', { status: 'past_due', cancelAtPeriodEnd: false }],
    ['unpaid', { status: 'unpaid', cancelAtPeriodEnd: false }],
  ])('C7: %s forfeits nothing and writes nothing', async (_name, change) => {
    // Prepare
    const h = await subscribed('cus_stay', 'sub_stay');
    const before = await h.items();
    // Act
    const response = await h.deliver(
      subscriptionUpdatedEvent({
        customerId: 'cus_stay',
        subscriptionId: 'sub_stay',
        canceledAt: change.cancelAtPeriodEnd ? '2026-11-10T00:00:00Z' : null,
        ...change,
      }),
    );
    // Assess
    expect(response).toMatchObject({ statusCode: 200, body: { outcome: 'ignored' } });
    expect((await h.balance('cus_stay')).balance).toBe(400);
    expect(await h.items()).toEqual(before);
  });

  it('C7 C16: the end arriving as updated(canceled) then deleted, or twice with another ended_at, forfeits once', async () => {
    // Prepare
    const h = await subscribed('cus_twice', 'sub_twice');
    const ids = { customerId: 'cus_twice', subscriptionId: 'sub_twice' };
    await h.deliver(
      subscriptionUpdatedEvent({ ...ids, status: 'canceled', endedAt: '2026-11-15T00:00:00Z' }),
    );
    const after = await h.items();
    // Act
    const deleted = await h.deliver(
      subscriptionDeletedEvent({ ...ids, endedAt: '2026-11-15T00:00:00Z' }),
    );
    const conflicting = await h.deliver(
      subscriptionDeletedEvent({ ...ids, endedAt: '2026-11-16T00:00:00Z' }),
    );
    // Assess
    for (const response of [deleted, conflicting]) {
      expect(response).toMatchObject({
        statusCode: 200,
        body: {
          outcome: 'already_applied',
          commands: [{ command: 'endSubscription', key: 'sub_twice', status: 'already_applied' }],
        },
      });
    }
    expect(await h.items()).toEqual(after);
    expect(
      h.log.lines().some((line) => line.message === 'command settled earlier with different data'),
    ).toBe(true);
  });

  it('C8: a late invoice.paid for an ended subscription is recorded and grants nothing', async () => {
    // Prepare
    const h = await subscribed('cus_late', 'sub_late');
    await h.deliver(
      subscriptionDeletedEvent({
        customerId: 'cus_late',
        subscriptionId: 'sub_late',
        endedAt: '2026-11-15T00:00:00Z',
      }),
    );
    h.setNow('2026-12-01T00:10:00Z');
    const renewal = paidInvoiceEvent({
      customerId: 'cus_late',
      subscriptionId: 'sub_late',
      invoiceId: 'in_sub_late_2',
      billingReason: 'subscription_cycle',
      lines: [{ priceId: 'price_pro', periodStart: '2026-12-01T00:00:00Z' }],
    });
    // Act
    const late = await h.deliver(renewal);
    const retried = await h.deliver(renewal);
    // Assess
    expect(late).toMatchObject({
      statusCode: 200,
      body: {
        outcome: 'ignored',
        reason: 'grantSubscriptionInvoice: subscription_ended',
        commands: [
          { command: 'grantSubscriptionInvoice', key: 'in_sub_late_2', status: 'recorded' },
        ],
      },
    });
    expect(retried.body).toMatchObject({ outcome: 'already_applied' });
    expect((await h.balance('cus_late')).balance).toBe(0);
  });

  it("C8 C16: the subscription's end delivered before its first invoice.paid: the month is granted and forfeited on arrival", async () => {
    // Prepare
    h = await webhookHarness({ planCredits: PLANS, now: '2026-11-02T00:00:00Z' });
    const ids = { customerId: 'cus_backwards', subscriptionId: 'sub_backwards' };
    await h.deliver(subscriptionDeletedEvent({ ...ids, endedAt: '2026-11-01T12:00:00Z' }));
    // Act
    const response = await h.deliver(
      paidInvoiceEvent({
        ...ids,
        lines: [{ priceId: 'price_pro', periodStart: '2026-11-01T00:00:00Z' }],
      }),
    );
    // Assess: the same ledger as had Stripe delivered them in order.
    expect(response.body).toMatchObject({ outcome: 'applied' });
    expect((await h.balance('cus_backwards')).balance).toBe(0);
    expect((await h.ledger('cus_backwards')).map((entry) => [entry.type, entry.amount])).toEqual([
      ['forfeit', -500],
      ['grant', 500],
    ]);
  });

  it("C8: the older subscription's end, delivered after the newer one's first grant, leaves the newer credits alone", async () => {
    // Prepare: sub_old (500, from 1 Nov) ends 10 Dec; sub_new (100) starts 12 Dec.
    const h = await subscribed('cus_switch', 'sub_old');
    h.setNow('2026-12-12T00:10:00Z');
    await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_switch',
        subscriptionId: 'sub_new',
        invoiceId: 'in_new_1',
        lines: [{ priceId: 'price_basic', periodStart: '2026-12-12T00:00:00Z' }],
      }),
    );
    expect((await h.balance('cus_switch')).balance).toBe(500);
    // Act: Stripe delivers the older subscription's deletion only now.
    const response = await h.deliver(
      subscriptionDeletedEvent({
        customerId: 'cus_switch',
        subscriptionId: 'sub_old',
        endedAt: '2026-12-10T00:00:00Z',
        eventCreated: '2026-12-10T00:00:01Z',
      }),
    );
    // Assess
    expect(response.body).toMatchObject({ outcome: 'applied' });
    const balance = await h.balance('cus_switch');
    expect(balance.balance).toBe(100);
    expect(balance.lots).toEqual([
      expect.objectContaining({
        granted: 100,
        remaining: 100,
        grantedAt: '2026-12-12T00:00:00.000Z',
      }),
    ]);
    expect((await h.ledger('cus_switch'))[0]).toMatchObject({
      type: 'forfeit',
      amount: -400,
      ref: 'sub_old',
    });
    // And sub_new still grants its renewal.
    h.setNow('2027-01-12T00:10:00Z');
    const renewal = await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_switch',
        subscriptionId: 'sub_new',
        billingReason: 'subscription_cycle',
        lines: [{ priceId: 'price_basic', periodStart: '2027-01-12T00:00:00Z' }],
      }),
    );
    expect(renewal.body).toMatchObject({ outcome: 'applied' });
    expect((await h.balance('cus_switch')).balance).toBe(200);
  });
});

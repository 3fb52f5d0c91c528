import { afterEach, describe, expect, it } from 'vitest';
import { referralCodeOf } from '../../lib/ledger/referrals';
import {
  paidInvoiceEvent,
  signedRequest,
  stripeEvent,
  stripeFixture,
  TEST_WEBHOOK_SECRET,
} from '../support/stripe-events';
import { type WebhookHarness, webhookHarness } from '../support/webhook-harness';

const PLANS = { price_basic: 100, price_pro: 500 };
const periodStart = '2026-11-01T00:00:00Z';

describe('Function: stripeWebhook (handler, API Gateway v2 events, DynamoDB Local)', () => {
  let harness: WebhookHarness | undefined;
  afterEach(async () => {
    await harness?.drop();
    harness = undefined;
  });

  async function start(options: Parameters<typeof webhookHarness>[0] = {}) {
    harness = await webhookHarness({ planCredits: PLANS, ...options });
    return harness;
  }

  it('C2 C3: a paid first invoice grants each plan line credits x quantity, and answers 200', async () => {
    // Prepare
    const h = await start();
    const event = paidInvoiceEvent({
      customerId: 'cus_alice',
      subscriptionId: 'sub_alice',
      invoiceId: 'in_alice_1',
      eventId: 'evt_alice_1',
      lines: [
        { priceId: 'price_pro', quantity: 1, periodStart },
        { priceId: 'price_basic', quantity: 3, periodStart },
      ],
    });
    // Act
    const response = await h.deliver(event);
    // Assess
    expect(response).toEqual({
      statusCode: 200,
      body: {
        received: true,
        eventId: 'evt_alice_1',
        type: 'invoice.paid',
        outcome: 'applied',
        commands: [{ command: 'grantSubscriptionInvoice', key: 'in_alice_1', status: 'applied' }],
      },
    });
    const balance = await h.balance('cus_alice');
    expect(balance.balance).toBe(800);
    expect(balance.lots.map((lot) => lot.granted).sort()).toEqual([300, 500]);
    expect(balance.lots.every((lot) => lot.grantedAt === '2026-11-01T00:00:00.000Z')).toBe(true);
    expect(balance.lots.every((lot) => lot.expiresAt === '2027-02-01T00:00:00.000Z')).toBe(true);
    const ledger = await h.ledger('cus_alice');
    expect(ledger).toMatchObject([
      { type: 'grant', amount: 800, balanceAfter: 800, ref: 'in_alice_1' },
    ]);
  });

  it('C3: a renewal (subscription_cycle) grants the next period as a new lot', async () => {
    // Prepare
    const h = await start();
    const base = { customerId: 'cus_bob', subscriptionId: 'sub_bob' };
    await h.deliver(
      paidInvoiceEvent({ ...base, lines: [{ priceId: 'price_basic', periodStart }] }),
    );
    h.setNow('2026-12-01T00:05:00Z');
    // Act
    const response = await h.deliver(
      paidInvoiceEvent({
        ...base,
        billingReason: 'subscription_cycle',
        lines: [{ priceId: 'price_basic', periodStart: '2026-12-01T00:00:00Z' }],
      }),
    );
    // Assess
    expect(response.body.outcome).toBe('applied');
    const balance = await h.balance('cus_bob');
    expect(balance.balance).toBe(200);
    expect(balance.lots.map((lot) => lot.expiresAt)).toEqual([
      '2027-02-01T00:00:00.000Z',
      '2027-03-01T00:00:00.000Z',
    ]);
  });

  it('accepts a base64-encoded body (API Gateway binary mode)', async () => {
    const h = await start();
    const event = paidInvoiceEvent({
      customerId: 'cus_b64',
      subscriptionId: 'sub_b64',
      lines: [{ priceId: 'price_pro', periodStart }],
    });
    const response = await h.deliver(event, { base64: true });
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_b64')).balance).toBe(500);
  });

  it('C21: a manual invoice whose lines are subscription lines grants nothing and writes nothing', async () => {
    const h = await start();
    const response = await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_manual',
        subscriptionId: 'sub_manual',
        billingReason: 'manual',
        lines: [{ priceId: 'price_pro', periodStart }],
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({
      received: true,
      outcome: 'ignored',
      reason: 'the purchase has no line granting credits (1 skipped)',
    });
    expect(await h.items()).toHaveLength(0);
  });

  it('C3: billing_reason subscription_threshold answers 200, says why it is ignored, writes nothing', async () => {
    const h = await start();
    const response = await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_threshold',
        subscriptionId: 'sub_threshold',
        billingReason: 'subscription_threshold',
        lines: [{ priceId: 'price_pro', periodStart }],
      }),
    );
    expect(response.body).toMatchObject({
      outcome: 'ignored',
      reason: 'billing_reason subscription_threshold grants no credits (C3)',
    });
    expect(await h.items()).toHaveLength(0);
  });

  it('an event type we do not handle answers 200 and writes nothing', async () => {
    const h = await start();
    const response = await h.deliver(
      stripeEvent({ type: 'customer.created', object: stripeFixture('customer') }),
    );
    expect(response).toMatchObject({
      statusCode: 200,
      body: { received: true, outcome: 'ignored' },
    });
    expect(await h.items()).toHaveLength(0);
  });

  it('C16: the same delivery again changes nothing and answers already_applied', async () => {
    // Prepare
    const h = await start();
    const event = paidInvoiceEvent({
      customerId: 'cus_dup',
      subscriptionId: 'sub_dup',
      invoiceId: 'in_dup',
      lines: [{ priceId: 'price_pro', periodStart }],
    });
    await h.deliver(event);
    const before = await h.items();
    // Act
    const again = await h.deliver(event);
    // Assess
    expect(again.statusCode).toBe(200);
    expect(again.body).toMatchObject({
      outcome: 'already_applied',
      commands: [{ command: 'grantSubscriptionInvoice', key: 'in_dup', status: 'already_applied' }],
    });
    expect(await h.items()).toEqual(before);
    expect((await h.balance('cus_dup')).balance).toBe(500);
  });

  it('C16: ten concurrent deliveries of one event grant once', async () => {
    // Prepare
    const h = await start();
    const event = paidInvoiceEvent({
      customerId: 'cus_race',
      subscriptionId: 'sub_race',
      invoiceId: 'in_race',
      lines: [{ priceId: 'price_pro', quantity: 2, periodStart }],
    });
    // Act
    const responses = await Promise.all(Array.from({ length: 10 }, () => h.deliver(event)));
    // Assess
    expect(responses.every((response) => response.statusCode === 200)).toBe(true);
    const outcomes = responses.map((response) => response.body.outcome);
    expect(outcomes.filter((outcome) => outcome === 'applied')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'already_applied')).toHaveLength(9);
    expect((await h.balance('cus_race')).balance).toBe(1000);
    expect(await h.ledger('cus_race')).toHaveLength(1);
  });

  it('C3: the same invoice in another event type and event id grants nothing more', async () => {
    // Prepare
    const h = await start();
    const invoice = {
      customerId: 'cus_twice',
      subscriptionId: 'sub_twice',
      invoiceId: 'in_twice',
      lines: [{ priceId: 'price_pro', periodStart, lineId: 'il_twice' }],
    };
    await h.deliver(paidInvoiceEvent({ ...invoice, eventId: 'evt_paid' }));
    // Act
    const succeeded = await h.deliver(
      paidInvoiceEvent({ ...invoice, eventId: 'evt_succeeded', type: 'invoice.payment_succeeded' }),
    );
    const paidAgain = await h.deliver(paidInvoiceEvent({ ...invoice, eventId: 'evt_paid_replay' }));
    // Assess
    expect(succeeded.body).toMatchObject({ eventId: 'evt_succeeded', outcome: 'already_applied' });
    expect(paidAgain.body).toMatchObject({
      eventId: 'evt_paid_replay',
      outcome: 'already_applied',
    });
    expect((await h.balance('cus_twice')).balance).toBe(500);
    expect(await h.ledger('cus_twice')).toHaveLength(1);
  });

  it('accepts deliveries signed with either secret while STRIPE_WEBHOOK_SECRET lists two', async () => {
    // Prepare
    const rotation = ['whsec_old_rotation_aaaaaaaaaaaaaaaa', 'whsec_new_rotation_bbbbbbbbbbbbbbbb'];
    const h = await start({ webhookSecrets: rotation });
    const event = (customer: string) =>
      paidInvoiceEvent({
        customerId: customer,
        subscriptionId: `sub_${customer}`,
        lines: [{ priceId: 'price_basic', periodStart }],
      });
    // Act
    const byOld = await h.deliver(event('cus_old'), { secret: rotation[0] });
    const byNew = await h.deliver(event('cus_new'), { secret: rotation[1] });
    const byRetired = await h.deliver(event('cus_retired'), { secret: TEST_WEBHOOK_SECRET });
    // Assess
    expect([byOld.statusCode, byNew.statusCode, byRetired.statusCode]).toEqual([200, 200, 400]);
    expect((await h.balance('cus_old')).balance).toBe(100);
    expect((await h.balance('cus_new')).balance).toBe(100);
    expect((await h.balance('cus_retired')).balance).toBe(0);
  });

  it('C10 C11: a referral code in the subscription metadata gives both sides 50% after the grant', async () => {
    // Prepare: the referrer subscribes and fetches their code.
    const h = await start();
    await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_referrer',
        subscriptionId: 'sub_referrer',
        lines: [{ priceId: 'price_basic', periodStart }],
      }),
    );
    const code = await referralCodeOf(h.table, 'cus_referrer');
    // Act
    const response = await h.deliver(
      paidInvoiceEvent({
        customerId: 'cus_friend',
        subscriptionId: 'sub_friend',
        invoiceId: 'in_friend_1',
        metadata: { referral_code: code.toLowerCase() },
        lines: [{ priceId: 'price_pro', periodStart }],
      }),
    );
    // Assess
    expect(response.body).toMatchObject({
      outcome: 'applied',
      commands: [
        { command: 'grantSubscriptionInvoice', key: 'in_friend_1', status: 'applied' },
        { command: 'redeemReferral', key: 'cus_friend', status: 'applied' },
      ],
    });
    expect((await h.balance('cus_friend')).balance).toBe(750);
    expect((await h.balance('cus_referrer')).balance).toBe(350);
  });

  it('logs one line per event with id, type and outcome, and never a secret, signature or email', async () => {
    // Prepare
    const h = await start();
    const event = paidInvoiceEvent({
      customerId: 'cus_private',
      subscriptionId: 'sub_private',
      eventId: 'evt_logged',
      customerEmail: 'private.person@example.com',
      lines: [{ priceId: 'price_pro', periodStart }],
    });
    const signed = signedRequest(event, { timestamp: Math.floor(h.nowMs() / 1000) });
    // Act
    await h.deliver(event);
    await h.deliver(event, { secret: 'whsec_wrong_cccccccccccccccccccc' });
    await h.deliver(stripeEvent({ type: 'invoice.paid', object: {}, apiVersion: '2024-06-20' }));
    // Assess
    const lines = h.log.lines();
    expect(lines[0]).toMatchObject({
      level: 'info',
      message: 'stripe event processed',
      eventId: 'evt_logged',
      type: 'invoice.paid',
      outcome: 'applied',
    });
    expect(lines.slice(1).map((line) => line.message)).toEqual([
      'stripe delivery refused',
      'stripe delivery refused',
    ]);
    expect(lines[2]).toMatchObject({
      level: 'error',
      error: { name: 'UnsupportedApiVersionError' },
    });
    const all = h.log.raw.join('\n');
    const v1 = signed.signature.split(',').find((part) => part.startsWith('v1=')) ?? 'v1=';
    for (const secret of [
      TEST_WEBHOOK_SECRET,
      'whsec_wrong',
      v1.slice(3),
      'private.person@example.com',
    ]) {
      expect(all).not.toContain(secret);
    }
    expect(all).not.toContain('"lines"');
  });
});

import { describe, expect, it } from 'vitest';
import { audit } from '../../lib/jobs/audit';
import { parseBackfillRequest, runBackfill } from '../../lib/jobs/backfill';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { consume } from '../../lib/ledger/spending';
import {
  chargeOf,
  chargeRefundedEvent,
  creditNoteEvent,
  disputeEvent,
  refundEvent,
  refundObject,
} from '../support/reversal-events';
import {
  checkoutEvent,
  checkoutLineItem,
  checkoutSession,
  paidInvoiceEvent,
} from '../support/stripe-events';
import { harnessesWithStripeFake, type WebhookHarness } from '../support/webhook-harness';

/**
 * Money going back, through the real webhook handler on DynamoDB Local with signed deliveries:
 * refunds, credit notes and disputes take credits back in proportion (C22), what was spent
 * becomes debt (C23), and a first purchase's referral bonuses go back too (C24). The invoice a
 * payment paid is found through the fake Stripe API's invoice payments.
 */

const PRO = 'price_pro'; // 500 a month, $50
const PACK = 'price_pack'; // 1000 credits, $20
const NOV = '2026-11-01T00:00:00Z';
const DEC = '2026-12-01T00:00:00Z';
const PAID = 5000;

describe('Function: stripeWebhook for money going back (C22-C24)', () => {
  const harnesses = harnessesWithStripeFake();
  const fake = () => harnesses.fake;

  async function start(now = '2026-11-06T00:00:00Z') {
    return harnesses.start({ planCredits: { [PRO]: 500, [PACK]: 1000 }, now });
  }

  /** A paid Pro invoice whose payment intent Stripe's invoice payments know. */
  async function subscribed(
    harness: WebhookHarness,
    customerId: string,
    options: { start?: string; code?: string; billingReason?: string } = {},
  ) {
    const invoiceId = `in_${customerId}_${(options.start ?? NOV).slice(5, 7)}`;
    const paymentIntentId = `pi_${invoiceId}`;
    fake().invoicePayments.set(paymentIntentId, { invoiceId, customerId, amount: PAID });
    const response = await harness.deliver(
      paidInvoiceEvent({
        customerId,
        subscriptionId: `sub_${customerId}`,
        invoiceId,
        billingReason: options.billingReason ?? 'subscription_create',
        lines: [{ priceId: PRO, periodStart: options.start ?? NOV }],
        amountPaid: PAID,
        metadata: options.code ? { referral_code: options.code } : {},
      }),
    );
    expect(response.statusCode).toBe(200);
    return { invoiceId, paymentIntentId };
  }

  async function spent(harness: WebhookHarness, customerId: string, amount: number) {
    const deps = { ...harness.table, clock: () => harness.nowMs() };
    await consume(deps, { customerId, amount, idempotencyKey: `img-${amount}` });
  }

  async function expectAudited(harness: WebhookHarness, customerId: string) {
    expect((await audit(harness.table, { customerId })).problems).toEqual([]);
  }

  it('C22 C23: a full refund takes back what is left, and what was spent is debt', async () => {
    // Prepare
    const h = await start();
    const { paymentIntentId } = await subscribed(h, 'cus_full');
    await spent(h, 'cus_full', 120);

    // Act
    const refund = refundObject({ paymentIntentId, amount: PAID });
    const response = await h.deliver(refundEvent('refund.created', refund));

    // Assess
    expect(response).toMatchObject({ statusCode: 200, body: { outcome: 'applied' } });
    expect(await h.balance('cus_full')).toMatchObject({ balance: 0, debt: 120, lots: [] });
    expect(fake().requestsTo('/v1/invoice_payments')).toHaveLength(1);
    await expectAudited(h, 'cus_full');
  });

  it('C22: one refund seen through refund.created, charge.refunded and a credit note counts once', async () => {
    // Prepare
    const h = await start();
    const { invoiceId, paymentIntentId } = await subscribed(h, 'cus_once');
    const refund = refundObject({ paymentIntentId, amount: 2500 });

    // Act
    const answers = [
      await h.deliver(
        creditNoteEvent({
          invoiceId,
          customerId: 'cus_once',
          amount: 2500,
          refunds: [{ refundId: refund.id as string, amount: 2500 }],
        }),
      ),
      await h.deliver(refundEvent('refund.created', refund)),
      await h.deliver(chargeRefundedEvent({ paymentIntentId, paid: PAID, refunds: [refund] })),
    ];

    // Assess
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200]);
    expect(answers.map((answer) => answer.body.outcome)).toEqual([
      'applied',
      'already_applied',
      'already_applied',
    ]);
    expect((await h.balance('cus_once')).balance).toBe(250);
    const reversals = (await h.ledger('cus_once')).filter((entry) => entry.type === 'reversal');
    expect(reversals).toHaveLength(1);
  });

  it('C22: partial refunds are cumulative, read from Stripe when the charge does not list them', async () => {
    // Prepare
    const h = await start();
    const { paymentIntentId } = await subscribed(h, 'cus_parts');
    const first = refundObject({ paymentIntentId, amount: 1666 });
    const second = refundObject({ paymentIntentId, amount: 1667 });
    fake().refunds.set(chargeOf(paymentIntentId), [first, second]);

    // Act
    const response = await h.deliver(
      chargeRefundedEvent({ paymentIntentId, paid: PAID, refunds: [first, second], listed: false }),
    );

    // Assess: floor(500 x 3333 / 5000) = 333 in all, not 166 + 166.
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_parts')).balance).toBe(167);
    expect(fake().requestsTo('/v1/refunds')).toHaveLength(1);
  });

  it('C22: the part of a credit note that is not a refund is a reversal of its own, undone when voided', async () => {
    // Prepare
    const h = await start();
    const { invoiceId } = await subscribed(h, 'cus_note');
    const note = { invoiceId, customerId: 'cus_note', amount: 1000, id: 'cn_note' };

    // Act
    await h.deliver(creditNoteEvent(note));
    const afterNote = (await h.balance('cus_note')).balance;
    await h.deliver(creditNoteEvent({ ...note, type: 'credit_note.voided' }));

    // Assess
    expect(afterNote).toBe(400);
    expect((await h.balance('cus_note')).balance).toBe(500);
    await expectAudited(h, 'cus_note');
  });

  it('C23: a dispute lost takes everything; won, it cancels the debt and gives the rest back', async () => {
    // Prepare
    const h = await start();
    const { paymentIntentId } = await subscribed(h, 'cus_dispute');
    await spent(h, 'cus_dispute', 120);
    const dispute = { id: 'dp_1', paymentIntentId, amount: PAID };

    // Act
    await h.deliver(
      disputeEvent('charge.dispute.funds_withdrawn', { ...dispute, status: 'needs_response' }),
    );
    const lost = await h.balance('cus_dispute');
    h.setNow('2026-11-20T00:10:00Z');
    await h.deliver(
      disputeEvent('charge.dispute.funds_reinstated', {
        ...dispute,
        status: 'won',
        created: '2026-11-20T00:00:00Z',
      }),
    );
    const closed = await h.deliver(
      disputeEvent('charge.dispute.closed', { ...dispute, status: 'won' }),
    );

    // Assess
    expect(lost).toMatchObject({ balance: 0, debt: 120 });
    expect(closed.body.outcome).toBe('already_applied');
    expect(await h.balance('cus_dispute')).toMatchObject({
      balance: 380,
      debt: 0,
      lots: [expect.objectContaining({ remaining: 380, expiresAt: '2027-02-01T00:00:00.000Z' })],
    });
    await expectAudited(h, 'cus_dispute');
  });

  it('C23: a refund that failed gives back what it took', async () => {
    // Prepare
    const h = await start();
    const { paymentIntentId } = await subscribed(h, 'cus_failed');
    const refund = refundObject({ paymentIntentId, amount: 2500, status: 'pending' });
    await h.deliver(refundEvent('refund.created', refund));

    // Act
    const failed = { ...refund, status: 'failed' };
    h.setNow('2026-11-07T00:10:00Z');
    await h.deliver(refundEvent('refund.updated', failed, '2026-11-07T00:00:00Z'));

    // Assess
    expect((await h.balance('cus_failed')).balance).toBe(500);
    await expectAudited(h, 'cus_failed');
  });

  it('C23: the debt is repaid from the next grant before any of it is spendable', async () => {
    // Prepare
    const h = await start();
    const { paymentIntentId } = await subscribed(h, 'cus_repays');
    await spent(h, 'cus_repays', 120);
    await h.deliver(refundEvent('refund.created', refundObject({ paymentIntentId, amount: PAID })));

    // Act
    h.setNow('2026-12-01T00:10:00Z');
    await subscribed(h, 'cus_repays', { start: DEC, billingReason: 'subscription_cycle' });

    // Assess
    expect(await h.balance('cus_repays')).toMatchObject({ balance: 380, debt: 0 });
    const types = (await h.ledger('cus_repays')).map((entry) => entry.type);
    // Newest first: the renewal's grant, then what it repaid, in one transaction.
    expect(types.slice(0, 2)).toEqual(['debt', 'grant']);
    await expectAudited(h, 'cus_repays');
  });

  it('C24: a refunded referee loses both bonuses; the referrer only what the bonus lot holds', async () => {
    // Prepare: the referrer has spent all but 50 of the bonus.
    const h = await start();
    await subscribed(h, 'cus_referrer');
    const code = await referralCodeOf({ ...h.table, clock: () => h.nowMs() }, 'cus_referrer');
    const { paymentIntentId } = await subscribed(h, 'cus_referee', { code });
    await spent(h, 'cus_referrer', 700);

    // Act
    await h.deliver(refundEvent('refund.created', refundObject({ paymentIntentId, amount: PAID })));

    // Assess
    expect(await h.balance('cus_referee')).toMatchObject({ balance: 0, debt: 0 });
    expect(await h.balance('cus_referrer')).toMatchObject({ balance: 0, debt: 0 });
    await expectAudited(h, 'cus_referee');
    await expectAudited(h, 'cus_referrer');
  });

  it('C24: a pack bought without an invoice is found through the payment intent its grant recorded', async () => {
    // Prepare
    const h = await start();
    const sessionId = 'cs_pack_refund';
    fake().checkoutLines.set(sessionId, [checkoutLineItem(PACK)]);
    await h.deliver(
      checkoutEvent({ customerId: 'cus_pack', sessionId, paymentIntentId: 'pi_pack_refund' }),
    );

    // Act
    const refund = refundObject({ paymentIntentId: 'pi_pack_refund', amount: 500 });
    const response = await h.deliver(refundEvent('refund.created', refund));

    // Assess
    expect(response.statusCode).toBe(200);
    expect((await h.balance('cus_pack')).balance).toBe(750);
    expect(fake().requestsTo('/v1/invoice_payments')).toHaveLength(0);
  });

  it('C17: a backfill of the same events, refunds and a won dispute included, reaches the live state', async () => {
    // Prepare: live, a grant, a spend, two partial refunds and a dispute lost then won.
    const live = await start('2026-11-20T00:10:00Z');
    const invoiceId = 'in_cus_replay_11';
    const paymentIntentId = `pi_${invoiceId}`;
    fake().invoicePayments.set(paymentIntentId, {
      invoiceId,
      customerId: 'cus_replay',
      amount: PAID,
    });
    const dispute = { id: 'dp_replay', paymentIntentId, amount: 1000 };
    const events = [
      paidInvoiceEvent({
        customerId: 'cus_replay',
        subscriptionId: 'sub_cus_replay',
        invoiceId,
        lines: [{ priceId: PRO, periodStart: NOV }],
        amountPaid: PAID,
      }),
      refundEvent('refund.created', refundObject({ paymentIntentId, amount: 1666 })),
      refundEvent('refund.created', refundObject({ paymentIntentId, amount: 1667 })),
      disputeEvent('charge.dispute.funds_withdrawn', { ...dispute, status: 'needs_response' }),
      disputeEvent('charge.dispute.funds_reinstated', {
        ...dispute,
        status: 'won',
        created: '2026-11-10T00:00:00Z',
      }),
    ];
    for (const event of events) expect((await live.deliver(event)).statusCode).toBe(200);
    const liveView = await live.balance('cus_replay');
    const liveLedger = await live.ledger('cus_replay');
    await live.drop();

    // Act: the same events replayed, the last first, on a fresh table.
    const replay = await start('2026-11-20T00:10:00Z');
    const report = await runBackfill(
      replay.deps,
      parseBackfillRequest({ events: [...events].reverse() }),
    );

    // Assess
    expect(report).toMatchObject({ failed: 0 });
    // The same credits; live, the won dispute's credits came back as a lot of their own.
    expect(liveView).toMatchObject({ balance: 167, debt: 0 });
    expect(await replay.balance('cus_replay')).toMatchObject({ balance: 167, debt: 0 });
    const sum = (entries: readonly { amount: number }[]) =>
      entries.reduce((total, entry) => total + entry.amount, 0);
    expect(sum(await replay.ledger('cus_replay'))).toBe(sum(liveLedger));
    await expectAudited(replay, 'cus_replay');
  });

  it('C16 C24: a pack refunded before its Checkout Session was processed is found through the Session, and waits for the grant', async () => {
    // Prepare
    const h = await start();
    const sessionId = 'cs_pack_early';
    const paymentIntentId = 'pi_pack_early';
    const session = { customerId: 'cus_early_pack', sessionId, paymentIntentId };
    fake().checkoutLines.set(sessionId, [checkoutLineItem(PACK)]);
    fake().checkoutSessions.set(paymentIntentId, checkoutSession(session));

    // Act
    const refund = refundObject({ paymentIntentId, amount: 1000 });
    const early = await h.deliver(refundEvent('refund.created', refund));
    const grant = await h.deliver(checkoutEvent(session));

    // Assess
    expect(early).toMatchObject({ statusCode: 200, body: { outcome: 'applied' } });
    expect(grant.statusCode).toBe(200);
    expect((await h.balance('cus_early_pack')).balance).toBe(500);
    expect(fake().requestsTo('/v1/checkout/sessions')).not.toHaveLength(0);
  });

  it('a Stripe API failure while finding the invoice is a 5xx, and the retry applies it once', async () => {
    // Prepare
    const h = await start();
    const { paymentIntentId } = await subscribed(h, 'cus_retry');
    const event = refundEvent(
      'refund.created',
      refundObject({ paymentIntentId: `${paymentIntentId}`, amount: 2500 }),
    );
    fake().failNext(500);

    // Act
    const failed = await h.deliver(event);
    const retried = await h.deliver(event);

    // Assess
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(retried).toMatchObject({ statusCode: 200, body: { outcome: 'applied' } });
    expect((await h.balance('cus_retry')).balance).toBe(250);
  });
});

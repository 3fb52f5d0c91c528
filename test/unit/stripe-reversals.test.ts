import { describe, expect, it } from 'vitest';
import type { PlanCatalog } from '../../lib/stripe/catalog';
import type { StripeAccess } from '../../lib/stripe/client';
import { parseStripeEvent } from '../../lib/stripe/events';
import { translateEvent } from '../../lib/stripe/translate';
import {
  chargeRefundedEvent,
  creditNoteEvent,
  disputeEvent,
  refundEvent,
  refundObject,
} from '../support/reversal-events';
import { paidInvoiceEvent } from '../support/stripe-events';

const noStripe: StripeAccess = (purpose) => {
  throw new Error(`this test expects no Stripe API call (asked to ${purpose})`);
};
const catalog: PlanCatalog = {
  priceFor: async () => ({ credits: 500, intervalMonths: 1 }),
  creditsFor: async () => 500,
};
/** The payments a pack's grant recorded: only `pi_known` paid for something. */
const deps = {
  catalog,
  stripe: noStripe,
  purchaseOfPayment: async (paymentIntentId: string) =>
    paymentIntentId === 'pi_known' ? { customerId: 'cus_1', purchaseId: 'cs_1' } : undefined,
};

function translate(event: Record<string, unknown>) {
  return translateEvent(deps, parseStripeEvent(event));
}

describe('Function: translateEvent for money going back (C22-C24)', () => {
  it('C22: a refund is a reversal keyed by the refund, at its own time', async () => {
    // Prepare
    const refund = refundObject({
      paymentIntentId: 'pi_known',
      amount: 700,
      id: 're_1',
      created: '2026-11-05T00:00:00Z',
    });

    // Act
    const translation = await translate(
      refundEvent('refund.created', refund, '2026-11-05T00:00:09Z'),
    );

    // Assess
    expect(translation).toMatchObject({
      kind: 'commands',
      commands: [
        {
          kind: 'reverse',
          reversal: {
            customerId: 'cus_1',
            purchaseId: 'cs_1',
            key: 'refund#re_1',
            amount: 700,
            atMs: Date.parse('2026-11-05T00:00:00Z'),
            undo: false,
          },
        },
      ],
    });
  });

  it('C23: a refund that failed, in refund.updated or in charge.refunded, is an undo', async () => {
    // Prepare
    const failed = refundObject({
      paymentIntentId: 'pi_known',
      amount: 700,
      id: 're_2',
      status: 'failed',
    });

    // Act
    const updated = await translate(refundEvent('refund.updated', failed));
    const charged = await translate(
      chargeRefundedEvent({ paymentIntentId: 'pi_known', paid: 5000, refunds: [failed] }),
    );

    // Assess
    for (const translation of [updated, charged]) {
      expect(translation).toMatchObject({
        commands: [{ reversal: { key: 'refund#re_2', undo: true } }],
      });
    }
  });

  it('C22: a credit note names its refunds and its own part, with its invoice and customer', async () => {
    // Act
    const translation = await translate(
      creditNoteEvent({
        id: 'cn_1',
        invoiceId: 'in_1',
        customerId: 'cus_2',
        amount: 1000,
        refunds: [{ refundId: 're_3', amount: 600 }],
      }),
    );

    // Assess
    expect(translation).toMatchObject({
      commands: [
        { reversal: { customerId: 'cus_2', purchaseId: 'in_1', key: 'refund#re_3', amount: 600 } },
        { reversal: { key: 'credit_note#cn_1', amount: 400, undo: false } },
      ],
    });
  });

  it('C22: a credit note issued before payment gives no money back', async () => {
    // Prepare
    const event = creditNoteEvent({ invoiceId: 'in_1', customerId: 'cus_2', amount: 1000 });
    const note = (event.data as { object: Record<string, unknown> }).object;
    note.type = 'pre_payment';

    // Act
    const translation = await translate(event);

    // Assess
    expect(translation.kind).toBe('ignored');
  });

  it.each([
    ['charge.dispute.funds_withdrawn', 'needs_response', false],
    ['charge.dispute.funds_reinstated', 'won', true],
    ['charge.dispute.closed', 'won', true],
    ['charge.dispute.closed', 'lost', false],
  ])('C22 C23: %s (%s) is a reversal of the dispute, undone: %s', async (type, status, undo) => {
    // Act
    const translation = await translate(
      disputeEvent(type, { id: 'dp_1', paymentIntentId: 'pi_known', amount: 5000, status }),
    );

    // Assess
    expect(translation).toMatchObject({
      commands: [{ reversal: { key: 'dispute#dp_1', amount: 5000, undo } }],
    });
  });

  it('a dispute closed without money moving (an inquiry) is ignored', async () => {
    // Act
    const translation = await translate(
      disputeEvent('charge.dispute.closed', {
        id: 'dp_2',
        paymentIntentId: 'pi_known',
        amount: 5000,
        status: 'warning_closed',
      }),
    );

    // Assess
    expect(translation.kind).toBe('ignored');
  });

  it('C24: the payment intent an invoice payload lists is kept with its grant', async () => {
    // Prepare
    const event = paidInvoiceEvent({
      customerId: 'cus_3',
      subscriptionId: 'sub_3',
      lines: [{ priceId: 'price_pro', periodStart: '2026-11-01T00:00:00Z' }],
    });
    const invoice = (event.data as { object: Record<string, unknown> }).object;
    invoice.payments = { data: [{ payment: { type: 'payment_intent', payment_intent: 'pi_3' } }] };

    // Act
    const translation = await translate(event);

    // Assess
    expect(translation).toMatchObject({ commands: [{ grant: { paymentIntentId: 'pi_3' } }] });
  });
});

import { describe, expect, it } from 'vitest';
import { stripeSample } from '../fixtures/stripe-objects';

describe('stripeSample', () => {
  it.each([
    'charge',
    'checkout.session',
    'credit_note',
    'customer',
    'discount',
    'dispute',
    'event',
    'invoice',
    'invoice_payment',
    'invoiceitem',
    'line_item',
    'price',
    'promotion_code',
    'refund',
    'subscription',
  ])('serves the committed %s sample as that kind of Stripe object', (resource) => {
    // Act
    const sample = stripeSample(resource);

    // Assess
    expect(typeof sample.id).toBe('string');
    expect(sample.object).toBe(resource);
  });

  it('hands out a copy, so one test changing a sample never leaks into another', () => {
    // Prepare
    const first = stripeSample('invoice');
    (first.lines as { data: unknown[] }).data.length = 0;
    first.id = 'in_changed';

    // Act
    const second = stripeSample('invoice');

    // Assess
    expect(second.id).not.toBe('in_changed');
    expect((second.lines as { data: unknown[] }).data.length).toBeGreaterThan(0);
  });

  it('names the missing resource instead of returning nothing', () => {
    expect(() => stripeSample('no_such_resource')).toThrow(/no resource "no_such_resource"/);
  });
});

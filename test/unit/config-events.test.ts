import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';

describe('Function: loadConfig (C27 events, Stripe through EventBridge)', () => {
  it('C27 has DESIGN.md defaults: threshold 10, notices 7 days ahead, test mode, no bus', () => {
    // Act
    const config = loadConfig({});
    // Assess
    expect(config).toMatchObject({
      lowBalanceThreshold: 10,
      expiringNoticeDays: 7,
      stripeLivemode: false,
    });
    expect(config.eventBusName).toBeUndefined();
    expect(config.stripeEventSource).toBeUndefined();
  });

  it('C27 reads the bus, the threshold, the notice days, the partner source and the mode', () => {
    // Act
    const config = loadConfig({
      EVENT_BUS_NAME: 'image-credits-prod',
      LOW_BALANCE_THRESHOLD: '25',
      EXPIRING_NOTICE_DAYS: '3',
      STRIPE_EVENT_SOURCE: 'aws.partner/stripe.com/ed_61T2k3',
      STRIPE_LIVEMODE: 'TRUE',
    });
    // Assess
    expect(config).toMatchObject({
      eventBusName: 'image-credits-prod',
      lowBalanceThreshold: 25,
      expiringNoticeDays: 3,
      stripeEventSource: 'aws.partner/stripe.com/ed_61T2k3',
      stripeLivemode: true,
    });
  });

  it.each([
    ['LOW_BALANCE_THRESHOLD', 'ten'],
    ['LOW_BALANCE_THRESHOLD', '-1'],
    ['LOW_BALANCE_THRESHOLD', '2.5'],
    ['EXPIRING_NOTICE_DAYS', '0'],
    ['EXPIRING_NOTICE_DAYS', '366'],
    ['STRIPE_LIVEMODE', 'yes'],
    ['STRIPE_EVENT_SOURCE', 'aws.partner/example.com/x'],
    ['STRIPE_EVENT_SOURCE', 'stripe'],
  ])('refuses %s=%s, naming it', (name, value) => {
    // Act / Assess
    expect(() => loadConfig({ [name]: value })).toThrow(
      expect.objectContaining({ name: 'ConfigError' }),
    );
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});

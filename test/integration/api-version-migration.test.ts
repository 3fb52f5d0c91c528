import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { loadConfig } from '../../lib/config';
import { balanceOf } from '../../lib/ledger/queries';
import { capturingLogger } from '../../lib/log';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { acceptedApiVersions, isReadableApiVersion } from '../../lib/stripe/events';
import {
  ms,
  paidInvoiceEvent,
  SUPPORTED_API_VERSION,
  signedApiGatewayEvent,
} from '../support/stripe-events';
import { freshTable } from '../support/table';

const NOW = '2026-11-01T00:10:00Z';
/** The endpoint's version before the `stripe` upgrade: the release before the pinned one. */
const OLD_VERSION = '2026-09-30.endive';
/** The old endpoint's secret, and the new endpoint's (created at the pinned version). */
const OLD_ENDPOINT_SECRET = 'whsec_old_endpoint_0123456789abcdef';
const NEW_ENDPOINT_SECRET = 'whsec_new_endpoint_fedcba9876543210';
const CONTEXT = { awsRequestId: 'req-migration' } as Context;

/**
 * The documented move to a new Stripe API version without refusing deliveries (docs/runbooks.md,
 * "Moving to a new Stripe API version"): while both endpoints deliver, the webhook accepts the
 * old endpoint's version (STRIPE_ACCEPTED_API_VERSIONS) and both secrets, and every event is
 * applied once whichever endpoint's copy arrives first.
 */
describe('Moving the webhook to a new Stripe API version', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  beforeEach(async () => {
    table = await freshTable('api-migration');
  });
  afterEach(async () => table.drop());

  function webhook(env: Record<string, string>) {
    const config = loadConfig({
      STRIPE_WEBHOOK_SECRET: `${NEW_ENDPOINT_SECRET},${OLD_ENDPOINT_SECRET}`,
      PLAN_CREDITS: JSON.stringify({ price_plan: 500 }),
      ...env,
    });
    const ledger = { db: table.db, tableName: table.tableName, clock: () => ms(NOW) };
    const deps = webhookDepsFromConfig(config, ledger, capturingLogger().logger);
    return createStripeWebhookHandler(() => deps);
  }

  /** One Stripe event as each endpoint delivers it: the same id, rendered in its version. */
  function copies(customerId: string) {
    const event = (apiVersion: string) =>
      paidInvoiceEvent({
        eventId: `evt_${customerId}`,
        invoiceId: `in_${customerId}`,
        customerId,
        subscriptionId: `sub_${customerId}`,
        lines: [{ priceId: 'price_plan', periodStart: '2026-11-01T00:00:00Z', lineId: 'il_1' }],
        apiVersion,
      });
    const timestamp = Math.floor(ms(NOW) / 1000);
    return {
      old: signedApiGatewayEvent(event(OLD_VERSION), { secret: OLD_ENDPOINT_SECRET, timestamp }),
      pinned: signedApiGatewayEvent(event(SUPPORTED_API_VERSION), {
        secret: NEW_ENDPOINT_SECRET,
        timestamp,
      }),
    };
  }

  const statusOf = async (
    handler: ReturnType<typeof webhook>,
    request: ReturnType<typeof copies>['old'],
  ) => {
    const response = await handler(request, CONTEXT);
    return [response.statusCode, JSON.parse(response.body ?? '{}').outcome];
  };

  it('without the old version accepted, the old endpoint is refused (400, Stripe retries)', async () => {
    // Act / Assess
    const handler = webhook({});
    const { old, pinned } = copies('cus_1');
    expect(await statusOf(handler, old)).toEqual([400, undefined]);
    expect(await statusOf(handler, pinned)).toEqual([200, 'applied']);
  });

  it('C3/C16 during the migration both versions are accepted, and the event grants once', async () => {
    // Prepare
    const handler = webhook({ STRIPE_ACCEPTED_API_VERSIONS: OLD_VERSION });
    const first = copies('cus_1');
    const second = copies('cus_2');
    // Act: either endpoint's copy may come first.
    const results = [
      await statusOf(handler, first.old),
      await statusOf(handler, first.pinned),
      await statusOf(handler, second.pinned),
      await statusOf(handler, second.old),
    ];
    // Assess
    expect(results).toEqual([
      [200, 'applied'],
      [200, 'already_applied'],
      [200, 'applied'],
      [200, 'already_applied'],
    ]);
    expect((await balanceOf(table, 'cus_1', ms(NOW))).balance).toBe(500);
    expect((await balanceOf(table, 'cus_2', ms(NOW))).balance).toBe(500);
  });

  it('after the migration, the old version is refused again', async () => {
    // Act / Assess: acceptedApiVersions emptied, the old secret removed.
    const handler = webhook({ STRIPE_WEBHOOK_SECRET: NEW_ENDPOINT_SECRET });
    const { old, pinned } = copies('cus_1');
    expect(await statusOf(handler, old)).toEqual([400, undefined]);
    expect(await statusOf(handler, pinned)).toEqual([200, 'applied']);
  });

  it('only versions this build can read may be accepted: the same major, or checked by hand', () => {
    // Act / Assess
    expect(isReadableApiVersion(OLD_VERSION)).toBe(true);
    expect(isReadableApiVersion('2026-08-26.dahlia')).toBe(false);
    expect(() => acceptedApiVersions(['2026-08-26.dahlia'])).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringContaining('cannot read payloads of 2026-08-26.dahlia'),
      }),
    );
    expect(() => acceptedApiVersions(['latest'])).toThrow('STRIPE_ACCEPTED_API_VERSIONS');
  });
});

import { format } from 'node:util';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackfillHandler } from '../../functions/backfill';
import { createCreditsHandler } from '../../functions/credits';
import { createRolloverHandler } from '../../functions/rollover';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { capturingLogger } from '../../lib/log';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { FaultKind, faultyStore, quickRetries, sdkDefaultMaxAttempts } from '../support/faults';
import {
  apiGatewayEvent,
  ms,
  paidInvoiceEvent,
  signedRequest,
  stripeEvent,
  stripeFixture,
  subscriptionDeletedEvent,
  subscriptionUpdatedEvent,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable, localClientConfig } from '../support/table';

/**
 * Log hygiene (issue 7, "Security"): a varied run of every function (signed deliveries whose
 * payloads carry a customer's email, name, address and phone; bad signatures; a secret that is
 * not configured; stale and missing signatures; faults in DynamoDB and in the Stripe API;
 * spends; referral codes; the expiry job; a backfill of inline and listed events) while every
 * line is captured twice over: each handler that takes a logger gets a capturing one
 * (lib/log.ts), and process.stdout/stderr and the console are intercepted for the whole run
 * (the expiry job and the SDK log there). Errors that an invoked function throws are added,
 * since Lambda logs them too. Then no line may hold a secret, a signature, an email address or
 * a payload, and the lines that must be there (event id, type, outcome) are.
 */

// Each secret ends in 6 mixed-case characters that no id or word in a log holds by chance, so
// that a masked tail (`whsec_...KqZx7W`) is caught too.
const OLD_SECRET = 'whsec_logcheckOLD0123456789abcdefghijKqZx7W';
const NEW_SECRET = 'whsec_logcheckNEW9876543210zyxwvutsrVbJh3Y';
/** Signs deliveries from someone who does not have our secret. */
const WRONG_SECRET = 'whsec_logcheckWRONGaaaabbbbccccddddPmTn5R';
const STRIPE_SECRET_KEY = 'sk_test_logcheck51HxYzAbCdEfGhIjKlMnOpUvWq8Z';
const WEBHOOK_SECRETS = [OLD_SECRET, NEW_SECRET];

const PRO = 'price_log_pro_500';
const FROM_STRIPE = 'price_log_meta_250';
const UNKNOWN_PRICE = 'price_log_unknown';
const MARCH = '2026-03-01T08:00:00Z';
const NOW = '2026-03-10T12:00:00Z';
const EXPIRY_RUN_AT = '2026-07-01T00:00:00Z';

/** What a customer's Stripe objects carry and a log must never repeat. */
const PII = {
  email: 'jane.doe+credits@example.org',
  otherEmail: 'ops-contact@mail.example.net',
  name: 'Jane Quinn Customer',
  line1: '1234 Hushhush Lane',
  phone: '+1 555 0100 4242',
};
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;
const REQUEST_ID = 'req-log-hygiene-0001';
const LAMBDA_CONTEXT = {
  awsRequestId: REQUEST_ID,
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;

type Json = Record<string, unknown>;

/** A customer's contact details on an invoice, the way Stripe copies them there. */
function withPii(event: Json): Json {
  const data = event.data as { object: Json };
  const address = { line1: PII.line1, city: 'Springfield', postal_code: '12345', country: 'US' };
  data.object = {
    ...data.object,
    customer_email: PII.email,
    customer_name: PII.name,
    customer_phone: PII.phone,
    customer_address: address,
    customer_shipping: { name: PII.name, phone: PII.phone, address },
    description: `Thanks! Questions: ${PII.otherEmail}`,
  };
  return event;
}

function invoiceEvent(
  customerId: string,
  options: Partial<Parameters<typeof paidInvoiceEvent>[0]> = {},
) {
  return withPii(
    paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_${customerId}`,
      invoiceId: `in_${customerId}`,
      lines: [{ priceId: PRO, periodStart: MARCH, lineId: 'il_1' }],
      ...options,
    }),
  );
}

/** Every write to stdout/stderr and every console call, swallowed and kept. */
function interceptOutput() {
  const captured: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const grab = ((chunk: unknown, ...rest: unknown[]) => {
    captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
    const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = grab;
  process.stderr.write = grab;
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
  const saved = methods.map((method) => console[method]);
  for (const method of methods) {
    console[method] = (...args: unknown[]) => {
      captured.push(format(...args));
    };
  }
  return {
    captured,
    restore() {
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
      methods.forEach((method, index) => {
        console[method] = saved[index] as (typeof console)[typeof method];
      });
    },
  };
}

type Delivery = {
  readonly what: string;
  readonly eventId?: string;
  readonly type?: string;
  readonly statusCode: number;
  readonly body: Json;
};

describe('Log hygiene over a varied run of every function (security)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let stripe: StripeFake;
  const log = capturingLogger();
  const deliveries: Delivery[] = [];
  /** Every Stripe-Signature header sent, and every raw body. */
  const signatures: string[] = [];
  const bodies: string[] = [];
  /** Errors invoked functions threw (Lambda logs them as the invocation's error). */
  const thrown: string[] = [];
  let output: string[] = [];
  let lines: string[] = [];

  beforeAll(async () => {
    table = await freshTable('log-hygiene');
    stripe = await startStripeFake({ prices: { [FROM_STRIPE]: { credits: '250' } } });
    const intercept = interceptOutput();
    try {
      await variedRun();
    } finally {
      intercept.restore();
    }
    output = intercept.captured;
    lines = [...log.raw, ...output, ...thrown];
  });
  afterAll(async () => {
    await stripe?.stop();
    await table?.drop();
  });

  async function variedRun() {
    const ledger: LedgerDeps = { db: table.db, tableName: table.tableName, clock: () => ms(NOW) };
    const config = {
      planCredits: { [PRO]: 500 },
      webhookSecrets: WEBHOOK_SECRETS,
      stripeSecretKey: STRIPE_SECRET_KEY,
      stripeApiBase: stripe.apiBase,
    };
    const deps = webhookDepsFromConfig(config, ledger, log.logger);
    const webhook = createStripeWebhookHandler(() => deps);
    const credits = createCreditsHandler(() => ledger);
    const invoke = async (what: string, run: () => Promise<unknown>) => {
      try {
        return await run();
      } catch (error) {
        const fault = error as Error;
        thrown.push(`${what}: ${fault.name}: ${fault.message}\n${fault.stack ?? ''}`);
        return undefined;
      }
    };

    async function post(what: string, request: APIGatewayProxyEventV2, event?: Json) {
      const response = await webhook(request, LAMBDA_CONTEXT);
      deliveries.push({
        what,
        ...(event && { eventId: event.id as string, type: event.type as string }),
        statusCode: response.statusCode ?? 0,
        body: JSON.parse(response.body ?? 'null') as Json,
      });
      return response.statusCode;
    }
    function signed(event: Json | string, secret = NEW_SECRET, at = NOW) {
      const request = signedRequest(event, { secret, timestamp: Math.floor(ms(at) / 1000) });
      signatures.push(request.signature);
      bodies.push(request.body);
      return request;
    }
    const deliver = (what: string, event: Json, secret = NEW_SECRET) =>
      post(what, apiGatewayEvent(signed(event, secret)), event);

    // Grants, a duplicate, both secrets of a rotation, and a referral by code (C9, C10).
    const first = invoiceEvent('cus_log_a');
    await deliver('first invoice', first);
    await deliver('duplicate', first);
    await deliver('signed with the old secret', invoiceEvent('cus_log_b'), OLD_SECRET);
    const code = (await credits(
      { action: 'referralCode', customerId: 'cus_log_a' },
      LAMBDA_CONTEXT,
    )) as {
      code: string;
    };
    await deliver(
      'referral',
      invoiceEvent('cus_log_c', {
        metadata: { referral_code: code.code, referred_by: PII.otherEmail },
      }),
    );
    await deliver(
      'price from Stripe metadata',
      invoiceEvent('cus_log_d', {
        lines: [{ priceId: FROM_STRIPE, periodStart: MARCH, lineId: 'il_1' }],
      }),
    );

    // Refusals: a body changed after signing, a secret we do not have, stale, missing, garbage.
    const tampered = signed(invoiceEvent('cus_log_x'));
    await post(
      'tampered body',
      apiGatewayEvent({
        body: tampered.body.replace('cus_log_x', 'cus_log_y'),
        headers: tampered.headers,
      }),
    );
    await post('wrong secret', apiGatewayEvent(signed(invoiceEvent('cus_log_x'), WRONG_SECRET)));
    await post(
      'stale signature',
      apiGatewayEvent(signed(invoiceEvent('cus_log_x'), NEW_SECRET, '2026-03-10T11:00:00Z')),
    );
    const unsigned = signed(invoiceEvent('cus_log_x'));
    await post(
      'no signature',
      apiGatewayEvent({
        body: unsigned.body,
        headers: { 'content-type': 'application/json' },
      }),
    );
    await post(
      'garbage signature',
      apiGatewayEvent({
        body: unsigned.body,
        headers: { 'stripe-signature': `t=${Math.floor(ms(NOW) / 1000)},v1=${'ab'.repeat(32)}` },
      }),
    );
    await post(
      'signed, not JSON',
      apiGatewayEvent(signed(`customer_email=${PII.email}&name=${PII.name}`)),
    );
    await post(
      'signed, not an event',
      apiGatewayEvent(signed({ email: PII.email, name: PII.name })),
    );
    const otherVersion = invoiceEvent('cus_log_x', { apiVersion: '2020-08-27' });
    await post('other API version', apiGatewayEvent(signed(otherVersion)), otherVersion);

    // Faults: an unknown price, the Stripe API failing, DynamoDB throttling past the retries.
    const unknown = invoiceEvent('cus_log_e', {
      lines: [{ priceId: UNKNOWN_PRICE, periodStart: MARCH, lineId: 'il_1' }],
    });
    await deliver('unknown price', unknown);
    const stripeDown = invoiceEvent('cus_log_f', {
      lines: [{ priceId: 'price_log_meta_other', periodStart: MARCH, lineId: 'il_1' }],
    });
    stripe.failNext(500, 1);
    await deliver('Stripe API failing', stripeDown);
    stripe.prices.set('price_log_meta_other', { credits: '100' });
    await deliver('Stripe API back', stripeDown);
    const maxAttempts = await sdkDefaultMaxAttempts();
    const faulty = faultyStore(table, localClientConfig(), {
      maxAttempts,
      retryStrategy: (await quickRetries(maxAttempts))(),
    });
    try {
      const faultyDeps = webhookDepsFromConfig(
        config,
        { ...faulty.deps, clock: () => ms(NOW) },
        log.logger,
      );
      const throttled = createStripeWebhookHandler(() => faultyDeps);
      const event = invoiceEvent('cus_log_g');
      const request = apiGatewayEvent(signed(event));
      faulty.faults.fail({
        operation: 'TransactWriteItems',
        kind: FaultKind.throttle,
        times: maxAttempts,
      });
      for (const what of ['DynamoDB throttled', 'DynamoDB back']) {
        const response = await throttled(request, LAMBDA_CONTEXT);
        deliveries.push({
          what,
          eventId: event.id as string,
          type: event.type as string,
          statusCode: response.statusCode ?? 0,
          body: JSON.parse(response.body ?? 'null') as Json,
        });
      }
      expect(faulty.faults.requests.some((seen) => seen.fault === FaultKind.throttle)).toBe(true);
    } finally {
      faulty.destroy();
    }

    // Other event types: an unhandled one full of contact details, payment trouble, an end.
    const customer = {
      ...stripeFixture('customer'),
      id: 'cus_log_a',
      email: PII.email,
      name: PII.name,
      phone: PII.phone,
      address: { line1: PII.line1, city: 'Springfield', postal_code: '12345', country: 'US' },
    };
    await deliver('unhandled type', stripeEvent({ type: 'customer.updated', object: customer }));
    await deliver(
      'past due',
      subscriptionUpdatedEvent({
        customerId: 'cus_log_b',
        subscriptionId: 'sub_cus_log_b',
        status: 'past_due',
        metadata: { contact: PII.email },
      }),
    );
    await deliver(
      'ended',
      subscriptionDeletedEvent({
        customerId: 'cus_log_b',
        subscriptionId: 'sub_cus_log_b',
        endedAt: '2026-03-09T00:00:00Z',
        metadata: { contact: PII.email },
      }),
    );

    // The credits function: spends, a refusal, a reused key, bad input, views, ops actions.
    const creditsCalls: [string, Json][] = [
      ['spend', { action: 'consume', customerId: 'cus_log_a', amount: 3, idempotencyKey: 'img-1' }],
      [
        'spend again',
        { action: 'consume', customerId: 'cus_log_a', amount: 3, idempotencyKey: 'img-1' },
      ],
      [
        'key reused',
        { action: 'consume', customerId: 'cus_log_a', amount: 4, idempotencyKey: 'img-1' },
      ],
      [
        'too much',
        { action: 'consume', customerId: 'cus_log_a', amount: 100_000, idempotencyKey: 'img-2' },
      ],
      [
        'bad amount',
        { action: 'consume', customerId: 'cus_log_a', amount: -1, idempotencyKey: PII.email },
      ],
      ['bad action', { action: 'email', customerId: PII.email }],
      ['balance', { action: 'balance', customerId: 'cus_log_a' }],
      ['ledger', { action: 'ledger', customerId: 'cus_log_a' }],
      [
        'adjust',
        {
          action: 'adjust',
          customerId: 'cus_log_a',
          amount: 5,
          reason: 'goodwill',
          idempotencyKey: 'ops-1',
        },
      ],
      ['audit', { action: 'audit', now: NOW }],
    ];
    for (const [what, request] of creditsCalls) {
      await invoke(`credits ${what}`, () => credits(request, LAMBDA_CONTEXT));
    }

    // The expiry job (it logs to stderr), as of a time after every lot has expired.
    // The job runs when its time comes: a real run never runs ahead of the clock.
    const rollover = createRolloverHandler(() => ({ ...ledger, clock: () => ms(EXPIRY_RUN_AT) }));
    await invoke('rollover', () => rollover({}, LAMBDA_CONTEXT));
    await invoke('rollover bad input', () => rollover({ now: PII.email }, LAMBDA_CONTEXT));

    // Backfill: inline events (one already applied, one in another version, one failing), and
    // a range from the Events API (the Stripe key at work).
    const backfill = createBackfillHandler(() => deps);
    const inline = [invoiceEvent('cus_log_h'), first, otherVersion, unknown];
    bodies.push(...inline.map((event) => JSON.stringify(event)));
    await invoke('backfill inline', () => backfill({ events: inline }, LAMBDA_CONTEXT));
    stripe.events.push(
      invoiceEvent('cus_log_i'),
      invoiceEvent('cus_log_j', { apiVersion: '2019-01-01' }),
    );
    await invoke('backfill range', () =>
      backfill({ since: '2026-02-01T00:00:00Z', until: '2026-04-01T00:00:00Z' }, LAMBDA_CONTEXT),
    );
  }

  /** A secret, without its prefix, and its tail (what a masked form like `whsec_...KqZx7W` shows). */
  const secretForms = (secret: string) => [secret, secret.replace(/^whsec_/, ''), secret.slice(-6)];

  it('the run was varied: 2xx, 4xx and 5xx deliveries, thrown invoke errors, stderr lines (C16)', () => {
    expect(deliveries.map((delivery) => [delivery.what, delivery.statusCode])).toEqual([
      ['first invoice', 200],
      ['duplicate', 200],
      ['signed with the old secret', 200],
      ['referral', 200],
      ['price from Stripe metadata', 200],
      ['tampered body', 400],
      ['wrong secret', 400],
      ['stale signature', 400],
      ['no signature', 400],
      ['garbage signature', 400],
      ['signed, not JSON', 400],
      ['signed, not an event', 400],
      ['other API version', 400],
      ['unknown price', 500],
      ['Stripe API failing', 502],
      ['Stripe API back', 200],
      ['DynamoDB throttled', 503],
      ['DynamoDB back', 200],
      ['unhandled type', 200],
      ['past due', 200],
      ['ended', 200],
    ]);
    expect(thrown.length).toBeGreaterThanOrEqual(3);
    expect(output.some((line) => line.includes('expiry run finished'))).toBe(true);
    expect(log.raw.length).toBeGreaterThanOrEqual(deliveries.length);
  });

  it('no line holds a webhook secret (configured or not), its body or its tail', () => {
    for (const secret of [...WEBHOOK_SECRETS, WRONG_SECRET]) {
      for (const form of secretForms(secret)) {
        expect(lines.filter((line) => line.includes(form))).toEqual([]);
      }
    }
  });

  it('no line holds the Stripe secret key or its tail', () => {
    for (const form of [
      STRIPE_SECRET_KEY,
      STRIPE_SECRET_KEY.replace(/^sk_test_/, ''),
      STRIPE_SECRET_KEY.slice(-6),
    ]) {
      expect(lines.filter((line) => line.includes(form))).toEqual([]);
    }
  });

  it('no line holds a Stripe-Signature header or any of its v1= signatures', () => {
    expect(signatures.length).toBeGreaterThan(10);
    for (const header of signatures) {
      const signaturesInHeader = header.split(',').filter((part) => part.startsWith('v1='));
      for (const form of [
        header,
        ...signaturesInHeader,
        ...signaturesInHeader.map((v) => v.slice(3)),
      ]) {
        expect(lines.filter((line) => line.includes(form))).toEqual([]);
      }
    }
    expect(lines.filter((line) => /v1=[0-9a-f]{16}/.test(line))).toEqual([]);
  });

  it('no line holds an email address or other contact details', () => {
    expect(lines.filter((line) => EMAIL.test(line))).toEqual([]);
    for (const detail of [PII.name, PII.line1, PII.phone]) {
      expect(lines.filter((line) => line.includes(detail))).toEqual([]);
    }
  });

  it('no line holds a raw request body or a payload', () => {
    expect(bodies.length).toBeGreaterThan(10);
    for (const body of bodies) {
      expect(lines.filter((line) => line.includes(body.slice(0, 200)))).toEqual([]);
    }
    // Fields every Stripe object has and no log line of ours names.
    expect(lines.filter((line) => /"livemode"|"api_version"|"billing_reason"/.test(line))).toEqual(
      [],
    );
  });

  it('every line a function logs carries the Lambda request id (issue 16)', () => {
    const jsonLines = [...log.raw, ...output.flatMap((chunk) => chunk.split('\n'))]
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Json);
    expect(jsonLines.length).toBeGreaterThan(deliveries.length);
    expect(jsonLines.filter((line) => line.requestId !== REQUEST_ID)).toEqual([]);
  });

  it('every delivery is logged with what ops need: event id, type, outcome or status', () => {
    const parsed = log.lines();
    for (const delivery of deliveries) {
      const { statusCode, body } = delivery;
      if (statusCode === 200) {
        expect(parsed, delivery.what).toContainEqual(
          expect.objectContaining({
            message: 'stripe event processed',
            eventId: body.eventId,
            type: body.type,
            outcome: body.outcome,
          }),
        );
      } else if (statusCode >= 500) {
        expect(parsed, delivery.what).toContainEqual(
          expect.objectContaining({
            level: 'error',
            message: 'stripe delivery failed; Stripe will retry',
            eventId: delivery.eventId,
            type: delivery.type,
            status: statusCode,
          }),
        );
      } else {
        expect(parsed, delivery.what).toContainEqual(
          expect.objectContaining({
            message: 'stripe delivery refused',
            status: statusCode,
            error: expect.objectContaining({ name: body.error }),
          }),
        );
      }
    }
    expect(parsed).toContainEqual(
      expect.objectContaining({ message: 'backfill event failed', eventId: expect.any(String) }),
    );
    expect(parsed).toContainEqual(
      expect.objectContaining({ message: 'backfill finished', applied: expect.any(Number) }),
    );
  });
});

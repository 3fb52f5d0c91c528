import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backfillExitCode, parseBackfillRequest, runBackfill } from '../../lib/jobs/backfill';
import { balanceOf } from '../../lib/ledger/queries';
import { capturingLogger } from '../../lib/log';
import { processDepsFromConfig } from '../../lib/stripe/deps';
import { acceptedApiVersions } from '../../lib/stripe/events';
import {
  ms,
  paidInvoiceEvent,
  SUPPORTED_API_VERSION,
  subscriptionUpdatedEvent,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable } from '../support/table';

const NOW = '2026-10-20T00:00:00Z';
/** Another major release: payloads of other shapes, which this build never reads as they are. */
const OLD_MAJOR = '2025-03-31.basil';
/** The release before the pinned one, in the same major: readable, once accepted. */
const PREVIOUS_RELEASE = '2026-09-30.endive';

type Json = Record<string, unknown>;

function invoiceEvent(customerId: string, apiVersion: string) {
  return paidInvoiceEvent({
    eventId: `evt_${customerId}`,
    invoiceId: `in_${customerId}`,
    customerId,
    subscriptionId: `sub_${customerId}`,
    eventCreated: '2026-10-01T00:00:00Z',
    lines: [{ priceId: 'price_plan', periodStart: '2026-10-01T00:00:00Z', lineId: 'il_1' }],
    apiVersion,
  });
}

/** The invoice as the API returns it at the pinned version (what a re-read gets). */
function currentInvoice(event: Json): Json {
  return (event.data as { object: Json }).object;
}

describe('Job: backfill of events in other API versions', () => {
  let fake: StripeFake;
  let table: Awaited<ReturnType<typeof freshTable>>;
  const oldInvoice = invoiceEvent('cus_old', OLD_MAJOR);
  const previous = invoiceEvent('cus_prev', PREVIOUS_RELEASE);
  const update = subscriptionUpdatedEvent({
    customerId: 'cus_old',
    subscriptionId: 'sub_cus_old',
    status: 'canceled',
  });

  beforeAll(async () => {
    fake = await startStripeFake({
      invoices: {
        in_cus_old: currentInvoice(invoiceEvent('cus_old', SUPPORTED_API_VERSION)),
        in_cus_prev: currentInvoice(invoiceEvent('cus_prev', SUPPORTED_API_VERSION)),
      },
    });
  });
  afterAll(async () => fake.stop());
  beforeEach(async () => {
    table = await freshTable('backfill-versions');
  });
  afterEach(async () => table.drop());

  const deps = (accepted: string[] = []) => ({
    ...processDepsFromConfig(
      {
        planCredits: { price_plan: 100 },
        stripeApiBase: fake.apiBase,
        stripeSecretKey: 'sk_test_v',
      },
      { db: table.db, tableName: table.tableName, clock: () => ms(NOW) },
      capturingLogger().logger,
    ),
    acceptedApiVersions: acceptedApiVersions(accepted),
  });

  it('C17 re-reads a paid invoice of another major at the pinned version, and grants it', async () => {
    // Prepare
    const before = fake.requestsTo('/v1/invoices/in_cus_old').length;
    // Act
    const report = await runBackfill(deps(), parseBackfillRequest({ events: [oldInvoice] }));
    // Assess
    expect(report).toMatchObject({ ok: true, applied: 1, reread: 1, failed: 0 });
    expect(fake.requestsTo('/v1/invoices/in_cus_old').length).toBe(before + 1);
    expect((await balanceOf(table, 'cus_old', ms(NOW))).balance).toBe(100);
  });

  it('refuses to re-read a type whose object changes after the event, with advice that works', async () => {
    // Act
    const report = await runBackfill(
      deps(),
      parseBackfillRequest({ events: [{ ...update, api_version: OLD_MAJOR }] }),
    );
    // Assess
    expect(report).toMatchObject({ ok: false, failed: 1, reread: 0 });
    expect(report.failures[0]?.error).toMatch(/NotRereadableError: .*is not read again/);
    expect(report.failures[0]?.error).toContain('acceptedApiVersions');
    expect(report.failures[0]?.error).toContain(`api_version ${SUPPORTED_API_VERSION}`);
    expect(backfillExitCode(report)).toBe(1);
  });

  it('processes an accepted version as it is, without reading the object again', async () => {
    // Prepare
    const before = fake.requestsTo('/v1/invoices/in_cus_prev').length;
    // Act
    const report = await runBackfill(
      deps([PREVIOUS_RELEASE]),
      parseBackfillRequest({ events: [previous] }),
    );
    // Assess
    expect(report).toMatchObject({ ok: true, applied: 1, reread: 0 });
    expect(fake.requestsTo('/v1/invoices/in_cus_prev').length).toBe(before);
    expect(backfillExitCode(report)).toBe(0);
  });
});

describe('Function: backfillExitCode', () => {
  it.each([
    [{ ok: true, complete: true }, 0],
    [{ ok: false, complete: true }, 1],
    [{ ok: false, complete: false }, 1],
    [{ ok: true, complete: false }, 3],
    [null, 0],
  ])('%j exits %i', (report, code) => {
    expect(backfillExitCode(report)).toBe(code);
  });
});

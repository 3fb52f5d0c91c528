import { audit } from '../../lib/jobs/audit';
import { balanceOf } from '../../lib/ledger/queries';
import type { StoreDeps } from '../../lib/store/client';
import { creditsContainer, totalCalls, WEBHOOK_TIMEOUT_MS, webhookContainer } from './containers';
import { type DeliveryResult, deliver, deliverOk, firstInvoiceNow } from './deliveries';
import { PRO_PRICE } from './event-kinds';
import { quantile, round } from './stats';

/**
 * A popular code (issue 10): k first invoices carrying ONE referrer's code, delivered all at
 * once through the webhook handler, each by its own container (k concurrent deliveries are k
 * Lambda containers, each with a cold cache of code owners), each given the webhook's 20 s
 * timeout (serverless.yml) as its Lambda budget. `firstWave2xx` is how many got a 2xx within
 * that time: the rest Stripe would deliver again later. Afterwards the bench checks that every
 * referee applied got its 150 and the referrer 50 per applied referee, exactly, and that the
 * referrer's audit is clean.
 */
export type HotReferrerLevel = {
  readonly referees: number;
  readonly firstWave2xx: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly wallMs: number;
  /** DynamoDB commands per delivery, retries included. */
  readonly callsPerDelivery: number;
};

/** Referee's BASIC plan: 100 credits, a bonus of 50 for each side (C11). */
const REFEREE_CREDITS = 100;
const BONUS = 50;
/** The referrer's own PRO plan. */
const REFERRER_CREDITS = 500;

export async function measureHotReferrer(options: {
  readonly endpoint: string;
  readonly tableName: string;
  readonly store: StoreDeps;
  readonly levels: readonly number[];
  readonly progress: (line: string) => void;
}): Promise<HotReferrerLevel[]> {
  const rows: HotReferrerLevel[] = [];
  for (const referees of options.levels) {
    const row = await oneWave(options, referees);
    options.progress(
      `hot referrer k=${referees}: ${row.firstWave2xx}/${referees} 2xx in the first wave, p99 ${row.p99Ms} ms`,
    );
    rows.push(row);
  }
  return rows;
}

/** A referrer with a code, made through the real entry points (not measured). */
export async function referrerWithCode(
  endpoint: string,
  tableName: string,
  referrerId: string,
): Promise<string> {
  const webhook = webhookContainer(endpoint, tableName);
  const credits = creditsContainer(endpoint, tableName);
  try {
    await deliverOk(webhook, firstInvoiceNow(referrerId, { priceId: PRO_PRICE }));
    const { code } = (await credits.invoke({ action: 'referralCode', customerId: referrerId })) as {
      code: string;
    };
    return code;
  } finally {
    webhook.destroy();
    credits.destroy();
  }
}

async function oneWave(
  options: { endpoint: string; tableName: string; store: StoreDeps },
  referees: number,
): Promise<HotReferrerLevel> {
  const label = `${referees}_${Date.now()}`;
  const referrerId = `cus_popular_${label}`;
  const code = await referrerWithCode(options.endpoint, options.tableName, referrerId);
  const ids = Array.from({ length: referees }, (_, index) => `cus_referee_${label}_${index}`);
  const wave = ids.map((id) => ({
    container: webhookContainer(options.endpoint, options.tableName),
    event: firstInvoiceNow(id, { code }),
  }));
  try {
    const startMs = performance.now();
    const results = await Promise.all(wave.map((each) => deliver(each.container, each.event)));
    const wallMs = performance.now() - startMs;
    await checkWave(options.store, referrerId, ids);
    const calls = totalCalls(wave.map((each) => each.container.counter)).calls;
    return summarise(referees, results, wallMs, calls);
  } finally {
    for (const each of wave) each.container.destroy();
  }
}

/** Every referee applied has its 150, the referrer exactly 50 per applied referee (C11, C14). */
async function checkWave(store: StoreDeps, referrerId: string, refereeIds: readonly string[]) {
  const nowMs = Date.now();
  let applied = 0;
  for (const id of refereeIds) {
    const balance = (await balanceOf(store, id, nowMs)).balance;
    if (balance === REFEREE_CREDITS + BONUS) applied += 1;
    else if (balance !== 0) throw new Error(`referee ${id} has ${balance}, neither 0 nor 150`);
  }
  const referrer = (await balanceOf(store, referrerId, nowMs)).balance;
  if (referrer !== REFERRER_CREDITS + BONUS * applied) {
    throw new Error(`referrer has ${referrer}, expected ${REFERRER_CREDITS + BONUS * applied}`);
  }
  const report = await audit(store, { customerId: referrerId });
  if (report.problems.length > 0) throw new Error(`referrer audit: ${JSON.stringify(report)}`);
}

function summarise(
  referees: number,
  results: readonly DeliveryResult[],
  wallMs: number,
  calls: number,
): HotReferrerLevel {
  const statuses: Record<string, number> = {};
  for (const result of results) statuses[result.status] = (statuses[result.status] ?? 0) + 1;
  const inTime = results.filter(
    (result) => result.status >= 200 && result.status < 300 && result.ms <= WEBHOOK_TIMEOUT_MS,
  );
  const times = results.map((result) => result.ms);
  return {
    referees,
    firstWave2xx: inTime.length,
    statuses,
    p50Ms: Math.round(quantile(times, 0.5)),
    p99Ms: Math.round(quantile(times, 0.99)),
    maxMs: Math.round(Math.max(...times)),
    wallMs: Math.round(wallMs),
    callsPerDelivery: round(calls / referees, 2),
  };
}

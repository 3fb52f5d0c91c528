import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { normalizeReferralCode, redeem } from '../../lib/credits/referral';
import { type CustomerState, emptyState, stateAfter } from '../../lib/credits/state';
import { audit } from '../../lib/jobs/audit';
import { balanceOf } from '../../lib/ledger/queries';
import { defaultBudget } from '../../lib/store/call';
import type { StoreDeps } from '../../lib/store/client';
import { ledgerEntryToItem, lotToItem } from '../../lib/store/items';
import { customerPk, STATE_PREFIX } from '../../lib/store/keys';
import { readState } from '../../lib/store/state';
import { readCapacityOf } from './capacity';
import { webhookContainer } from './containers';
import { deliver, firstInvoiceNow, grantAndRedemptionApplied } from './deliveries';
import { startRecordingProxy } from './dynamo-stand-in';
import { referrerWithCode } from './hot-referrer';
import { type Item, itemSize } from './item-size';
import { writeAll } from './seed';
import { snapshotPartition } from './snapshot';
import { median } from './stats';

/**
 * Referrals of one code (issue 10: "a code used by tens of thousands of customers must keep
 * working"): one referrer's referees, up to 10,000, with real first invoices delivered through
 * the webhook at checkpoints. Between checkpoints the referrer's side of each referral is
 * seeded as the items a referral writes for the referrer (its quiet bonus lot and ledger
 * entry, built by the same pure rules, lib/credits/referral.ts redeem, and the same codec),
 * because delivering 10,000 first invoices one by one on DynamoDB Local would take hours:
 * the referees' own items, which nothing of the referrer's reads, are not seeded. At each
 * checkpoint the probes must all succeed, the referrer's balance must be exact, and the
 * largest item of the referrer's partition must not have grown; the first checkpoint where
 * anything fails ends the run.
 */
export type PopularCodeCheckpoint = {
  /** Referees of the referrer when the probes ran (seeded and delivered). */
  readonly referees: number;
  readonly probes: number;
  readonly probes2xx: number;
  /** Median over probes: DynamoDB calls and read units of one referral. */
  readonly callsPerReferral: number;
  readonly rcuPerReferral: number;
  readonly medianMs: number;
  readonly maxMs: number;
  readonly largestItemBytes: number;
  /** What one read of the referrer's state returns (the Query every referral makes). */
  readonly referrerStateItems: number;
  readonly referrerStateBytes: number;
};

export type PopularCodeResult = {
  readonly referralsOfOneCode: number;
  readonly checkpoints: readonly PopularCodeCheckpoint[];
};

const BONUS = 50;
const REFERRER_CREDITS = 500;

type Run = {
  readonly store: StoreDeps;
  readonly raw: DynamoDBClient;
  readonly endpoint: string;
  readonly tableName: string;
  readonly referrerId: string;
  readonly code: string;
  referrer: CustomerState;
  referees: number;
};

export async function measurePopularCode(options: {
  readonly endpoint: string;
  readonly tableName: string;
  readonly store: StoreDeps;
  readonly raw: DynamoDBClient;
  readonly checkpoints: readonly number[];
  readonly probes: number;
  readonly progress: (line: string) => void;
}): Promise<PopularCodeResult> {
  const referrerId = `cus_one_code_${Date.now()}`;
  const code = await referrerWithCode(options.endpoint, options.tableName, referrerId);
  const run: Run = {
    ...options,
    referrerId,
    code: normalizeReferralCode(code) ?? code,
    referrer: (await readState(options.store, referrerId, defaultBudget())).state,
    referees: 0,
  };
  const checkpoints: PopularCodeCheckpoint[] = [];
  let processed = 0;
  for (const target of options.checkpoints) {
    await seedReferees(run, target - run.referees);
    const checkpoint = await probe(run, options.probes);
    checkpoints.push(checkpoint);
    options.progress(
      `one code: ${checkpoint.referees} referees, probes ${checkpoint.probes2xx}/${checkpoint.probes}, ${checkpoint.callsPerReferral} calls and ${checkpoint.rcuPerReferral} RCU per referral, largest item ${checkpoint.largestItemBytes} B`,
    );
    if (checkpoint.probes2xx < checkpoint.probes || !(await balanced(run))) break;
    processed = checkpoint.referees;
  }
  return { referralsOfOneCode: processed, checkpoints };
}

/** The referrer's side of `count` more referrals, as the webhook would have written it. */
async function seedReferees(run: Run, count: number): Promise<void> {
  if (count <= 0) return;
  const items: Record<string, unknown>[] = [];
  const nowMs = Date.now();
  for (let i = 0; i < count; i++) {
    const refereeId = `cus_seeded_${run.referees + i}`;
    const invoiceId = `in_${refereeId}_1`;
    const referee = {
      ...emptyState(refereeId),
      facts: { subscriptions: {}, firstPaidInvoice: { id: invoiceId, atMs: nowMs } },
    };
    const redemption = {
      invoiceId,
      code: run.code,
      purchaseCredits: 2 * BONUS,
      periodStartMs: nowMs - 60_000,
    };
    const change = redeem(referee, run.referrer, redemption, nowMs).referrer;
    if (!change?.quiet) throw new Error('a seeded bonus would not be written quietly');
    items.push(...change.created.map((lot) => lotToItem(run.referrerId, lot)));
    items.push(
      ...change.entries.map((entry, index) =>
        ledgerEntryToItem(run.referrerId, entry, nowMs - count + i, index),
      ),
    );
    run.referrer = stateAfter(run.referrer, change);
  }
  await writeAll(run.store, items);
  run.referees += count;
}

/** Real first invoices with the code, one after the other through one container. */
async function probe(run: Run, probes: number): Promise<PopularCodeCheckpoint> {
  const proxy = await startRecordingProxy(run.endpoint);
  const container = webhookContainer(proxy.endpoint, run.tableName);
  const results: { ok: boolean; ms: number; calls: number; rcu: number }[] = [];
  try {
    for (let i = 0; i < probes; i++) {
      const from = proxy.exchanges.length;
      const refereeId = `cus_probe_${run.referees}_${i}`;
      const result = await deliver(container, firstInvoiceNow(refereeId, { code: run.code }));
      const exchanges = proxy.exchanges.slice(from);
      const ok = grantAndRedemptionApplied(result);
      if (ok) run.referees += 1;
      results.push({ ok, ms: result.ms, calls: exchanges.length, rcu: readCapacityOf(exchanges) });
    }
  } finally {
    container.destroy();
    await proxy.close();
  }
  run.referrer = (await readState(run.store, run.referrerId, defaultBudget())).state;
  const partition = await snapshotPartition(run.raw, run.tableName, customerPk(run.referrerId));
  const state = [...partition.values()].filter((item) => item.sk?.S?.startsWith(STATE_PREFIX));
  return {
    referees: run.referees,
    probes,
    probes2xx: results.filter((result) => result.ok).length,
    callsPerReferral: median(results.map((result) => result.calls)),
    rcuPerReferral: median(results.map((result) => result.rcu)),
    medianMs: Math.round(median(results.map((result) => result.ms))),
    maxMs: Math.round(Math.max(...results.map((result) => result.ms))),
    largestItemBytes: Math.max(...[...partition.values()].map(itemSize)),
    referrerStateItems: state.length,
    referrerStateBytes: state.reduce((sum, item: Item) => sum + itemSize(item), 0),
  };
}

/** The referrer holds its own grant and exactly one bonus per referee, and audits clean. */
async function balanced(run: Run): Promise<boolean> {
  const balance = (await balanceOf(run.store, run.referrerId, Date.now())).balance;
  if (balance !== REFERRER_CREDITS + BONUS * run.referees) return false;
  return (await audit(run.store, { customerId: run.referrerId })).problems.length === 0;
}

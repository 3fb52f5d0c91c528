import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { createCreditsHandler } from '../../functions/credits';
import { freePort, startDynamoDbLocal } from '../../infra/local/dynamodb';
import { ensureTable } from '../../infra/table';
import { audit } from '../../lib/jobs/audit';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { balanceOf } from '../../lib/ledger/queries';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { createDocumentClient } from '../../lib/store/client';
import { createLotCache } from '../../lib/store/lot-cache';
import { median, round } from './stats';

/**
 * A hot customer holding credits (issue 14, C25): c concurrent callers, each running jobs of one
 * image in a closed loop through the `credits` handler (reserve 1 credit, then settle 1)
 * against DynamoDB Local. Each caller is its own Lambda container: production deps with the
 * container's own lot cache, so that a warm reserve and a warm settle cost one DynamoDB call
 * each, as a warm consume does. Each level has its own customer with plenty of credits in one
 * lot granted a month ago (the cache may plan on it). Levels take turns within a round; the
 * ratio to c=1 is taken within each round and its median reported. The bench then checks what
 * it measured: the balance is the grant less the credits settled, nothing is held, and the
 * audit is clean.
 *
 * For `npm run bench` (test/bench/run.ts can add `hotHold.{16,64}` from measureHotHold), or on
 * its own: `npx tsx test/bench/hot-hold.ts` prints the levels as JSON, with consumes measured
 * the same way beside them (HOT_HOLD_SECONDS=2 HOT_HOLD_ROUNDS=2 for a quick run).
 */
export type HotHoldLevel = {
  readonly concurrency: number;
  /** Credits consumed (settled) in the measured rounds. */
  readonly credits: number;
  readonly creditsPerSecond: number;
  /** Median over rounds of (credits/s at c) / (credits/s at c=1 in the same round). */
  readonly creditsPerSecondVsSerial: number;
  /** DynamoDB commands per consumed credit: a reserve and a settle, reads and retries included. */
  readonly callsPerCredit: number;
  /** Reserves or settles that failed (ContentionError, StoreError) or took past the timeout. */
  readonly giveUps: number;
  /** Of one invocation (a reserve or a settle). */
  readonly p50Ms: number;
  readonly p99Ms: number;
};

export type HotHoldOptions = {
  readonly endpoint: string;
  readonly tableName: string;
  readonly levels: readonly number[];
  readonly rounds: number;
  readonly secondsPerRound: number;
  /** `consume`: one consume per credit instead, the same harness's yardstick. */
  readonly job?: 'hold' | 'consume';
  readonly progress?: (line: string) => void;
};

/** Every job of every round at any level, so no reserve is ever refused. */
const GRANT_CREDITS = 10_000_000;
/** The `credits` function's timeout (serverless.yml): a later answer counts as a give-up. */
const CREDITS_TIMEOUT_MS = 10_000;
const WARM_UP_MS = 1_000;
const DAY_MS = 86_400_000;

type Container = {
  invoke(event: Record<string, unknown>): Promise<Record<string, unknown>>;
  calls(): number;
  destroy(): void;
};

/** One Lambda container: its own client (counting commands) and lot cache. */
function container(endpoint: string, tableName: string): Container {
  const db = createDocumentClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let calls = 0;
  db.middlewareStack.add(
    (next) => (args) => {
      calls += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  const deps: LedgerDeps = { db, tableName, lotCache: createLotCache() };
  const handler = createCreditsHandler(() => deps);
  return {
    async invoke(event) {
      const startedMs = Date.now();
      const context = {
        getRemainingTimeInMillis: () => CREDITS_TIMEOUT_MS - (Date.now() - startedMs),
      } as Context;
      return (await handler(event, context)) as Record<string, unknown>;
    },
    calls: () => calls,
    destroy: () => db.destroy(),
  };
}

type Level = {
  readonly job: 'hold' | 'consume';
  readonly concurrency: number;
  readonly customerId: string;
  readonly containers: readonly Container[];
  readonly latenciesMs: number[];
  readonly rates: number[];
  credits: number;
  settled: number;
  calls: number;
  giveUps: number;
  jobs: number;
};

export async function measureHotHold(options: HotHoldOptions): Promise<HotHoldLevel[]> {
  const store: LedgerDeps = {
    db: createDocumentClient(clientConfig(options.endpoint)),
    tableName: options.tableName,
  };
  const levels: Level[] = [];
  try {
    for (const concurrency of options.levels) levels.push(await setUp(options, store, concurrency));
    for (const level of levels) await runRound(level, WARM_UP_MS, false);
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? levels : [...levels].reverse();
      for (const level of order) await runRound(level, options.secondsPerRound * 1000, true);
      options.progress?.(
        `hot hold round ${round}/${options.rounds}: ${levels.map((level) => `c=${level.concurrency} ${Math.round(level.rates.at(-1) ?? 0)}/s`).join(', ')}`,
      );
    }
    for (const level of levels) await check(store, level);
    return levels.map((level) => summarise(level, levels[0] as Level));
  } finally {
    for (const level of levels) for (const each of level.containers) each.destroy();
    store.db.destroy();
  }
}

function clientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

async function setUp(
  options: HotHoldOptions,
  store: LedgerDeps,
  concurrency: number,
): Promise<Level> {
  const customerId = `cus_${options.job ?? 'hold'}_c${concurrency}_${Date.now()}`;
  const grantedAtMs = Date.now() - 30 * DAY_MS;
  const granted = await grantSubscriptionInvoice(store, {
    customerId,
    invoiceId: `in_${customerId}`,
    subscriptionId: `sub_${customerId}`,
    invoiceCreatedMs: grantedAtMs,
    lines: [{ lineId: 'il_1', credits: GRANT_CREDITS, periodStartMs: grantedAtMs }],
  });
  if (granted.status !== 'applied') throw new Error(`hot hold set-up: ${JSON.stringify(granted)}`);
  return {
    job: options.job ?? 'hold',
    concurrency,
    customerId,
    containers: Array.from({ length: concurrency }, () =>
      container(options.endpoint, options.tableName),
    ),
    latenciesMs: [],
    rates: [],
    credits: 0,
    settled: 0,
    calls: 0,
    giveUps: 0,
    jobs: 0,
  };
}

async function runRound(level: Level, durationMs: number, measured: boolean): Promise<void> {
  const callsBefore = level.containers.reduce((sum, each) => sum + each.calls(), 0);
  const startMs = performance.now();
  const endMs = startMs + durationMs;
  let credits = 0;
  await Promise.all(
    level.containers.map(async (each) => {
      while (performance.now() < endMs) {
        // Not `credits += await ...`: that reads `credits` before the await and loses updates.
        const consumed = await oneJob(level, each);
        credits += consumed;
      }
    }),
  );
  const elapsedMs = performance.now() - startMs;
  level.settled += credits;
  if (!measured) {
    level.latenciesMs.length = 0;
    level.giveUps = 0;
    return;
  }
  level.credits += credits;
  level.rates.push((credits * 1000) / elapsedMs);
  level.calls += level.containers.reduce((sum, each) => sum + each.calls(), 0) - callsBefore;
}

/** Reserve 1, settle 1 (or consume 1): the credits it consumed (0 when it gave up). */
async function oneJob(level: Level, each: Container): Promise<number> {
  level.jobs += 1;
  if (level.job === 'consume') {
    const key = `img-${level.jobs}`;
    const spent = await timed(level, () =>
      each.invoke({
        action: 'consume',
        customerId: level.customerId,
        amount: 1,
        idempotencyKey: key,
      }),
    );
    if (spent && spent.ok !== true)
      throw new Error(`a hot consume failed: ${JSON.stringify(spent)}`);
    return spent ? 1 : 0;
  }
  const job = { customerId: level.customerId, holdId: `job-${level.jobs}` };
  const held = await timed(level, () => each.invoke({ action: 'reserve', ...job, amount: 1 }));
  if (!held) return 0;
  if (held.ok !== true) throw new Error(`a hot reserve was refused: ${JSON.stringify(held)}`);
  // A settle that gives up is sent again, as the app would: the hold must not lapse unpaid.
  for (;;) {
    const settled = await timed(level, () => each.invoke({ action: 'settle', ...job, amount: 1 }));
    if (!settled) continue;
    if (settled.ok !== true) throw new Error(`a hot settle failed: ${JSON.stringify(settled)}`);
    return 1;
  }
}

async function timed(
  level: Level,
  call: () => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown> | undefined> {
  const startMs = performance.now();
  try {
    const answer = await call();
    const elapsedMs = performance.now() - startMs;
    level.latenciesMs.push(elapsedMs);
    if (elapsedMs > CREDITS_TIMEOUT_MS) level.giveUps += 1;
    return answer;
  } catch (error) {
    level.latenciesMs.push(performance.now() - startMs);
    const name = (error as Error).name;
    if (name !== 'ContentionError' && name !== 'StoreError') throw error;
    level.giveUps += 1;
    return undefined;
  }
}

/** The figures mean something only if every credit is accounted for (C14, C25). */
async function check(store: LedgerDeps, level: Level): Promise<void> {
  const view = await balanceOf(store, level.customerId, Date.now());
  const expected = GRANT_CREDITS - level.settled;
  // A reserve that gave up may have committed (its answer lost): its hold is still live.
  if (view.balance + view.held !== expected) {
    throw new Error(
      `hot hold c=${level.concurrency}: balance ${view.balance} + held ${view.held}, expected ${expected}`,
    );
  }
  const report = await audit(store, { customerId: level.customerId });
  if (report.problems.length > 0) {
    throw new Error(`hot hold c=${level.concurrency}: audit ${JSON.stringify(report.problems)}`);
  }
}

function quantile(values: readonly number[], q: number): number {
  const ordered = [...values].sort((a, b) => a - b);
  return ordered[Math.min(ordered.length - 1, Math.floor(q * ordered.length))] ?? Number.NaN;
}

function summarise(level: Level, serial: Level): HotHoldLevel {
  const ratios = level.rates.map((rate, i) => rate / (serial.rates[i] ?? Number.NaN));
  return {
    concurrency: level.concurrency,
    credits: level.credits,
    creditsPerSecond: round(median(level.rates), 1),
    creditsPerSecondVsSerial: round(median(ratios), 2),
    callsPerCredit: round(level.calls / Math.max(1, level.credits), 2),
    giveUps: level.giveUps,
    p50Ms: round(quantile(level.latenciesMs, 0.5), 1),
    p99Ms: round(quantile(level.latenciesMs, 0.99), 1),
  };
}

/** `npx tsx test/bench/hot-hold.ts`: its own DynamoDB Local, levels 1, 16 and 64. */
async function main(): Promise<void> {
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  try {
    const tableName = 'bench-hot-hold';
    const raw = new DynamoDBClient(clientConfig(dynamo.endpoint));
    await ensureTable(raw, tableName);
    raw.destroy();
    const measure = async (job: 'hold' | 'consume') => {
      const levels = await measureHotHold({
        endpoint: dynamo.endpoint,
        tableName,
        levels: [1, 16, 64],
        rounds: Number(process.env.HOT_HOLD_ROUNDS ?? 3),
        secondsPerRound: Number(process.env.HOT_HOLD_SECONDS ?? 5),
        job,
        progress: (line) => process.stderr.write(`${job}: ${line}\n`),
      });
      return Object.fromEntries(levels.map((level) => [String(level.concurrency), level]));
    };
    // Consumes in the same harness, on the same machine, as the yardstick.
    const hotHold = await measure('hold');
    const hotConsume = await measure('consume');
    process.stdout.write(`${JSON.stringify({ hotHold, hotConsume })}\n`);
  } finally {
    await dynamo.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}

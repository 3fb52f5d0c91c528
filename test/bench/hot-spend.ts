import { audit } from '../../lib/jobs/audit';
import { balanceOf } from '../../lib/ledger/queries';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { defaultBudget } from '../../lib/store/call';
import type { StoreDeps } from '../../lib/store/client';
import { readFact } from '../../lib/store/command';
import {
  CREDITS_TIMEOUT_MS,
  type CreditsContainer,
  creditsContainer,
  totalCalls,
} from './containers';
import { median, quantile, round } from './stats';

/**
 * A hot customer (issue 10): c concurrent callers, each spending 1 credit at a time in a closed
 * loop through the `credits` handler, against DynamoDB Local. Each caller is a Lambda container
 * (containers.ts: the production deps, with the container's lot cache), as c concurrent
 * invocations are in AWS. Each concurrency level has its own customer, holding plenty of
 * credits in one lot granted a month ago, so that the lot cache may plan spends on it
 * (lib/store/lot-cache.ts mayPlanOnCache). Levels take turns within each round, so a busy
 * moment of the shared machine hits them alike; the ratio to c=1 is taken within each round
 * and its median reported. Afterwards the bench checks what it measured: each customer's
 * balance is exactly its grant less the spends answered `ok` and the given-up spends whose
 * fact exists (applied, though their caller ran out of time), and the audit is clean.
 */
export type HotSpendLevel = {
  readonly concurrency: number;
  readonly credits: number;
  /** Median over rounds of credits per second at this level. */
  readonly creditsPerSecond: number;
  /** Median over rounds of (credits/s at c) / (credits/s at c=1 in the same round). */
  readonly creditsPerSecondVsSerial: number;
  /** DynamoDB commands sent per consumed credit (reads and transactions, retries included). */
  readonly callsPerCredit: number;
  /** HTTP attempts per consumed credit (the SDK's own retries included). */
  readonly attemptsPerCredit: number;
  /** Spends that failed: ContentionError, StoreError, or past the function's 10 s timeout. */
  readonly giveUps: number;
  readonly giveUpsByKind: Readonly<Record<string, number>>;
  /**
   * Give-ups whose spend had been applied all the same (its fact exists): a caller out of time
   * does not know; its retry with the same idempotency key returns the first result (C15).
   */
  readonly giveUpsApplied: number;
  /** HTTP attempts that failed, by error name, retried by the SDK or given up on. */
  readonly failedAttempts: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
};

export type HotSpendOptions = {
  readonly endpoint: string;
  readonly tableName: string;
  readonly store: StoreDeps;
  readonly levels: readonly number[];
  readonly rounds: number;
  readonly secondsPerRound: number;
  readonly progress: (line: string) => void;
};

/** Enough for every spend of every round at any level, so no spend is ever refused. */
const GRANT_CREDITS = 10_000_000;
const WARM_UP_MS = 1_000;
const DAY_MS = 86_400_000;

type Level = {
  readonly concurrency: number;
  readonly customerId: string;
  readonly containers: readonly CreditsContainer[];
  readonly latenciesMs: number[];
  readonly giveUps: Record<string, number>;
  readonly rates: number[];
  credits: number;
  /** Spends answered `ok`, on time or late, warm-up included (the balance check's). */
  acknowledged: number;
  /** Idempotency keys of the spends that gave up with an error: applied or not, unknown. */
  readonly unanswered: string[];
  giveUpsApplied: number;
  calls: number;
  attempts: number;
  failedAttempts: Record<string, number>;
  spendSeq: number;
};

export async function measureHotSpend(options: HotSpendOptions): Promise<HotSpendLevel[]> {
  const levels: Level[] = [];
  try {
    for (const concurrency of options.levels) levels.push(await setUpLevel(options, concurrency));
    // An unmeasured round first: containers that have served a spend, as in a burst already
    // under way; the measured rounds then include each container's cache refreshes (TTL).
    for (const level of levels) await runRound(level, WARM_UP_MS, { measured: false });
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? levels : [...levels].reverse();
      for (const level of order) await runRound(level, options.secondsPerRound * 1000);
      options.progress(
        `hot spend round ${round}/${options.rounds}: ${levels.map((level) => `c=${level.concurrency} ${Math.round(level.rates.at(-1) ?? 0)}/s`).join(', ')}`,
      );
    }
    for (const level of levels) await checkLevel(options.store, level);
    return levels.map((level) => summarise(level, levels[0] as Level));
  } finally {
    for (const level of levels) for (const container of level.containers) container.destroy();
  }
}

/** A fresh customer with one old lot, and c warm-by-use containers. */
async function setUpLevel(options: HotSpendOptions, concurrency: number): Promise<Level> {
  const customerId = `cus_hot_c${concurrency}_${Date.now()}`;
  const grantedAtMs = Date.now() - 30 * DAY_MS;
  const granted = await grantSubscriptionInvoice(options.store, {
    customerId,
    invoiceId: `in_${customerId}`,
    subscriptionId: `sub_${customerId}`,
    invoiceCreatedMs: grantedAtMs,
    lines: [{ lineId: 'il_1', credits: GRANT_CREDITS, periodStartMs: grantedAtMs }],
  });
  if (granted.status !== 'applied') throw new Error(`hot spend set-up: ${JSON.stringify(granted)}`);
  return {
    concurrency,
    customerId,
    containers: Array.from({ length: concurrency }, () =>
      creditsContainer(options.endpoint, options.tableName),
    ),
    latenciesMs: [],
    giveUps: {},
    rates: [],
    credits: 0,
    acknowledged: 0,
    unanswered: [],
    giveUpsApplied: 0,
    calls: 0,
    attempts: 0,
    failedAttempts: {},
    spendSeq: 0,
  };
}

/** Every container spends 1 credit at a time until the round's time is up. */
async function runRound(
  level: Level,
  durationMs: number,
  mode: { measured: boolean } = { measured: true },
): Promise<void> {
  const before = totalCalls(level.containers.map((container) => container.counter));
  const startMs = performance.now();
  const endMs = startMs + durationMs;
  let credits = 0;
  const caller = async (container: CreditsContainer) => {
    while (performance.now() < endMs) {
      if ((await spendOne(level, container)) === 'ok') credits += 1;
    }
  };
  await Promise.all(level.containers.map(caller));
  const elapsedMs = performance.now() - startMs;
  if (!mode.measured) {
    level.latenciesMs.length = 0;
    return;
  }
  level.credits += credits;
  level.rates.push((credits * 1000) / elapsedMs);
  const after = totalCalls(level.containers.map((container) => container.counter));
  level.calls += after.calls - before.calls;
  level.attempts += after.attempts - before.attempts;
  for (const [name, count] of Object.entries(after.failedAttempts)) {
    const delta = count - (before.failedAttempts[name] ?? 0);
    if (delta > 0) level.failedAttempts[name] = (level.failedAttempts[name] ?? 0) + delta;
  }
}

/** `ok` within the function's timeout, `late` (answered ok, but Lambda would have killed it). */
type SpendResult = 'ok' | 'late' | 'gaveUp';

async function spendOne(level: Level, container: CreditsContainer): Promise<SpendResult> {
  level.spendSeq += 1;
  const key = `img-${level.spendSeq}`;
  const startMs = performance.now();
  try {
    const answer = (await container.invoke({
      action: 'consume',
      customerId: level.customerId,
      amount: 1,
      idempotencyKey: key,
    })) as { ok?: boolean; error?: string };
    const elapsedMs = performance.now() - startMs;
    level.latenciesMs.push(elapsedMs);
    if (answer.ok !== true) throw new Error(`a hot spend was refused: ${JSON.stringify(answer)}`);
    level.acknowledged += 1;
    if (elapsedMs <= CREDITS_TIMEOUT_MS) return 'ok';
    countGiveUp(level, 'LambdaTimeout');
    return 'late';
  } catch (error) {
    level.latenciesMs.push(performance.now() - startMs);
    const name = (error as Error).name;
    if (name !== 'ContentionError' && name !== 'StoreError') throw error;
    countGiveUp(level, name);
    level.unanswered.push(key);
    return 'gaveUp';
  }
}

function countGiveUp(level: Level, kind: string): void {
  level.giveUps[kind] = (level.giveUps[kind] ?? 0) + 1;
}

/** The figures mean something only if every credit is accounted for (C14, C15). */
async function checkLevel(store: StoreDeps, level: Level): Promise<void> {
  for (const key of level.unanswered) {
    const fact = { customerId: level.customerId, key: `consume#${key}` };
    if (await readFact(store, fact, defaultBudget())) level.giveUpsApplied += 1;
  }
  const spent = level.acknowledged + level.giveUpsApplied;
  const balance = await balanceOf(store, level.customerId, Date.now());
  if (balance.balance !== GRANT_CREDITS - spent) {
    throw new Error(
      `hot spend c=${level.concurrency}: balance ${balance.balance}, expected ${GRANT_CREDITS - spent}`,
    );
  }
  const report = await audit(store, { customerId: level.customerId });
  if (report.problems.length > 0) {
    throw new Error(`hot spend c=${level.concurrency}: audit ${JSON.stringify(report.problems)}`);
  }
}

function summarise(level: Level, serial: Level): HotSpendLevel {
  const ratios = level.rates.map((rate, round) => rate / (serial.rates[round] ?? Number.NaN));
  const giveUps = Object.values(level.giveUps).reduce((sum, count) => sum + count, 0);
  return {
    concurrency: level.concurrency,
    credits: level.credits,
    creditsPerSecond: Math.round(median(level.rates)),
    creditsPerSecondVsSerial: round(median(ratios), 2),
    callsPerCredit: round(level.calls / Math.max(1, level.credits), 2),
    attemptsPerCredit: round(level.attempts / Math.max(1, level.credits), 2),
    giveUps,
    giveUpsByKind: { ...level.giveUps },
    giveUpsApplied: level.giveUpsApplied,
    failedAttempts: { ...level.failedAttempts },
    p50Ms: Math.round(quantile(level.latenciesMs, 0.5)),
    p99Ms: Math.round(quantile(level.latenciesMs, 0.99)),
    maxMs: Math.round(Math.max(...level.latenciesMs)),
  };
}

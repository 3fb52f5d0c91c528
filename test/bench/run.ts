/**
 * `npm run bench` (not a test): the performance figures of issue 7, measured side by side in one
 * run and printed as markdown tables, then ONE JSON object with stable keys on the last line of
 * stdout. Progress goes to stderr. It starts its own DynamoDB Local instances on free ports and
 * stops them at the end; it needs Java 17+, like `npm test`.
 *
 *   1. ours vs the bare SDK calls, against a replay stand-in of DynamoDB on loopback and against
 *      DynamoDB Local (throughput.ts);
 *   2. DynamoDB calls, RCU and WCU per event kind (event-kinds.ts, capacity.ts);
 *   3. the expiry job's items read per expired lot among 1,000 and 10,000 customers
 *      (expiry-reads.ts);
 *   4. bundle sizes and cold-start import times, next to the floor (bundles.ts);
 *   5. when the ratio misses its goal, a CPU profile of both arms (profile.ts);
 *   6. the store under load (issue 10), on a DynamoDB Local of its own: the capacity of one spend
 *      with 1 and 2,000 live lots (spend-capacity.ts), a hot customer's concurrent spends
 *      (hot-spend.ts), a burst of first invoices with one code (hot-referrer.ts) and one code's
 *      referrals up to 10,000 (popular-code.ts).
 *
 * BENCH_QUICK=1 shrinks every part (a smoke run of the bench itself, not figures to publish).
 */
import { cpus } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { freePort, type LocalDynamoDb, startDynamoDbLocal } from '../../infra/local/dynamodb';
import { ensureTable } from '../../infra/table';
import { createDocumentClient } from '../../lib/store/client';
import { measureBundles } from './bundles';
import { startReplayServer } from './dynamo-stand-in';
import { measureEventKinds } from './event-kinds';
import { measureExpiryReads } from './expiry-reads';
import { measureHotHold } from './hot-hold';
import { measureHotReferrer } from './hot-referrer';
import { measureHotSpend } from './hot-spend';
import { measurePopularCode } from './popular-code';
import { profileArms } from './profile';
import { type Findings, RATIO_GOAL, reportLines, summaryJson } from './report';
import type { StoreFindings } from './report-store';
import { measureSpendCapacity } from './spend-capacity';
import { captureCalls, measurePair } from './throughput';
import { trafficEvents } from './traffic';

const QUICK = process.env.BENCH_QUICK === '1';
type Rounds = { rounds: number; eventsPerRound: number; warmupEvents: number };
type StoreSizes = {
  hotSpendLevels: number[];
  hotSpendRounds: number;
  hotSpendSeconds: number;
  hotReferrerLevels: number[];
  oneCodeCheckpoints: number[];
  oneCodeProbes: number;
  spendLots: number[];
};
const SIZES: {
  standIn: Rounds;
  local: Rounds;
  profileEvents: number;
  customers: number[];
  initRuns: number;
  store: StoreSizes;
} = QUICK
  ? {
      standIn: { rounds: 10, eventsPerRound: 20, warmupEvents: 40 },
      local: { rounds: 6, eventsPerRound: 5, warmupEvents: 10 },
      profileEvents: 200,
      customers: [200, 1_000],
      initRuns: 3,
      store: {
        hotSpendLevels: [1, 16, 64, 256],
        hotSpendRounds: 1,
        hotSpendSeconds: 1.5,
        hotReferrerLevels: [50, 200],
        oneCodeCheckpoints: [0, 300, 1_000],
        oneCodeProbes: 3,
        spendLots: [1, 2_000],
      },
    }
  : {
      standIn: { rounds: 50, eventsPerRound: 40, warmupEvents: 300 },
      local: { rounds: 30, eventsPerRound: 20, warmupEvents: 40 },
      profileEvents: 1_500,
      customers: [1_000, 10_000],
      initRuns: 9,
      store: {
        hotSpendLevels: [1, 16, 64, 256],
        hotSpendRounds: 3,
        hotSpendSeconds: 6,
        hotReferrerLevels: [50, 200],
        oneCodeCheckpoints: [0, 1_000, 2_500, 5_000, 10_000],
        oneCodeProbes: 10,
        spendLots: [1, 2_000],
      },
    };
/** Issue 14 asks for hotHold.{16,64}; c = 1 is the ratio's base. */
const HOLD_LEVELS = [1, 16, 64];
const TABLE = 'bench-credits';
const STORE_TABLE = 'bench-store';

const startedMs = performance.now();
const progress = (line: string) => {
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(0).padStart(3);
  process.stderr.write(`[bench ${seconds}s] ${line}\n`);
};

async function measureAgainstDynamo(dynamo: LocalDynamoDb) {
  progress('event kinds: calls and capacity against DynamoDB Local...');
  const kinds = await measureEventKinds({ dynamoDbEndpoint: dynamo.endpoint, tableName: TABLE });
  const replay = await startReplayServer(kinds.replay);
  try {
    const standIn = await measurePair({
      label: 'stand-in',
      endpoint: replay.endpoint,
      captureEndpoint: replay.endpoint,
      tableName: TABLE,
      ...SIZES.standIn,
      withLowLevel: true,
      counts: async () => replay.counts(),
      progress,
    });
    const dynamoDbLocal = await measurePair({
      label: 'dynamodb-local',
      endpoint: dynamo.endpoint,
      captureEndpoint: replay.endpoint,
      tableName: TABLE,
      ...SIZES.local,
      progress,
    });
    const profile = standIn.ratio < RATIO_GOAL ? await profileStandIn(replay.endpoint) : undefined;
    return { kinds: kinds.kinds, standIn, dynamoDbLocal, profile };
  } finally {
    await replay.close();
  }
}

async function profileStandIn(endpoint: string) {
  progress(`ratio under ${RATIO_GOAL}: profiling both arms over ${SIZES.profileEvents} events...`);
  const sdkCalls = await captureCalls(
    endpoint,
    TABLE,
    trafficEvents('profile-s', SIZES.profileEvents),
  );
  return profileArms({
    endpoint,
    tableName: TABLE,
    oursEvents: trafficEvents('profile-o', SIZES.profileEvents),
    sdkCalls,
  });
}

/** The store's figures, on a DynamoDB Local of their own (the earlier parts' data gone). */
async function measureStore(): Promise<StoreFindings> {
  const sizes = SIZES.store;
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const config = {
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const raw = new DynamoDBClient(config);
  const db = createDocumentClient(config);
  const on = {
    endpoint: dynamo.endpoint,
    tableName: STORE_TABLE,
    store: { db, tableName: STORE_TABLE },
  };
  try {
    await ensureTable(raw, STORE_TABLE);
    progress(`store: capacity of one spend with ${sizes.spendLots.join(' and ')} live lots...`);
    const spendCapacity = await measureSpendCapacity({ ...on, raw, lotCounts: sizes.spendLots });
    progress(`store: hot customer at c = ${sizes.hotSpendLevels.join(', ')}...`);
    const hotSpend = await measureHotSpend({
      ...on,
      levels: sizes.hotSpendLevels,
      rounds: sizes.hotSpendRounds,
      secondsPerRound: sizes.hotSpendSeconds,
      progress,
    });
    progress(`store: hot customer's jobs (reserve, settle) at c = ${HOLD_LEVELS.join(', ')}...`);
    const hotHold = await measureHotHold({
      endpoint: on.endpoint,
      tableName: on.tableName,
      levels: HOLD_LEVELS,
      rounds: sizes.hotSpendRounds,
      secondsPerRound: sizes.hotSpendSeconds,
      job: 'hold',
      progress,
    });
    progress(`store: hot referrer, k = ${sizes.hotReferrerLevels.join(', ')}...`);
    const hotReferrer = await measureHotReferrer({
      ...on,
      levels: sizes.hotReferrerLevels,
      progress,
    });
    progress(`store: one code's referrals up to ${sizes.oneCodeCheckpoints.at(-1)}...`);
    const popularCode = await measurePopularCode({
      ...on,
      raw,
      checkpoints: sizes.oneCodeCheckpoints,
      probes: sizes.oneCodeProbes,
      progress,
    });
    return {
      hotSpend,
      hotHold,
      hotReferrer,
      popularCode,
      spendCapacity,
      hotSpendRounds: sizes.hotSpendRounds,
      hotSpendSecondsPerRound: sizes.hotSpendSeconds,
    };
  } finally {
    raw.destroy();
    db.destroy();
    await dynamo.stop();
  }
}

async function main(): Promise<void> {
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const stop = () => {
    void dynamo.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let measured: Awaited<ReturnType<typeof measureAgainstDynamo>>;
  try {
    measured = await measureAgainstDynamo(dynamo);
  } finally {
    await dynamo.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  const store = await measureStore();
  progress(`expiry reads among ${SIZES.customers.join(' and ')} customers...`);
  const expiry = await measureExpiryReads({ customerCounts: SIZES.customers, print: progress });
  const bundles = await measureBundles({ runs: SIZES.initRuns, progress });
  const findings: Findings = {
    ...measured,
    ...store,
    expiry: expiry.rows,
    bundles,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      node: process.version,
    },
    date: new Date().toISOString().slice(0, 10),
    seconds: Math.round((performance.now() - startedMs) / 1000),
  };
  for (const line of reportLines(findings)) process.stdout.write(`${line}\n`);
  process.stdout.write(`${JSON.stringify(summaryJson(findings, expiry.expiryReadsPerLot))}\n`);
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});

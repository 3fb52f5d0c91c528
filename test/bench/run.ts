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
 *   5. when the ratio misses its goal, a CPU profile of both arms (profile.ts).
 *
 * BENCH_QUICK=1 shrinks every part (a smoke run of the bench itself, not figures to publish).
 */
import { cpus } from 'node:os';
import { freePort, type LocalDynamoDb, startDynamoDbLocal } from '../../infra/local/dynamodb';
import { measureBundles } from './bundles';
import { startReplayServer } from './dynamo-stand-in';
import { measureEventKinds } from './event-kinds';
import { measureExpiryReads } from './expiry-reads';
import { profileArms } from './profile';
import { type Findings, RATIO_GOAL, reportLines, summaryJson } from './report';
import { captureCalls, measurePair } from './throughput';
import { trafficEvents } from './traffic';

const QUICK = process.env.BENCH_QUICK === '1';
type Rounds = { rounds: number; eventsPerRound: number; warmupEvents: number };
const SIZES: {
  standIn: Rounds;
  local: Rounds;
  profileEvents: number;
  customers: number[];
  initRuns: number;
} = QUICK
  ? {
      standIn: { rounds: 10, eventsPerRound: 20, warmupEvents: 40 },
      local: { rounds: 6, eventsPerRound: 5, warmupEvents: 10 },
      profileEvents: 200,
      customers: [200, 1_000],
      initRuns: 3,
    }
  : {
      standIn: { rounds: 50, eventsPerRound: 40, warmupEvents: 300 },
      local: { rounds: 30, eventsPerRound: 20, warmupEvents: 40 },
      profileEvents: 1_500,
      customers: [1_000, 10_000],
      initRuns: 7,
    };
const TABLE = 'bench-credits';

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
  progress(`expiry reads among ${SIZES.customers.join(' and ')} customers...`);
  const expiry = await measureExpiryReads({ customerCounts: SIZES.customers, print: progress });
  const bundles = await measureBundles({ runs: SIZES.initRuns, progress });
  const findings: Findings = {
    ...measured,
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

import {
  DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  QueryCommand as LowLevelQueryCommand,
  type QueryCommandInput as LowLevelQueryInput,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { createLogger } from '../../lib/log';
import { createDocumentClient } from '../../lib/store/client';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { BENCH_NOW_MS, BENCH_SECRET, PLAN_CREDITS } from './event-kinds';
import { median } from './stats';
import { trafficEvents } from './traffic';

/**
 * Ours versus the bare SDK: webhook events per second through the full handler (signature,
 * parsing, translation, the command pipeline, logging, the DynamoDB calls through the document
 * client) against events per second of just the DynamoDB calls those events need, issued with
 * the same document client from inputs captured beforehand. Both run one event at a time, as a
 * Lambda container does, against the same endpoint, in alternating rounds (ours first in even
 * rounds, the SDK first in odd ones); the ratio is the median of the rounds' ratios.
 */
export type PairOptions = {
  readonly label: string;
  /** Where both arms send their calls (the replay stand-in, or DynamoDB Local). */
  readonly endpoint: string;
  /** A replay stand-in, where the SDK arm's inputs are captured without writing anything. */
  readonly captureEndpoint: string;
  readonly tableName: string;
  /** Many short rounds, so that both arms meet the same moments of a shared machine. */
  readonly rounds: number;
  readonly eventsPerRound: number;
  /** Events per arm before the rounds (JIT, sockets), not counted. */
  readonly warmupEvents: number;
  /** Also time the low-level client with pre-marshalled inputs (no document client). */
  readonly withLowLevel?: boolean;
  /** The stand-in's request counts, to check that both arms made the same calls. */
  readonly counts?: () => Promise<Record<string, number>>;
  readonly progress?: (line: string) => void;
};

export type PairResult = {
  readonly ratio: number;
  readonly roundRatios: readonly number[];
  /** All rounds pooled: total SDK time over total time of ours. */
  readonly pooledRatio: number;
  readonly oursPerSecond: number;
  readonly sdkPerSecond: number;
  readonly lowLevelPerSecond?: number;
  /** Median over rounds of (1/ours - 1/sdk): what our code adds to each event, µs. */
  readonly overheadMicrosPerEvent: number;
  readonly eventsPerArm: number;
  readonly callsPerEvent: number;
};

export type CapturedCall =
  | { readonly operation: 'Query'; readonly input: QueryCommandInput; readonly wire: unknown }
  | { readonly operation: 'GetItem'; readonly input: GetCommandInput; readonly wire: unknown }
  | {
      readonly operation: 'TransactWriteItems';
      readonly input: TransactWriteCommandInput;
      readonly wire: unknown;
    };

const context = {} as Context;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function webhookOn(db: DynamoDBDocumentClient, tableName: string) {
  const deps = webhookDepsFromConfig(
    { planCredits: PLAN_CREDITS, webhookSecrets: [BENCH_SECRET] },
    { db, tableName, clock: () => BENCH_NOW_MS },
    // Lines are formatted as in Lambda (level info) but go nowhere, so no I/O is timed.
    createLogger({ level: 'info', sink: () => {} }),
  );
  return createStripeWebhookHandler(() => deps);
}

export async function measurePair(options: PairOptions): Promise<PairResult> {
  const progress = options.progress ?? (() => {});
  const total = options.warmupEvents + options.rounds * options.eventsPerRound;
  progress(`${options.label}: signing ${2 * total} deliveries...`);
  const oursEvents = trafficEvents(`${options.label}o`, total);
  const sdkEvents = trafficEvents(`${options.label}s`, total);
  progress(`${options.label}: capturing the SDK calls of ${total} deliveries...`);
  const captured = await captureCalls(options.captureEndpoint, options.tableName, sdkEvents);
  const callsPerEvent = captured.reduce((sum, calls) => sum + calls.length, 0) / captured.length;
  const db = createDocumentClient({ endpoint: options.endpoint, region: 'local', credentials });
  const lowLevel = new DynamoDBClient({ endpoint: options.endpoint, region: 'local', credentials });
  const webhook = webhookOn(db, options.tableName);
  // Round 0 is the warm-up; round r > 0 takes the r-th slice after it.
  const slice = <T>(items: readonly T[], round: number) =>
    round === 0
      ? items.slice(0, options.warmupEvents)
      : items.slice(
          options.warmupEvents + (round - 1) * options.eventsPerRound,
          options.warmupEvents + round * options.eventsPerRound,
        );
  const arms: Record<string, Arm> = {
    ours: (round) => runOurs(webhook, slice(oursEvents, round)),
    sdk: (round) => runSdk(db, slice(captured, round)),
    lowLevel: (round) => runLowLevel(lowLevel, slice(captured, round)),
  };
  const names = options.withLowLevel ? ['ours', 'sdk', 'lowLevel'] : ['ours', 'sdk'];
  try {
    const perSecond = await runRounds(arms, names, options);
    return summarise(perSecond, options, callsPerEvent);
  } finally {
    db.destroy();
    lowLevel.destroy();
  }
}

type Arm = (round: number) => Promise<number>;

/** Round 0 warms every arm up (JIT, sockets) uncounted; then the arms alternate their order. */
async function runRounds(
  arms: Readonly<Record<string, Arm>>,
  names: readonly string[],
  options: PairOptions,
): Promise<Record<string, number[]>> {
  const progress = options.progress ?? (() => {});
  for (const name of names) await arms[name]?.(0);
  const perSecond: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    const order = round % 2 === 1 ? names : [...names].reverse();
    const calls: Record<string, Record<string, number>> = {};
    for (const name of order) {
      const before = options.counts ? await options.counts() : {};
      const elapsedMs = (await arms[name]?.(round)) ?? Number.NaN;
      perSecond[name]?.push((options.eventsPerRound * 1000) / elapsedMs);
      if (options.counts) calls[name] = difference(await options.counts(), before);
    }
    checkSameCalls(calls, options.label, round);
    if (round % Math.ceil(options.rounds / 5) === 0) {
      const sofar = summarise(perSecond, options, 0);
      progress(
        `${options.label} round ${round}/${options.rounds}: ours ${sofar.oursPerSecond}/s, sdk ${sofar.sdkPerSecond}/s, median ratio so far ${sofar.ratio}`,
      );
    }
  }
  return perSecond;
}

function summarise(
  perSecond: Record<string, number[]>,
  options: PairOptions,
  callsPerEvent: number,
): PairResult {
  const ours = perSecond.ours ?? [];
  const sdk = perSecond.sdk ?? [];
  const roundRatios = ours.map((value, index) => value / (sdk[index] ?? Number.NaN));
  const overheads = ours.map((value, index) => 1e6 / value - 1e6 / (sdk[index] ?? Number.NaN));
  const lowLevel = perSecond.lowLevel ?? [];
  return {
    ratio: round3(median(roundRatios)),
    roundRatios: roundRatios.map(round3),
    pooledRatio: round3(
      sdk.reduce((sum, value) => sum + 1 / value, 0) /
        ours.reduce((sum, value) => sum + 1 / value, 0),
    ),
    oursPerSecond: Math.round(median(ours)),
    sdkPerSecond: Math.round(median(sdk)),
    ...(lowLevel.length > 0 && { lowLevelPerSecond: Math.round(median(lowLevel)) }),
    overheadMicrosPerEvent: Math.round(median(overheads)),
    eventsPerArm: options.rounds * options.eventsPerRound,
    callsPerEvent,
  };
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

function difference(after: Record<string, number>, before: Record<string, number>) {
  return Object.fromEntries(
    Object.entries(after).map(([key, value]) => [key, value - (before[key] ?? 0)]),
  );
}

/** Both arms must have made exactly the same DynamoDB calls, or the ratio compares nothing. */
function checkSameCalls(
  calls: Record<string, Record<string, number>>,
  label: string,
  round: number,
) {
  const [first, ...others] = Object.entries(calls);
  if (!first) return;
  for (const [name, counts] of others) {
    if (JSON.stringify(sorted(counts)) !== JSON.stringify(sorted(first[1]))) {
      throw new Error(
        `${label} round ${round}: ${first[0]} made ${JSON.stringify(first[1])} but ${name} made ${JSON.stringify(counts)}`,
      );
    }
  }
}

const sorted = (record: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(record)
      .filter(([, value]) => value !== 0)
      .sort(),
  );

export async function runOurs(
  webhook: ReturnType<typeof createStripeWebhookHandler>,
  events: readonly APIGatewayProxyEventV2[],
): Promise<number> {
  const start = performance.now();
  for (const event of events) {
    const response = await webhook(event, context);
    if (response.statusCode !== 200)
      throw new Error(`webhook answered ${response.statusCode}: ${response.body}`);
  }
  return performance.now() - start;
}

export async function runSdk(
  db: DynamoDBDocumentClient,
  events: readonly CapturedCall[][],
): Promise<number> {
  const start = performance.now();
  for (const calls of events) {
    for (const call of calls) {
      if (call.operation === 'Query') await db.send(new QueryCommand(call.input));
      else if (call.operation === 'GetItem') await db.send(new GetCommand(call.input));
      else await db.send(new TransactWriteCommand(call.input));
    }
  }
  return performance.now() - start;
}

async function runLowLevel(
  client: DynamoDBClient,
  events: readonly CapturedCall[][],
): Promise<number> {
  const start = performance.now();
  for (const calls of events) {
    for (const call of calls) {
      if (call.operation === 'Query') {
        await client.send(new LowLevelQueryCommand(call.wire as LowLevelQueryInput));
      } else if (call.operation === 'GetItem') {
        await client.send(new GetItemCommand(call.wire as GetItemCommandInput));
      } else {
        await client.send(
          new TransactWriteItemsCommand(call.wire as TransactWriteItemsCommandInput),
        );
      }
    }
  }
  return performance.now() - start;
}

/**
 * Runs each event once through the real handler against the replay stand-in (which never finds
 * anything, so every event takes the write path and nothing is stored) and keeps each DynamoDB
 * call it made: the document client's input, and the wire body the SDK serialised from it.
 */
export async function captureCalls(
  endpoint: string,
  tableName: string,
  events: readonly APIGatewayProxyEventV2[],
): Promise<CapturedCall[][]> {
  const client = createDocumentClient({ endpoint, region: 'local', credentials });
  let current: { operation: string; input: unknown }[] = [];
  let wires: unknown[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      // The JSON protocol serialises to a string or to its UTF-8 bytes.
      const body = (args.request as { body?: unknown }).body;
      if (typeof body === 'string') wires.push(JSON.parse(body));
      else if (body instanceof Uint8Array) wires.push(JSON.parse(new TextDecoder().decode(body)));
      return next(args);
    },
    { step: 'build', name: 'benchCaptureWire' },
  );
  const recording = new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return (command: { constructor: { name: string }; input: unknown }, ...rest: unknown[]) => {
        current.push({
          operation: operationOfCommand(command.constructor.name),
          input: structuredClone(command.input),
        });
        return (target.send as (...args: unknown[]) => Promise<unknown>).call(
          target,
          command,
          ...rest,
        );
      };
    },
  });
  const webhook = webhookOn(recording, tableName);
  const captured: CapturedCall[][] = [];
  try {
    for (const event of events) {
      current = [];
      wires = [];
      const response = await webhook(event, context);
      const body = JSON.parse(response.body ?? '{}') as { outcome?: string };
      if (response.statusCode !== 200 || body.outcome !== 'applied') {
        throw new Error(`capture: the webhook answered ${response.statusCode} ${response.body}`);
      }
      if (wires.length !== current.length) throw new Error('capture: calls and wire bodies differ');
      captured.push(
        current.map((call, index) => ({ ...call, wire: wires[index] }) as CapturedCall),
      );
    }
  } finally {
    client.destroy();
  }
  return captured;
}

function operationOfCommand(name: string): string {
  if (name === 'QueryCommand') return 'Query';
  if (name === 'GetCommand') return 'GetItem';
  if (name === 'TransactWriteCommand') return 'TransactWriteItems';
  throw new Error(`the webhook made a ${name} call, which the bare SDK arm does not replay`);
}

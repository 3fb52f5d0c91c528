import type { BundleRow } from './bundles';
import { EVENT_KINDS, type EventKind, type KindMeasure } from './event-kinds';
import type { ExpiryReadsRow } from './expiry-reads';
import type { ProfileRow, TopFunction } from './profile';
import {
  hotHoldRows,
  hotReferrerRows,
  hotSpendRows,
  popularCodeRows,
  type StoreFindings,
  spendCapacityRows,
  storeJson,
  table,
} from './report-store';
import { median, quantile } from './stats';
import type { PairResult } from './throughput';

/** The bench's findings, printed as markdown tables (README's performance section uses them). */
export type Findings = StoreFindings & {
  readonly standIn: PairResult;
  readonly dynamoDbLocal: PairResult;
  readonly kinds: Readonly<Record<EventKind, KindMeasure>>;
  readonly expiry: readonly ExpiryReadsRow[];
  readonly bundles: readonly BundleRow[];
  readonly profile?: {
    readonly rows: readonly ProfileRow[];
    readonly topOwn: readonly TopFunction[];
    readonly events: number;
  };
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string };
  readonly date: string;
  readonly seconds: number;
};

export const RATIO_GOAL = 0.85;
export const EXPIRY_READS_GOAL = 1.2;

/** The floor of DynamoDB calls for each kind: one read per customer and one transaction. */
const FLOOR_CALLS: Readonly<Record<EventKind, string>> = {
  grant: '2 (1 read + 1 transaction)',
  duplicate: '1 (1 read)',
  referralFirstUseOfCode: "4 (the code's owner, referee, referrer, 1 transaction)",
  referral: '3 (referee, referrer, 1 transaction; the owner cached)',
  spend: '2 (1 read + 1 transaction)',
  spendCached: '1 (1 transaction, planned on the lot cache)',
  forfeit: '2 (1 read + 1 transaction)',
  expireLot: '2 per customer (read + transaction), + the index reads of the run',
};

const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

function pairRows(findings: Findings): string[] {
  const { standIn, dynamoDbLocal } = findings;
  const row = (name: string, pair: PairResult) => [
    name,
    pair.oursPerSecond,
    pair.sdkPerSecond,
    `**${pair.ratio}**`,
    `${quantile(pair.roundRatios, 0.25)} - ${quantile(pair.roundRatios, 0.75)}`,
    pair.pooledRatio,
    pair.overheadMicrosPerEvent,
    `${pair.roundRatios.length} x ${pair.eventsPerArm / pair.roundRatios.length}`,
  ];
  return [
    '### Ours vs the bare SDK calls (events per second, one event at a time)',
    '',
    ...table(
      [
        'endpoint',
        'ours /s',
        'bare SDK /s',
        'ratio (median of rounds)',
        'middle half of rounds',
        'pooled ratio',
        'ours adds µs/event',
        'rounds x events',
      ],
      [row('replay stand-in (loopback)', standIn), row('DynamoDB Local', dynamoDbLocal)],
    ),
    '',
    `Goal: ratio >= ${RATIO_GOAL} against the stand-in: ${verdict(standIn.ratio >= RATIO_GOAL)}. ` +
      `Both arms make ${Math.round(standIn.callsPerEvent * 100) / 100} calls per event (Query + TransactWriteItems; a client's first read also gets the SCHEMA item), checked per round.` +
      (standIn.lowLevelPerSecond
        ? ` For scale: the same calls through the low-level client from pre-marshalled inputs: ${standIn.lowLevelPerSecond}/s.`
        : ''),
  ];
}

function kindRows(findings: Findings): string[] {
  const rows = EVENT_KINDS.map((kind) => {
    const measure = findings.kinds[kind];
    const byOperation = Object.entries(measure.callsByOperation)
      .map(([operation, count]) => `${count} ${operation}`)
      .join(' + ');
    const { capacity } = measure;
    return [
      kind,
      measure.calls,
      byOperation,
      FLOOR_CALLS[kind],
      capacity.rcu,
      `${capacity.wcu} (${capacity.wcuTable} + ${capacity.wcuIndex})`,
      capacity.itemsWritten,
      capacity.largestItemBytes,
      `${measure.localReported.rcu} / ${measure.localReported.wcu}`,
      measure.result,
    ];
  });
  return [
    '### DynamoDB calls and capacity per event kind (DynamoDB Local, through a recording proxy)',
    '',
    ...table(
      [
        'kind',
        'calls',
        'which',
        'floor',
        'RCU',
        'WCU (table + index)',
        'items written',
        'largest item B',
        'DynamoDB Local says RCU / WCU',
        'outcome',
      ],
      rows,
    ),
    '',
    "RCU/WCU are computed by DynamoDB's published rules: reads from the responses (strongly consistent 1 per started " +
      '4 KB, a Query summed then rounded once, an absent GetItem 1; index queries eventually consistent, 0.5); writes ' +
      'from the table just before and after the event (transactional: 2 per started KB of the larger of the two, a ' +
      'ConditionCheck counted as a write; index entries 1 per started KB, only when the projected entry changes). ' +
      "DynamoDB Local's own figures are shown as a curiosity only.",
  ];
}

function expiryRows(findings: Findings): string[] {
  const worst = Math.max(...findings.expiry.map((row) => row.readsPerLot));
  return [
    '### Expiry job: items read per expired lot',
    '',
    ...table(
      ['customers', 'table items', 'expired lots', 'items read', 'reads per lot'],
      findings.expiry.map((row) => [
        row.customers,
        row.tableItems,
        row.expiredLots,
        row.itemsRead,
        row.readsPerLot,
      ]),
    ),
    '',
    `Goal: flat, at most ${EXPIRY_READS_GOAL}: ${verdict(worst <= EXPIRY_READS_GOAL)}.`,
  ];
}

/** Median over runs of (bundle - floor), each pair imported in the same round-robin run. */
function overFloorMs(
  row: BundleRow,
  floor: BundleRow,
  runs: (bundle: BundleRow) => readonly number[] = (bundle) => bundle.initRunsMs,
): number {
  const floorRuns = runs(floor);
  const differences = runs(row).map((ms, run) => ms - (floorRuns[run] ?? Number.NaN));
  return Math.round(median(differences) * 10) / 10;
}

const cpuRuns = (bundle: BundleRow) => bundle.initCpuRunsMs;

function bundleRows(findings: Findings): string[] {
  const floor = findings.bundles.find((row) => row.name === 'floor');
  const sdkFloor = findings.bundles.find((row) => row.name === 'sdkFloor');
  const isFloor = (row: BundleRow) => row.name === 'floor' || row.name === 'sdkFloor';
  return [
    '### Bundles and cold-start module initialisation',
    '',
    ...table(
      [
        'bundle',
        'entry',
        'KB',
        'lazy KB',
        'init ms (median)',
        'fastest run ms',
        'over floor KB',
        'over floor ms',
        'over SDK floor ms',
        'CPU ms (median)',
        'over SDK floor, CPU ms',
      ],
      findings.bundles.map((row) => [
        row.name,
        row.entry,
        row.kb,
        row.lazyKb,
        row.initMs,
        Math.round(Math.min(...row.initRunsMs) * 10) / 10,
        floor && !isFloor(row) ? Math.round((row.kb - floor.kb) * 10) / 10 : '',
        floor && !isFloor(row) ? overFloorMs(row, floor) : '',
        sdkFloor && row.name !== 'sdkFloor' ? `**${overFloorMs(row, sdkFloor)}**` : '',
        row.initCpuMs,
        sdkFloor && row.name !== 'sdkFloor' ? `**${overFloorMs(row, sdkFloor, cpuRuns)}**` : '',
      ]),
    ),
    '',
    `init ms: a fresh node importing the bundle, median of ${findings.bundles[0]?.initRunsMs.length ?? 0} runs, ` +
      'timed inside the process; runs go round-robin over the bundles, and "over floor ms" is the median of ' +
      "each run's difference from the floor imported in the same run. CPU ms is the same imports' CPU time " +
      '(user + system, all threads): on a busy shared machine it moves far less than wall time, which ' +
      'includes waiting for the CPU.',
    '',
    'KB is what importing the bundle reads: its entry file and the chunks that imports statically. ' +
      'Lazy KB is the chunks only a dynamic import() reaches (stripe-node for the rare Stripe API ' +
      "look-ups, the AWS SDK's unused credential providers), read when that import first runs.",
    '',
    'What a cold start reads (KB of output by origin, largest first; `ours` is this repository):',
    '',
    ...findings.bundles.map((row) => {
      const top = row.composition.slice(0, 7);
      const restKb = row.composition.slice(7).reduce((sum, part) => sum + part.kb, 0);
      const parts = top.map((part) => `${part.origin} ${part.kb}`);
      return `- ${row.name}: ${parts.join(', ')}, ${row.composition.length - top.length} others ${Math.round(restKb * 10) / 10}`;
    }),
  ];
}

function profileRows(findings: Findings): string[] {
  if (!findings.profile) return [];
  const rows = findings.profile.rows
    .filter((row) => Math.abs(row.oursMicros - row.sdkMicros) >= 3 || row.oursMicros >= 20)
    .map((row) => [row.category, row.oursMicros, row.sdkMicros, row.oursMicros - row.sdkMicros]);
  return [
    '',
    `### Where the time goes (CPU profile, µs per event over ${findings.profile.events} events per arm, stand-in)`,
    '',
    ...table(['code', 'ours', 'bare SDK', 'difference'], rows),
    '',
    'Hottest functions that only the handler runs:',
    '',
    ...table(
      ['function', 'code', 'µs/event'],
      findings.profile.topOwn.map((entry) => [entry.name, entry.category, entry.micros]),
    ),
  ];
}

export function reportLines(findings: Findings): string[] {
  return [
    `## npm run bench: ${findings.date}, ${findings.machine.cpus} CPUs (${findings.machine.cpuModel}), Node ${findings.machine.node}, ${findings.seconds} s`,
    '',
    ...pairRows(findings),
    '',
    ...kindRows(findings),
    '',
    ...expiryRows(findings),
    '',
    ...bundleRows(findings),
    ...profileRows(findings),
    '',
    ...hotSpendRows(findings),
    '',
    ...hotHoldRows(findings),
    '',
    ...hotReferrerRows(findings),
    '',
    ...popularCodeRows(findings),
    '',
    ...spendCapacityRows(findings),
    '',
  ];
}

/** Each bundle's import time over the SDK floor (median of same-run differences). */
function overSdkFloor(
  findings: Findings,
  runs?: (bundle: BundleRow) => readonly number[],
): Record<string, number> {
  const sdkFloor = findings.bundles.find((row) => row.name === 'sdkFloor');
  if (!sdkFloor) return {};
  return Object.fromEntries(
    findings.bundles
      .filter((row) => row.name !== 'sdkFloor')
      .map((row) => [row.name, overFloorMs(row, sdkFloor, runs)]),
  );
}

const byKind = (findings: Findings, pick: (measure: KindMeasure) => number) =>
  Object.fromEntries(EVENT_KINDS.map((kind) => [kind, pick(findings.kinds[kind])]));

/** The one JSON line: stable keys, so that runs can be compared. */
export function summaryJson(findings: Findings, expiryReadsPerLot: Record<string, number>) {
  return {
    oursVsSdkRatio: findings.standIn.ratio,
    oursVsSdkRatioDynamoDbLocal: findings.dynamoDbLocal.ratio,
    callsPerEvent: byKind(findings, (measure) => measure.calls),
    wcuPerEvent: byKind(findings, (measure) => measure.capacity.wcu),
    rcuPerEvent: byKind(findings, (measure) => measure.capacity.rcu),
    expiryReadsPerLot,
    bundleKb: Object.fromEntries(findings.bundles.map((row) => [row.name, row.kb])),
    initMs: Object.fromEntries(findings.bundles.map((row) => [row.name, row.initMs])),
    initMsOverSdkFloor: overSdkFloor(findings),
    initCpuMs: Object.fromEntries(findings.bundles.map((row) => [row.name, row.initCpuMs])),
    initCpuMsOverSdkFloor: overSdkFloor(findings, cpuRuns),
    ...storeJson(findings),
    machine: findings.machine,
    date: findings.date,
    seconds: findings.seconds,
  };
}

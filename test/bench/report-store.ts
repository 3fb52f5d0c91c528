import type { HotHoldLevel } from './hot-hold';
import type { HotReferrerLevel } from './hot-referrer';
import type { HotSpendLevel } from './hot-spend';
import type { PopularCodeResult } from './popular-code';
import type { SpendCapacity } from './spend-capacity';

/** The store's figures of issue 10, as markdown tables and JSON keys (report.ts prints them). */
export type StoreFindings = {
  readonly hotSpend: readonly HotSpendLevel[];
  /** Issue 14: one-image jobs (reserve 1, settle 1) measured like hotSpend, beside it. */
  readonly hotHold: readonly HotHoldLevel[];
  readonly hotReferrer: readonly HotReferrerLevel[];
  readonly popularCode: PopularCodeResult;
  readonly spendCapacity: readonly SpendCapacity[];
  readonly hotSpendSecondsPerRound: number;
  readonly hotSpendRounds: number;
};

export const GOALS = {
  hotSpendVsSerialAt64: 1.0,
  hotSpendCallsPerCreditAt64: 1.5,
  hotSpendP99MsAt64: 2_000,
  referralsOfOneCode: 10_000,
  wcuPerSpend: 8,
  referralCalls: 3,
  initMsOverSdkFloor: 15,
} as const;

/** A markdown table. */
export function table(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(String).join(' | ')} |`),
  ];
}

const named = (record: Readonly<Record<string, number>>) =>
  Object.entries(record)
    .map(([name, count]) => `${count} ${name}`)
    .join(', ') || '-';

/** Issue 14: holds under the same load as hotSpend (one credit reserved, then settled). */
export function hotHoldRows(findings: StoreFindings): string[] {
  return [
    `### Hot customer's jobs: c callers each reserving 1 credit and settling it (\`credits\` handler, a container each, ${findings.hotSpendRounds} rounds x ${findings.hotSpendSecondsPerRound} s per level)`,
    '',
    ...table(
      ['c', 'credits/s', 'vs c=1', 'calls per credit', 'give-ups', 'p50 ms', 'p99 ms'],
      findings.hotHold.map((level) => [
        level.concurrency,
        level.creditsPerSecond,
        level.creditsPerSecondVsSerial,
        level.callsPerCredit,
        level.giveUps,
        level.p50Ms,
        level.p99Ms,
      ]),
    ),
  ];
}

export function hotSpendRows(findings: StoreFindings): string[] {
  return [
    `### Hot customer: c callers spending 1 credit at a time (\`credits\` handler, a container each, ${findings.hotSpendRounds} rounds x ${findings.hotSpendSecondsPerRound} s per level)`,
    '',
    ...table(
      [
        'c',
        'credits',
        'credits/s (median of rounds)',
        'vs c=1 (median of per-round ratios)',
        'calls per credit',
        'HTTP attempts per credit',
        'give-ups',
        'p50 ms',
        'p99 ms',
        'max ms',
        'failed HTTP attempts (SDK)',
      ],
      findings.hotSpend.map((level) => [
        level.concurrency,
        level.credits,
        level.creditsPerSecond,
        `**${level.creditsPerSecondVsSerial}**`,
        level.callsPerCredit,
        level.attemptsPerCredit,
        level.giveUps === 0
          ? 0
          : `${level.giveUps} (${named(level.giveUpsByKind)}; ${level.giveUpsApplied} applied all the same)`,
        level.p50Ms,
        level.p99Ms,
        level.maxMs,
        named(level.failedAttempts),
      ]),
    ),
    '',
    'Each caller is a Lambda container (its own client and lot cache, built by `depsFromConfig`), ' +
      'warmed by an unmeasured second of spends; every invocation gets a Lambda context counting ' +
      "down from the function's 10 s timeout. A give-up is a ContentionError or StoreError, or an " +
      "answer later than 10 s (warm-up included). After the run each customer's balance is exactly " +
      'its grant less the spends answered ok and the given-up spends whose fact exists, and its ' +
      'audit is clean.',
  ];
}

export function hotReferrerRows(findings: StoreFindings): string[] {
  return [
    '### Hot referrer: k first invoices with one code at once (webhook handler, a container each, 20 s budget)',
    '',
    ...table(
      [
        'k',
        '2xx in the first wave',
        'statuses',
        'p50 ms',
        'p99 ms',
        'max ms',
        'wave ms',
        'calls per delivery',
      ],
      findings.hotReferrer.map((level) => [
        level.referees,
        `**${level.firstWave2xx}** of ${level.referees}`,
        named(level.statuses),
        level.p50Ms,
        level.p99Ms,
        level.maxMs,
        level.wallMs,
        level.callsPerDelivery,
      ]),
    ),
  ];
}

export function popularCodeRows(findings: StoreFindings): string[] {
  const { popularCode } = findings;
  return [
    `### Referrals of one code: **${popularCode.referralsOfOneCode}** referees before anything failed`,
    '',
    ...table(
      [
        'referees',
        'probes 2xx',
        'calls per referral',
        'RCU per referral',
        'median ms',
        'max ms',
        "largest item in the referrer's partition B",
        "referrer's state: items / KB read per referral",
      ],
      popularCode.checkpoints.map((point) => [
        point.referees,
        `${point.probes2xx} of ${point.probes}`,
        point.callsPerReferral,
        point.rcuPerReferral,
        point.medianMs,
        point.maxMs,
        point.largestItemBytes,
        `${point.referrerStateItems} / ${Math.round(point.referrerStateBytes / 1024)}`,
      ]),
    ),
    '',
    "Between checkpoints the referrer's side of each referral (its quiet bonus lot and entry) is " +
      "seeded with the store's own rules and codec; at each checkpoint real first invoices with the " +
      "code go through the webhook (one container: the first probe looks the code's owner up).",
  ];
}

export function spendCapacityRows(findings: StoreFindings): string[] {
  const rows = findings.spendCapacity.flatMap((row) =>
    (['cold', 'cached'] as const).map((path) => {
      const measure = row[path];
      return [
        row.lots,
        path === 'cold' ? 'first spend (read + transaction)' : 'planned on the lot cache',
        measure.calls,
        measure.rcu,
        `**${measure.wcu}** (${measure.wcuTable} + ${measure.wcuIndex})`,
        measure.itemsWritten,
      ];
    }),
  );
  return [
    '### Capacity of one spend as the history grows (`credits` consume of 1 credit)',
    '',
    ...table(['live lots', 'path', 'calls', 'RCU', 'WCU (table + index)', 'items written'], rows),
  ];
}

const byKey = <T, V>(rows: readonly T[], key: (row: T) => number, value: (row: T) => V) =>
  Object.fromEntries(rows.map((row) => [String(key(row)), value(row)]));

/** The store's keys of the bench's JSON line. */
export function storeJson(findings: StoreFindings) {
  return {
    hotSpend: byKey(
      findings.hotSpend,
      (level) => level.concurrency,
      (level) => ({
        creditsPerSecondVsSerial: level.creditsPerSecondVsSerial,
        callsPerCredit: level.callsPerCredit,
        giveUps: level.giveUps,
        p99Ms: level.p99Ms,
      }),
    ),
    hotHold: byKey(
      findings.hotHold.filter((level) => level.concurrency > 1),
      (level) => level.concurrency,
      (level) => ({
        creditsPerSecondVsSerial: level.creditsPerSecondVsSerial,
        callsPerCredit: level.callsPerCredit,
        giveUps: level.giveUps,
        p99Ms: level.p99Ms,
      }),
    ),
    hotReferrer: byKey(
      findings.hotReferrer,
      (level) => level.referees,
      (level) => ({ firstWave2xx: level.firstWave2xx, p99Ms: level.p99Ms }),
    ),
    referralsOfOneCode: findings.popularCode.referralsOfOneCode,
    wcuPerSpend: Object.fromEntries(
      findings.spendCapacity.flatMap((row) => [
        [`lots${row.lots}`, row.cold.wcu],
        [`lots${row.lots}Cached`, row.cached.wcu],
      ]),
    ),
    rcuPerSpend: Object.fromEntries(
      findings.spendCapacity.map((row) => [`lots${row.lots}`, row.cold.rcu]),
    ),
  };
}

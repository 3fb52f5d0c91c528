import { Session } from 'node:inspector/promises';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createDocumentClient } from '../../lib/store/client';
import { type CapturedCall, runOurs, runSdk, webhookOn } from './throughput';

/**
 * Where the time of an event goes, for the ours-versus-SDK pair: CPU profiles (V8's sampling
 * profiler, through node:inspector) of each arm over the same events against the replay
 * stand-in, taken in alternating chunks of 100 events, with self time grouped by what the code
 * is (zod, stripe-node, each SDK package, our lib/ folders, node's http and crypto, GC).
 * Built-in frames (JSON.parse, RegExp, ...) count towards the code that called them. The
 * difference between the arms is what our code adds per event.
 */
export type ProfileRow = {
  readonly category: string;
  readonly oursMicros: number;
  readonly sdkMicros: number;
};

export type TopFunction = {
  readonly name: string;
  readonly category: string;
  readonly micros: number;
};

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

/** Our own code, by folder; packages are named by themselves (node_modules/<package>). */
const CATEGORIES: readonly (readonly [RegExp, string])[] = [
  [/\/lib\/stripe\//, 'ours: lib/stripe'],
  [/\/lib\/store\//, 'ours: lib/store'],
  [/\/lib\/log\.ts/, 'ours: lib/log'],
  [/\/lib\/ledger\//, 'ours: lib/ledger'],
  [/\/lib\/credits\//, 'ours: lib/credits'],
  [/\/lib\//, 'ours: lib (other)'],
  [/\/functions\//, 'ours: functions'],
  [/\/test\/bench\//, 'bench loop'],
  [/^node:internal\/crypto|^node:crypto/, 'node: crypto'],
  [
    /^node:(_http|http|net|internal\/http|internal\/stream|internal\/streams|stream|internal\/net|events|internal\/timers|timers)/,
    'node: http, net, streams',
  ],
  [/^node:/, 'node: other'],
];

function packageOf(url: string): string | undefined {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (!match?.[1]) return undefined;
  const name = match[1];
  if (name === 'zod') return 'zod (parsing)';
  if (name === 'stripe') return 'stripe (signature)';
  if (name.startsWith('@middy/')) return 'middy';
  return `pkg ${name}`;
}

const SPECIAL: Record<string, string> = {
  '(garbage collector)': 'GC',
  '(program)': 'V8 / native (program)',
  '(idle)': 'idle (waiting for the stand-in)',
  '(root)': 'V8 / native (program)',
};

function categoryOfFrame(frame: ProfileNode['callFrame']): string | undefined {
  const special = SPECIAL[frame.functionName];
  if (special && frame.url === '') return special;
  if (frame.url === '') return undefined;
  const url = frame.url.replace(/^file:\/\//, '');
  const inPackage = packageOf(url);
  if (inPackage) return inPackage;
  for (const [pattern, category] of CATEGORIES) if (pattern.test(url)) return category;
  return 'other';
}

/** Self time (µs) per category; built-ins inherit the category of their nearest caller with one. */
function selfTimeByCategory(profile: Profile) {
  const parentOf = new Map<number, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  const categoryOf = new Map<number, string>();
  const resolve = (id: number): string => {
    const cached = categoryOf.get(id);
    if (cached) return cached;
    const node = byId.get(id);
    const own = node ? categoryOfFrame(node.callFrame) : 'other';
    const parent = parentOf.get(id);
    const category = own ?? (parent === undefined ? 'V8 / native (program)' : resolve(parent));
    categoryOf.set(id, category);
    return category;
  };
  const categories = new Map<string, number>();
  const functions = new Map<string, { category: string; micros: number }>();
  profile.samples.forEach((id, index) => {
    // The first sample's delta is the profiler starting up (the inspector's dispatch), not work.
    if (index === 0) return;
    const delta = profile.timeDeltas[index] ?? 0;
    const category = resolve(id);
    categories.set(category, (categories.get(category) ?? 0) + delta);
    const frame = byId.get(id)?.callFrame;
    const name = frame ? frameName(frame) : '?';
    const entry = functions.get(name) ?? { category, micros: 0 };
    entry.micros += delta;
    functions.set(name, entry);
  });
  return { categories, functions };
}

/** Function and file; line numbers only for packages (tsx-compiled sources report line 1). */
function frameName(frame: ProfileNode['callFrame']): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return `${name} (built-in or generated)`;
  const inPackage = /node_modules\/(.+)$/.exec(frame.url);
  if (inPackage?.[1]) return `${name} ${inPackage[1]}:${frame.lineNumber + 1}`;
  return `${name} ${frame.url.replace(/^.*\/(lib|functions|test)\//, '$1/')}`;
}

async function profiled(session: Session, run: () => Promise<number>): Promise<Profile> {
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  await run();
  const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
  await session.post('Profiler.disable');
  return profile;
}

type SelfTimes = ReturnType<typeof selfTimeByCategory>;

/** Adds one chunk's self times into the running totals. */
function accumulate(into: SelfTimes, chunk: SelfTimes): void {
  for (const [category, micros] of chunk.categories) {
    into.categories.set(category, (into.categories.get(category) ?? 0) + micros);
  }
  for (const [name, entry] of chunk.functions) {
    const total = into.functions.get(name) ?? { category: entry.category, micros: 0 };
    total.micros += entry.micros;
    into.functions.set(name, total);
  }
}

const CHUNK_EVENTS = 100;

export async function profileArms(options: {
  readonly endpoint: string;
  readonly tableName: string;
  readonly oursEvents: readonly APIGatewayProxyEventV2[];
  readonly sdkCalls: readonly CapturedCall[][];
}): Promise<{ rows: ProfileRow[]; topOwn: TopFunction[]; events: number }> {
  const events = Math.min(options.oursEvents.length, options.sdkCalls.length);
  const db = createDocumentClient({
    endpoint: options.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const webhook = webhookOn(db, options.tableName);
  const session = new Session();
  session.connect();
  const ours: SelfTimes = { categories: new Map(), functions: new Map() };
  const sdk: SelfTimes = { categories: new Map(), functions: new Map() };
  try {
    // Warm both paths first, so the profiles show steady state, not compilation.
    const warm = Math.min(100, Math.floor(events / 4));
    await runOurs(webhook, options.oursEvents.slice(0, warm));
    await runSdk(db, options.sdkCalls.slice(0, warm));
    // Chunks alternate between the arms, so a busy moment of a shared machine hits both alike.
    for (let from = warm; from < events; from += CHUNK_EVENTS) {
      const to = Math.min(events, from + CHUNK_EVENTS);
      const runs = [
        async () =>
          accumulate(
            ours,
            selfTimeByCategory(
              await profiled(session, () => runOurs(webhook, options.oursEvents.slice(from, to))),
            ),
          ),
        async () =>
          accumulate(
            sdk,
            selfTimeByCategory(
              await profiled(session, () => runSdk(db, options.sdkCalls.slice(from, to))),
            ),
          ),
      ];
      if ((from / CHUNK_EVENTS) % 2 === 1) runs.reverse();
      for (const run of runs) await run();
    }
    const measured = events - warm;
    return {
      rows: compare(ours, sdk, measured),
      topOwn: topFunctions(ours.functions, measured, isOwnCode),
      events: measured,
    };
  } finally {
    session.disconnect();
    db.destroy();
  }
}

function compare(ours: SelfTimes, sdk: SelfTimes, events: number): ProfileRow[] {
  const names = new Set([...ours.categories.keys(), ...sdk.categories.keys()]);
  return [...names]
    .map((category) => ({
      category,
      oursMicros: Math.round((ours.categories.get(category) ?? 0) / events),
      sdkMicros: Math.round((sdk.categories.get(category) ?? 0) / events),
    }))
    .sort((a, b) => b.oursMicros - b.sdkMicros - (a.oursMicros - a.sdkMicros));
}

/** Code that only the handler runs: ours, and the packages only it calls. */
function isOwnCode(category: string): boolean {
  return /^(ours:|zod|stripe|middy)/.test(category);
}

function topFunctions(
  functions: Map<string, { category: string; micros: number }>,
  events: number,
  include: (category: string) => boolean,
): TopFunction[] {
  return [...functions.entries()]
    .map(([name, { category, micros }]) => ({
      name,
      category,
      micros: Math.round(micros / events),
    }))
    .filter((entry) => include(entry.category))
    .sort((a, b) => b.micros - a.micros)
    .slice(0, 15);
}

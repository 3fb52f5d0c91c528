import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { median } from './stats';

/**
 * Each function's bundle, built exactly as `serverless package` builds it (serverless-esbuild
 * with serverless.yml's `custom.esbuild`, read through `serverless print`, so the settings cannot
 * drift), plus a `floor` bundle of just `stripe` and the DynamoDB client and an `sdkFloor` bundle
 * of the DynamoDB client alone, built the same way. For
 * each: the KB a cold start reads (the entry .mjs and the chunks it imports statically; chunks
 * reached only through a dynamic import(), stripe-node's for one, are counted apart, as they
 * load only when that import runs), and the median time a FRESH `node` takes to import it, measured
 * inside that process (performance.now() before the import and after it resolves), so node's
 * own start-up is not counted. Runs go round-robin over the bundles, so a busy moment of the
 * machine hits them all alike.
 */
export type BundleRow = {
  readonly name: string;
  readonly entry: string;
  /** The entry .mjs and the chunks it imports statically: what importing it reads. */
  readonly kb: number;
  /** Chunks reached only through a dynamic import(): read when that import first runs. */
  readonly lazyKb: number;
  readonly initMs: number;
  readonly initRunsMs: readonly number[];
  /**
   * CPU time of the same imports (user + system, all threads): what the import itself costs,
   * far less disturbed than wall time by other jobs on a shared machine.
   */
  readonly initCpuMs: number;
  readonly initCpuRunsMs: readonly number[];
  /** KB of `kb` by origin (a package, or `ours` for this repository's code), largest first. */
  readonly composition: readonly { readonly origin: string; readonly kb: number }[];
};

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const FLOOR_ENTRY = 'test/bench/floor.ts';
const SDK_FLOOR_ENTRY = 'test/bench/sdk-floor.ts';

/** serverless-esbuild options that are its own, not esbuild's (it removes them the same way). */
const PLUGIN_ONLY = [
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
  'config',
];

type ServerlessConfig = {
  functions: Record<string, { handler: string }>;
  custom: { esbuild: Record<string, unknown> };
};

/** The resolved serverless.yml (offline: nothing in it needs AWS to resolve). */
export async function serverlessConfig(): Promise<ServerlessConfig> {
  const { stdout } = await promisify(execFile)(
    join(ROOT, 'node_modules/.bin/serverless'),
    ['print', '--format', 'json'],
    {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    },
  );
  return JSON.parse(stdout.slice(stdout.indexOf('{'))) as ServerlessConfig;
}

/** serverless.yml's `custom.esbuild` turned into esbuild options, as serverless-esbuild does. */
export function esbuildOptionsOf(custom: Record<string, unknown>): BuildOptions {
  const options: Record<string, unknown> = { bundle: true, platform: 'node', ...custom };
  for (const key of PLUGIN_ONLY) delete options[key];
  const exclude = Array.isArray(custom.exclude) ? (custom.exclude as string[]) : ['aws-sdk'];
  const external = Array.isArray(custom.external) ? (custom.external as string[]) : [];
  options.external = [...external, ...(exclude.includes('*') ? [] : exclude)];
  const extension =
    typeof custom.outputFileExtension === 'string' ? custom.outputFileExtension : '.js';
  if (extension !== '.js') options.outExtension = { '.js': extension };
  return options as BuildOptions;
}

export async function measureBundles(options: {
  readonly runs: number;
  readonly progress?: (line: string) => void;
}): Promise<BundleRow[]> {
  const progress = options.progress ?? (() => {});
  progress('bundles: reading serverless.yml (serverless print)...');
  const config = await serverlessConfig();
  const esbuildOptions = esbuildOptionsOf(config.custom.esbuild);
  const extension = String(config.custom.esbuild.outputFileExtension ?? '.js');
  const entries = [
    ...Object.entries(config.functions).map(([name, fn]) => ({
      name,
      entry: `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.ts`,
    })),
    { name: 'floor', entry: FLOOR_ENTRY },
    { name: 'sdkFloor', entry: SDK_FLOOR_ENTRY },
  ];
  const outdir = mkdtempSync(join(tmpdir(), 'image-credits-bench-'));
  try {
    progress(`bundles: building ${entries.length} bundles with esbuild...`);
    const built: (Omit<BundleRow, 'initMs' | 'initRunsMs' | 'initCpuMs' | 'initCpuRunsMs'> & {
      file: string;
    })[] = [];
    for (const { name, entry } of entries) {
      const dir = join(outdir, name);
      // The metafile only describes the output; it changes nothing in it.
      const result = await build({
        ...esbuildOptions,
        entryPoints: [join(ROOT, entry)],
        outdir: dir,
        logLevel: 'error',
        metafile: true,
      });
      const file = join(
        dir,
        `${entry.slice(entry.lastIndexOf('/') + 1, -'.ts'.length)}${extension}`,
      );
      const coldStart = coldStartOutputs(result.metafile, file);
      const lazy = Object.entries(result.metafile.outputs).filter(
        ([path]) => path.endsWith(extension) && !coldStart.some((output) => output === path),
      );
      built.push({
        name,
        entry,
        file,
        kb: kilobytes(coldStart.reduce((sum, path) => sum + statSync(resolve(path)).size, 0)),
        lazyKb: kilobytes(lazy.reduce((sum, [path]) => sum + statSync(resolve(path)).size, 0)),
        composition: compositionOf(result.metafile, coldStart),
      });
    }
    const runs = new Map<string, ImportTime[]>(built.map((bundle) => [bundle.name, []]));
    // One unmeasured import of each first: the file cache, not the import, would be timed.
    for (const bundle of built) await importTimeMs(bundle.file);
    for (let run = 0; run < options.runs; run++) {
      const order = built.map((_, index) => built[(index + run) % built.length]);
      for (const bundle of order)
        if (bundle) runs.get(bundle.name)?.push(await importTimeMs(bundle.file));
      progress(`bundles: init run ${run + 1}/${options.runs}`);
    }
    return built.map(({ file: _file, ...bundle }) => {
      const times = runs.get(bundle.name) ?? [];
      const wall = times.map((time) => time.wallMs);
      const cpu = times.map((time) => time.cpuMs);
      return {
        ...bundle,
        initMs: Math.round(median(wall) * 10) / 10,
        initRunsMs: wall,
        initCpuMs: Math.round(median(cpu) * 10) / 10,
        initCpuRunsMs: cpu,
      };
    });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const kilobytes = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

/**
 * The output files importing the entry reads: the entry and, transitively, the chunks it imports
 * with an import statement (esbuild's `splitting`), not those only a dynamic import() reaches.
 * Paths as the metafile has them (relative to the working directory).
 */
function coldStartOutputs(metafile: Metafile, entryFile: string): string[] {
  const entry = Object.keys(metafile.outputs).find((path) => resolve(path) === entryFile);
  if (!entry) throw new Error(`esbuild wrote no ${entryFile}`);
  const reached = new Set([entry]);
  for (const path of reached) {
    for (const { path: imported, kind } of metafile.outputs[path]?.imports ?? []) {
      if (kind === 'import-statement' && imported in metafile.outputs) reached.add(imported);
    }
  }
  return [...reached];
}

/** Bytes of the given outputs by package (node_modules/<package>) or `ours`, from the metafile. */
function compositionOf(metafile: Metafile, outputs: readonly string[]): BundleRow['composition'] {
  const bytes = new Map<string, number>();
  for (const path of outputs) {
    for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[path]?.inputs ?? {})) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      const origin = match?.[1] ?? 'ours';
      bytes.set(origin, (bytes.get(origin) ?? 0) + bytesInOutput);
    }
  }
  return [...bytes.entries()]
    .map(([origin, size]) => ({ origin, kb: kilobytes(size) }))
    .sort((a, b) => b.kb - a.kb);
}

type ImportTime = { readonly wallMs: number; readonly cpuMs: number };

/** A fresh node imports the bundle and reports how long the import took, from inside. */
function importTimeMs(file: string): Promise<ImportTime> {
  const script = [
    'const cpu = process.cpuUsage();',
    'const start = performance.now();',
    `await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const wallMs = performance.now() - start;',
    'const used = process.cpuUsage(cpu);',
    'process.stdout.write(JSON.stringify({ wallMs, cpuMs: (used.user + used.system) / 1000 }));',
  ].join('\n');
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return new Promise((resolveTime, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const time = code === 0 ? parseTime(out) : undefined;
      if (!time) reject(new Error(`importing ${file} failed (${code}): ${err}`));
      else resolveTime(time);
    });
  });
}

function parseTime(out: string): ImportTime | undefined {
  try {
    const time = JSON.parse(out) as ImportTime;
    return Number.isFinite(time.wallMs) && Number.isFinite(time.cpuMs) ? time : undefined;
  } catch {
    return undefined;
  }
}

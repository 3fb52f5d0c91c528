import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { loadConfig } from '../../lib/config';
import { depsFromEnv } from '../../lib/runtime';
import { loadHandler } from '../local/functions';
import { applyLocalDefaults, invokeHandler } from '../local/invoke';
import { checkLocalTable } from '../local/local-table';
import type { OpsFunction } from './commands';

/**
 * Where the ops CLI's commands run: the local stack, calling each handler in this process the
 * way `npm run invoke` does (against DynamoDB Local), or a deployed stage, invoking its
 * functions through the Lambda API. Both answer as `aws lambda invoke` would: the function's
 * result, or the error it threw.
 */
export type InvokeResult =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string };

export type Target = {
  /** For messages: `the local stack` or `stage prod (image-credits-prod-*)`. */
  readonly description: string;
  readonly deployed: boolean;
  invoke(fn: OpsFunction, payload: unknown): Promise<InvokeResult>;
};

/** The command cannot run at all here (no local stack, no such function on the stage). */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

/** Sync invocations of the jobs may take Lambda's 15 minutes; the call waits a little longer. */
const INVOKE_TIMEOUT_MS = 16 * 60 * 1000;

/** The deployed function of a stage, by the framework's naming: image-credits-<stage>-<fn>. */
export function functionName(stage: string, fn: OpsFunction): string {
  return `image-credits-${stage}-${fn}`;
}

export function stageTarget(options: {
  readonly stage: string;
  readonly region?: string;
  /** Tests point the real client at a local fake of the Lambda API. */
  readonly client?: LambdaClient;
}): Target {
  const client =
    options.client ??
    new LambdaClient({
      ...(options.region && { region: options.region }),
      requestHandler: { requestTimeout: INVOKE_TIMEOUT_MS },
    });
  return {
    description: `stage ${options.stage} (image-credits-${options.stage}-*)`,
    deployed: true,
    async invoke(fn, payload) {
      const name = functionName(options.stage, fn);
      let response: InvokeCommandOutput;
      try {
        response = await client.send(
          new InvokeCommand({
            FunctionName: name,
            Payload: new TextEncoder().encode(JSON.stringify(payload)),
          }),
        );
      } catch (error) {
        if (error instanceof ResourceNotFoundException) {
          throw new TargetError(`stage ${options.stage} has no function ${name}`);
        }
        throw error;
      }
      const text = new TextDecoder().decode(response.Payload ?? new Uint8Array());
      const body = text ? (JSON.parse(text) as unknown) : null;
      if (!response.FunctionError) return { ok: true, result: body };
      const { errorType, errorMessage } = (body ?? {}) as {
        errorType?: string;
        errorMessage?: string;
      };
      return {
        ok: false,
        errorType: errorType ?? response.FunctionError,
        errorMessage: errorMessage ?? text,
      };
    },
  };
}

const MIGRATION_MODULE = fileURLToPath(new URL('../../lib/jobs/migrate.ts', import.meta.url));

/**
 * The local stack, with the same defaults as `npm run invoke` (DYNAMODB_ENDPOINT, TABLE_NAME).
 * `migrate` has no function in the local stack: it runs lib/jobs/migrate.ts's runMigration
 * directly, when this build has it.
 */
export function localTarget(env: NodeJS.ProcessEnv = process.env): Target {
  let checked = false;
  return {
    description: 'the local stack',
    deployed: false,
    async invoke(fn, payload) {
      applyLocalDefaults(env);
      if (!checked) {
        const config = loadConfig(env);
        await checkLocalTable({
          endpoint: config.dynamoDbEndpoint ?? String(env.DYNAMODB_ENDPOINT),
          tableName: config.tableName,
        }).catch((error: Error) => {
          throw new TargetError(error.message);
        });
        checked = true;
      }
      if (fn === 'migrate') return runLocalMigration(payload);
      const handler = await loadHandler(fn);
      const outcome = await invokeHandler(handler, payload, { functionName: fn });
      return outcome.ok
        ? { ok: true, result: outcome.result }
        : { ok: false, errorType: outcome.errorType, errorMessage: outcome.errorMessage };
    },
  };
}

type Migration = (deps: unknown, options: { dryRun: boolean }) => Promise<unknown>;

async function runLocalMigration(payload: unknown): Promise<InvokeResult> {
  if (!existsSync(MIGRATION_MODULE)) {
    throw new TargetError('migrate is not available in this build: it has no lib/jobs/migrate.ts');
  }
  // A computed specifier: this build may predate the module, and must still type-check.
  const specifier = MIGRATION_MODULE;
  const module = (await import(specifier)) as { runMigration?: Migration };
  if (typeof module.runMigration !== 'function') {
    throw new TargetError('lib/jobs/migrate.ts exports no runMigration(deps, { dryRun })');
  }
  const dryRun = (payload as { dryRun?: unknown }).dryRun === true;
  try {
    return { ok: true, result: await module.runMigration(depsFromEnv(), { dryRun }) };
  } catch (error) {
    const fault = error instanceof Error ? error : new Error(String(error));
    return { ok: false, errorType: fault.name, errorMessage: fault.message };
  }
}

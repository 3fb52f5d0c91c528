import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Talking to the local stack's DynamoDB Local from its own tools (`npm start`'s table set-up and
 * health check, `npm run invoke`, `npm run trigger`), as opposed to the handlers, which build
 * their clients from the configuration like in AWS.
 */

/** A health check or a "is it running?" probe must answer in about this time. */
export const PROBE_TIMEOUT_MS = 2_000;

/** DynamoDB Local or the table is not there; the handler would only fail slower. */
export class LocalStackUnreachableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'LocalStackUnreachableError';
  }
}

/** A client for DynamoDB Local: any credentials do, so fixed ones unless the shell has some. */
export function localDynamoDbClient(endpoint: string, options: { probe?: boolean } = {}) {
  return new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'local',
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
    // A probe reports what it finds at once instead of retrying into the caller's patience.
    ...(options.probe && { maxAttempts: 1 }),
  });
}

function describeFailure(error: unknown): string {
  const codes: string[] = [];
  for (let at: unknown = error; at instanceof Error && codes.length < 5; at = at.cause) {
    const code = (at as { code?: unknown }).code;
    codes.push(typeof code === 'string' ? code : at.message || at.name);
  }
  return codes.filter(Boolean).join(': ') || String(error);
}

export type TableStatus =
  | { readonly ok: true }
  | { readonly ok: false; readonly missing: boolean; readonly detail: string };

/** Whether the table answers a DescribeTable within PROBE_TIMEOUT_MS, and if not, why. */
export async function tableStatus(client: DynamoDBClient, tableName: string): Promise<TableStatus> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }), {
      abortSignal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    return { ok: true };
  } catch (error) {
    const missing = (error as { name?: string }).name === 'ResourceNotFoundException';
    return { ok: false, missing, detail: describeFailure(error) };
  }
}

/** Fails fast, with the fix in the message, when `npm start` is not running or its table differs. */
export async function checkLocalTable(where: {
  readonly endpoint: string;
  readonly tableName: string;
}): Promise<void> {
  const client = localDynamoDbClient(where.endpoint, { probe: true });
  const status = await tableStatus(client, where.tableName).finally(() => client.destroy());
  if (status.ok) return;
  if (status.missing) {
    throw new LocalStackUnreachableError(
      `DynamoDB at ${where.endpoint} has no table "${where.tableName}". Is \`npm start\` ` +
        'running? It creates the table; both must use the same TABLE_NAME.',
    );
  }
  throw new LocalStackUnreachableError(
    `Cannot reach DynamoDB at ${where.endpoint} (${status.detail}). ` +
      'Is `npm start` running? (Or set DYNAMODB_ENDPOINT to where DynamoDB Local listens.)',
  );
}

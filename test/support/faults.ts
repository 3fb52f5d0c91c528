import { Readable } from 'node:stream';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient, type StoreDeps } from '../../lib/store/client';

/**
 * Fault injection underneath the AWS SDK: a request handler (the SDK's transport) that fails
 * chosen requests the way DynamoDB or the network would. Everything above it is the SDK's own
 * stack (serialisation, signing, its retry strategy, error deserialisation), so a test sees
 * exactly what production code would see: a transient throttle absorbed by the SDK's retries,
 * or, once those are exhausted, the deserialised exception.
 */
export const FaultKind = {
  /** HTTP 400 ThrottlingException; the SDK retries it as throttling. */
  throttle: 'throttle',
  /** HTTP 500 InternalServerError; the SDK retries it as transient. */
  serverError: 'server_error',
  /** The socket resets before the request reaches DynamoDB: nothing happened there. */
  connectionReset: 'connection_reset',
  /** DynamoDB receives and applies the request, then the response is lost (ECONNRESET). */
  responseLost: 'response_lost',
} as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/** A DynamoDB API name as it appears in the X-Amz-Target header, e.g. TransactWriteItems. */
export type DynamoOperation =
  | 'BatchGetItem'
  | 'GetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'Query'
  | 'Scan'
  | 'TransactWriteItems'
  | (string & {});

export type FaultRule = {
  /** Only requests of this operation count; any operation when absent. */
  readonly operation?: DynamoOperation;
  readonly kind: FaultKind;
  /** Let this many matching requests through first, so the (skip+1)th is the first to fail. */
  readonly skip?: number;
  /** How many matching requests fail; Infinity for a hard failure that outlasts every retry. */
  readonly times?: number;
};

export type SeenRequest = {
  readonly operation: string;
  /** The SDK's own attempt counter for this call, from its `amz-sdk-request` header. */
  readonly attempt: number;
  readonly fault?: FaultKind;
};

export type FaultInjector = {
  /** Arms a rule; rules are consumed in the order they were armed. */
  fail(rule: FaultRule): void;
  /** Disarms every rule (the outage is over) and forgets the requests seen. */
  heal(): void;
  /** Every request that reached the transport, in order, with the fault it got if any. */
  readonly requests: readonly SeenRequest[];
};

type RequestLike = { headers: Record<string, string> };
type ResponseLike = {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body: unknown;
};
type Transport = {
  handle(request: RequestLike, options?: unknown): Promise<{ response: ResponseLike }>;
  destroy?(): void;
  updateHttpClientConfig?(key: never, value: never): void;
  httpHandlerConfigs?(): Record<string, unknown>;
};

type ArmedRule = { operation?: string; kind: FaultKind; skip: number; left: number };

/** The transport the SDK would use by default for this configuration (its NodeHttpHandler). */
function defaultTransport(config: DynamoDBClientConfig): Transport {
  // A client that never sends anything, only to resolve the SDK's default handler.
  return new DynamoDBClient(config).config.requestHandler as unknown as Transport;
}

function operationOf(request: RequestLike): string {
  const target = request.headers['x-amz-target'] ?? request.headers['X-Amz-Target'] ?? '';
  return target.split('.').pop() ?? '';
}

function attemptOf(request: RequestLike): number {
  const header = request.headers['amz-sdk-request'] ?? '';
  return Number(/attempt=(\d+)/.exec(header)?.[1] ?? 1);
}

/** An error response in DynamoDB's JSON protocol, for the SDK's deserialiser to parse. */
function errorResponse(statusCode: number, type: string, message: string): ResponseLike {
  const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
  return {
    statusCode,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': `fault-${type}`,
      'content-length': String(Buffer.byteLength(body)),
    },
    body: Readable.from([Buffer.from(body)]),
  };
}

function connectionReset(): Error {
  return Object.assign(new Error('socket hang up (injected)'), { code: 'ECONNRESET' });
}

async function drain(body: unknown): Promise<void> {
  if (body instanceof Readable) {
    for await (const _chunk of body) {
      // Read to the end so the socket goes back to the pool.
    }
  }
}

/** Wraps `inner` so that armed rules fail the matching requests. */
export function faultyTransport(inner: Transport): Transport & FaultInjector {
  const rules: ArmedRule[] = [];
  const requests: SeenRequest[] = [];

  function ruleFor(operation: string): ArmedRule | undefined {
    const rule = rules.find(
      (candidate) =>
        candidate.left > 0 &&
        (candidate.operation === undefined || candidate.operation === operation),
    );
    if (!rule) return undefined;
    if (rule.skip > 0) {
      rule.skip -= 1;
      return undefined;
    }
    rule.left -= 1;
    return rule;
  }

  async function handle(request: RequestLike, options?: unknown) {
    const operation = operationOf(request);
    const rule = ruleFor(operation);
    requests.push({
      operation,
      attempt: attemptOf(request),
      ...(rule && { fault: rule.kind }),
    });
    switch (rule?.kind) {
      case undefined:
        return inner.handle(request, options);
      case FaultKind.throttle:
        return {
          response: errorResponse(
            400,
            'ThrottlingException',
            'Rate of requests exceeded (injected)',
          ),
        };
      case FaultKind.serverError:
        return {
          response: errorResponse(500, 'InternalServerError', 'Internal server error (injected)'),
        };
      case FaultKind.connectionReset:
        throw connectionReset();
      case FaultKind.responseLost: {
        const { response } = await inner.handle(request, options);
        await drain(response.body);
        throw connectionReset();
      }
    }
  }

  return {
    handle,
    destroy: () => inner.destroy?.(),
    updateHttpClientConfig: (key, value) => inner.updateHttpClientConfig?.(key, value),
    httpHandlerConfigs: () => inner.httpHandlerConfigs?.() ?? {},
    fail(rule) {
      rules.push({
        ...(rule.operation !== undefined && { operation: rule.operation }),
        kind: rule.kind,
        skip: rule.skip ?? 0,
        left: rule.times ?? 1,
      });
    },
    heal() {
      rules.length = 0;
      requests.length = 0;
    },
    requests,
  };
}

/**
 * Store deps on the same table as `table`, whose DynamoDB client sends through a faulty
 * transport. `maxAttempts` is the SDK's own retry budget (3 unless told).
 */
export function faultyStore(
  table: Pick<StoreDeps, 'tableName'>,
  config: DynamoDBClientConfig,
  options: { maxAttempts?: number } = {},
): { deps: StoreDeps; faults: FaultInjector; destroy(): void } {
  const transport = faultyTransport(defaultTransport(config));
  const db = createDocumentClient({
    ...config,
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: transport,
  });
  return {
    deps: { db, tableName: table.tableName },
    faults: transport,
    destroy: () => db.destroy(),
  };
}

/** Every item in the table (a full scan), to prove what was and was not written. */
export async function tableItems(deps: StoreDeps): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.db.send(
      new ScanCommand({
        TableName: deps.tableName,
        ConsistentRead: true,
        ...(start && { ExclusiveStartKey: start }),
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort((a, b) =>
    `${a.pk}|${a.sk}` < `${b.pk}|${b.sk}` ? -1 : `${a.pk}|${a.sk}` > `${b.pk}|${b.sk}` ? 1 : 0,
  );
}

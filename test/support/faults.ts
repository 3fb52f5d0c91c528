import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient, type StoreDeps } from '../../lib/store/client';
import { SCHEMA_KEY } from '../../lib/store/keys';

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
  /** HTTP 400 ProvisionedThroughputExceededException; the SDK retries it as throttling. */
  provisionedThroughput: 'provisioned_throughput',
  /** HTTP 500 InternalServerError; the SDK retries it as transient. */
  serverError: 'server_error',
  /**
   * Another transaction holds an item: on TransactWriteItems, HTTP 400 TransactionCanceledException
   * whose first cancellation reason is TransactionConflict (the SDK does not retry it; our
   * optimistic-locking loop does); on any other operation, TransactionConflictException.
   */
  transactionConflict: 'transaction_conflict',
  /** The socket resets before the request reaches DynamoDB: nothing happened there. */
  connectionReset: 'connection_reset',
  /**
   * The request goes to a peer that accepts it and never answers, until the SDK's own
   * `requestTimeout` fires (TimeoutError, retried as transient). Nothing happened in DynamoDB.
   */
  timeout: 'timeout',
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
  /**
   * Instead of `skip`: the fault starts at this call (0-based, counting only first attempts,
   * so the SDK's retries of earlier calls do not shift it; of `operation` when given, else of
   * every operation), and goes on for `times` requests of that call's operation: the SDK's
   * retries of the call, then (for faults our own code retries) the calls that follow.
   */
  readonly atCall?: number;
  /** How many matching requests fail; Infinity for a hard failure that outlasts every retry. */
  readonly times?: number;
};

export type SeenRequest = {
  readonly operation: string;
  /** The SDK's own attempt counter for this call, from its `amz-sdk-request` header. */
  readonly attempt: number;
  readonly fault?: FaultKind;
  /** A failure that was not injected (e.g. DynamoDB Local slower than the request timeout). */
  readonly failedWith?: string;
  /** The request's JSON body, when the transport was asked to keep bodies. */
  readonly body?: string;
};

/** Called after a request that got no fault came back from DynamoDB, before the SDK reads it. */
export type AfterRequest = (seen: SeenRequest, statusCode: number) => Promise<void> | void;

export type FaultInjector = {
  /** Arms a rule; rules are consumed in the order they were armed. */
  fail(rule: FaultRule): void;
  /** Disarms every rule (the outage is over) and forgets the requests and calls seen. */
  heal(): void;
  /** Every request that reached the transport, in order, with the fault it got if any. */
  readonly requests: readonly SeenRequest[];
  /** Runs `hook` after every request that reached DynamoDB unharmed (undefined: no hook). */
  watch(hook: AfterRequest | undefined): void;
};

type RequestLike = { headers: Record<string, string>; body?: unknown };
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

type ArmedRule = {
  operation?: string;
  kind: FaultKind;
  skip: number;
  left: number;
  atCall?: number;
  /** For atCall rules: the call was reached, so the rule now takes every matching request. */
  started: boolean;
};

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

function bodyText(request: RequestLike): string {
  const { body } = request;
  if (typeof body === 'string') return body;
  // The SDK's body may be a Uint8Array that warns when used as a string: decode its bytes.
  if (body instanceof Uint8Array) return new TextDecoder('utf-8').decode(body);
  return '';
}

/** An error response in DynamoDB's JSON protocol, for the SDK's deserialiser to parse. */
function errorResponse(
  statusCode: number,
  type: string,
  message: string,
  extra: Record<string, unknown> = {},
): ResponseLike {
  const body = JSON.stringify({
    __type: `com.amazonaws.dynamodb.v20120810#${type}`,
    message,
    ...extra,
  });
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

/**
 * What DynamoDB answers when another transaction is in progress on an item of this request: for
 * a transaction, a cancellation with one reason per item (the first item conflicted).
 */
function transactionConflict(operation: string, request: RequestLike): ResponseLike {
  if (operation !== 'TransactWriteItems') {
    return errorResponse(
      400,
      'TransactionConflictException',
      'Transaction is ongoing for the item (injected)',
    );
  }
  let count = 1;
  try {
    const parsed = JSON.parse(bodyText(request)) as { TransactItems?: unknown[] };
    count = Math.max(1, parsed.TransactItems?.length ?? 1);
  } catch {
    // A body we cannot read still gets one reason.
  }
  const reasons = Array.from({ length: count }, (_, index) =>
    index === 0
      ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }
      : { Code: 'None' },
  );
  const codes = reasons.map((reason) => reason.Code).join(', ');
  return errorResponse(
    400,
    'TransactionCanceledException',
    `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes}] (injected)`,
    { CancellationReasons: reasons },
  );
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

/** A TCP peer that accepts connections, reads whatever arrives, and never answers. */
type Blackhole = { readonly port: number; close(): void };

async function startBlackhole(): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('blackhole has no port');
  return {
    port: address.port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** The same request, sent to the blackhole instead of DynamoDB. */
function redirected(request: RequestLike, port: number): RequestLike {
  const copy = Object.assign(
    Object.create(Object.getPrototypeOf(request)),
    request,
  ) as RequestLike & {
    hostname: string;
    port: number;
    protocol: string;
  };
  copy.hostname = '127.0.0.1';
  copy.port = port;
  copy.protocol = 'http:';
  copy.headers = { ...request.headers };
  return copy;
}

export type FaultyTransportOptions = {
  /**
   * The client's requestTimeout (with throwOnRequestTimeout) is set, so that a `timeout` fault
   * ends; without it a request to the blackhole would hang, so such a fault is refused.
   */
  readonly canTimeOut?: boolean;
  /** Keep each request's JSON body in `requests` (to attribute calls to commands). */
  readonly keepBodies?: boolean;
};

/** Wraps `inner` so that armed rules fail the matching requests. */
export function faultyTransport(
  inner: Transport,
  options: FaultyTransportOptions = {},
): Transport & FaultInjector {
  const rules: ArmedRule[] = [];
  const requests: SeenRequest[] = [];
  const callsByOperation = new Map<string, number>();
  let calls = 0;
  let hook: AfterRequest | undefined;
  let blackhole: Promise<Blackhole> | undefined;

  /** Counts a first attempt as a new call; returns its index overall and within its operation. */
  function countCall(operation: string, attempt: number) {
    if (attempt !== 1) return undefined;
    const ofOperation = callsByOperation.get(operation) ?? 0;
    callsByOperation.set(operation, ofOperation + 1);
    calls += 1;
    return { overall: calls - 1, ofOperation };
  }

  function ruleFor(operation: string, call: ReturnType<typeof countCall>): ArmedRule | undefined {
    for (const rule of rules) {
      if (rule.left <= 0) continue;
      if (rule.operation !== undefined && rule.operation !== operation) continue;
      if (rule.atCall !== undefined && !rule.started) {
        const index = rule.operation === undefined ? call?.overall : call?.ofOperation;
        if (index !== rule.atCall) continue;
        rule.started = true;
        // From here on the rule follows the operation of the call it started at.
        rule.operation = operation;
      } else if (rule.skip > 0) {
        rule.skip -= 1;
        return undefined;
      }
      rule.left -= 1;
      return rule;
    }
    return undefined;
  }

  async function timeOut(request: RequestLike, handlerOptions?: unknown) {
    blackhole ??= startBlackhole();
    const { port } = await blackhole;
    // The SDK's own handler sends it and gives up when its requestTimeout fires.
    return inner.handle(redirected(request, port), handlerOptions);
  }

  async function forward(seen: SeenRequest, request: RequestLike, handlerOptions?: unknown) {
    try {
      const answer = await inner.handle(request, handlerOptions);
      await hook?.(seen, answer.response.statusCode);
      return answer;
    } catch (error) {
      requests[requests.indexOf(seen)] = {
        ...seen,
        failedWith: (error as Error).name ?? String(error),
      };
      throw error;
    }
  }

  async function handle(request: RequestLike, handlerOptions?: unknown) {
    const operation = operationOf(request);
    const attempt = attemptOf(request);
    const rule = ruleFor(operation, countCall(operation, attempt));
    const seen: SeenRequest = {
      operation,
      attempt,
      ...(rule && { fault: rule.kind }),
      ...(options.keepBodies && { body: bodyText(request) }),
    };
    requests.push(seen);
    switch (rule?.kind) {
      case undefined:
        return forward(seen, request, handlerOptions);
      case FaultKind.throttle:
        return {
          response: errorResponse(
            400,
            'ThrottlingException',
            'Rate of requests exceeded (injected)',
          ),
        };
      case FaultKind.provisionedThroughput:
        return {
          response: errorResponse(
            400,
            'ProvisionedThroughputExceededException',
            'The level of configured provisioned throughput for the table was exceeded (injected)',
          ),
        };
      case FaultKind.serverError:
        return {
          response: errorResponse(500, 'InternalServerError', 'Internal server error (injected)'),
        };
      case FaultKind.transactionConflict:
        return { response: transactionConflict(operation, request) };
      case FaultKind.connectionReset:
        throw connectionReset();
      case FaultKind.timeout:
        return timeOut(request, handlerOptions);
      case FaultKind.responseLost: {
        const { response } = await inner.handle(request, handlerOptions);
        await drain(response.body);
        throw connectionReset();
      }
    }
  }

  return {
    handle,
    destroy: () => {
      inner.destroy?.();
      void blackhole?.then((peer) => peer.close());
    },
    updateHttpClientConfig: (key, value) => inner.updateHttpClientConfig?.(key, value),
    httpHandlerConfigs: () => inner.httpHandlerConfigs?.() ?? {},
    fail(rule) {
      if (rule.kind === FaultKind.timeout && !options.canTimeOut) {
        throw new Error(
          'a timeout fault needs the client to have a requestTimeout (requestTimeoutMs)',
        );
      }
      rules.push({
        ...(rule.operation !== undefined && { operation: rule.operation }),
        kind: rule.kind,
        skip: rule.skip ?? 0,
        left: rule.times ?? 1,
        ...(rule.atCall !== undefined && { atCall: rule.atCall }),
        started: false,
      });
    },
    heal() {
      rules.length = 0;
      requests.length = 0;
      callsByOperation.clear();
      calls = 0;
    },
    watch(next) {
      hook = next;
    },
    requests,
  };
}

export type FaultyStoreOptions = {
  /** The SDK's own retry budget (3 unless told). */
  readonly maxAttempts?: number;
  /**
   * The SDK's requestTimeout for every request (with throwOnRequestTimeout), which a `timeout`
   * fault waits for; no timeout (the SDK's default) unless told.
   */
  readonly requestTimeoutMs?: number;
  /** A retry strategy for the client (see quickRetries); the SDK's default unless told. */
  readonly retryStrategy?: DynamoDBClientConfig['retryStrategy'];
  readonly keepBodies?: boolean;
};

/**
 * Store deps on the same table as `table`, whose DynamoDB client sends through a faulty
 * transport.
 */
export function faultyStore(
  table: Pick<StoreDeps, 'tableName'>,
  config: DynamoDBClientConfig,
  options: FaultyStoreOptions = {},
): { deps: StoreDeps; faults: FaultInjector; destroy(): void } {
  const timeout = options.requestTimeoutMs;
  const transport = faultyTransport(
    defaultTransport({
      ...config,
      ...(timeout !== undefined && {
        requestHandler: { requestTimeout: timeout, throwOnRequestTimeout: true },
      }),
    }),
    { canTimeOut: timeout !== undefined, ...(options.keepBodies && { keepBodies: true }) },
  );
  const db = createDocumentClient({
    ...config,
    maxAttempts: options.maxAttempts ?? 3,
    ...(options.retryStrategy && { retryStrategy: options.retryStrategy }),
    requestHandler: transport,
  });
  return {
    deps: { db, tableName: table.tableName },
    faults: transport,
    destroy: () => db.destroy(),
  };
}

type RetryStrategyOption = NonNullable<DynamoDBClientConfig['retryStrategy']>;

/**
 * A factory of the SDK's own default retry strategy (its class, classification of retryable
 * errors, retry quota and attempt count) with every wait between attempts set to `delayMs`:
 * only the waiting is shortened (the standard strategy waits up to 1 s, then 2 s, after a
 * throttle), so that a test can fail hundreds of calls in seconds. One strategy per client:
 * it keeps the client's retry quota.
 */
export async function quickRetries(
  maxAttempts: number,
  delayMs = 1,
): Promise<() => RetryStrategyOption> {
  const probe = new DynamoDBClient({ region: 'local', maxAttempts });
  const standard = (await probe.config.retryStrategy()) as { mode?: string };
  probe.destroy();
  if (standard.mode !== 'standard') {
    throw new Error(`the SDK's default retry mode is ${standard.mode}, not standard`);
  }
  const Standard = standard.constructor as new (options: {
    maxAttempts: number;
    backoff: {
      computeNextBackoffDelay(attempt: number): number;
      setDelayBase(delayMs: number): void;
    };
  }) => RetryStrategyOption;
  return () =>
    new Standard({
      maxAttempts,
      backoff: { computeNextBackoffDelay: () => delayMs, setDelayBase: () => {} },
    });
}

/** The SDK's default number of attempts per call in this version (AWS_MAX_ATTEMPTS aside). */
export async function sdkDefaultMaxAttempts(): Promise<number> {
  const probe = new DynamoDBClient({ region: 'local' });
  const maxAttempts = await probe.config.maxAttempts();
  probe.destroy();
  return maxAttempts;
}

/** Every item in the table (a full scan), to prove what was and was not written. */
/**
 * Every item the processor wrote, sorted by key: the table's own SCHEMA item, written when
 * the table is created, is left out, so "nothing written" means an empty list.
 */
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
    items.push(...(page.Items ?? []).filter((item) => item.pk !== SCHEMA_KEY.pk));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort((a, b) =>
    `${a.pk}|${a.sk}` < `${b.pk}|${b.sk}` ? -1 : `${a.pk}|${a.sk}` > `${b.pk}|${b.sk}` ? 1 : 0,
  );
}

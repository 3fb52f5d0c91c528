import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Two small HTTP servers that speak DynamoDB's JSON protocol on loopback, for the bench:
 * - a recording proxy in front of DynamoDB Local, which logs every request and response (the
 *   calls and payloads an event kind really makes, from which capacity is computed);
 * - a replay server that answers each operation at once with a response recorded from DynamoDB
 *   Local, so that timing the handler measures our code and the SDK, not a database.
 */

/** One request and its answer, both bodies parsed (DynamoDB's wire format). */
export type Exchange = {
  /** The operation, from `X-Amz-Target` (`DynamoDB_20120810.BatchGetItem` -> `BatchGetItem`). */
  readonly operation: string;
  readonly request: Record<string, unknown>;
  readonly status: number;
  readonly response: Record<string, unknown>;
};

/** A response as recorded, replayed byte for byte. */
export type RecordedResponse = {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
};

export type RecordingProxy = {
  readonly endpoint: string;
  /** Every exchange so far, in order. */
  readonly exchanges: readonly Exchange[];
  /** The last response recorded for `operation`, for the replay server. */
  recorded(operation: string, index: number): RecordedResponse;
  close(): Promise<void>;
};

export function operationOf(target: string | string[] | undefined): string {
  const value = Array.isArray(target) ? target[0] : target;
  return value?.split('.').pop() ?? '(none)';
}

/** Headers that describe one connection or one moment, not the answer. */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'date',
  'content-length',
]);

function readBody(message: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on('data', (chunk: Buffer) => chunks.push(chunk));
    message.on('end', () => resolve(Buffer.concat(chunks)));
    message.on('error', reject);
  });
}

function parseJson(text: string): Record<string, unknown> {
  if (text.length === 0) return {};
  return JSON.parse(text) as Record<string, unknown>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A proxy to `upstream` (DynamoDB Local) that logs each exchange. */
export async function startRecordingProxy(upstream: string): Promise<RecordingProxy> {
  const target = new URL(upstream);
  const exchanges: Exchange[] = [];
  const raw: { operation: string; response: RecordedResponse }[] = [];
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const answer = await forward(target, req, body);
      const operation = operationOf(req.headers['x-amz-target']);
      exchanges.push({
        operation,
        request: parseJson(body.toString('utf8')),
        status: answer.status,
        response: parseJson(answer.body),
      });
      raw.push({ operation, response: answer });
      res.writeHead(answer.status, {
        ...answer.headers,
        'content-length': Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
    } catch (error) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(error));
    }
  });
  const endpoint = await listen(server);
  return {
    endpoint,
    exchanges,
    recorded(operation, index) {
      const entry = raw[index];
      if (!entry || entry.operation !== operation) {
        throw new Error(`exchange ${index} is not a ${operation}`);
      }
      return entry.response;
    },
    close: () => closeServer(server),
  };
}

function forward(target: URL, req: IncomingMessage, body: Buffer): Promise<RecordedResponse> {
  return new Promise((resolve, reject) => {
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      async (response) => {
        try {
          const answer = (await readBody(response)).toString('utf8');
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(response.headers)) {
            if (value === undefined || HOP_HEADERS.has(name)) continue;
            headers[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({ status: response.statusCode ?? 0, headers, body: answer });
        } catch (error) {
          reject(error);
        }
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

export type ReplayServer = {
  readonly endpoint: string;
  /** Requests answered so far, by operation. */
  counts(): Record<string, number>;
  close(): Promise<void>;
};

/**
 * Answers each request with the response recorded for its operation, as soon as the request's
 * body has arrived. An operation with no recording gets a DynamoDB-style 400, so a path the
 * bench did not expect fails loudly instead of being timed.
 */
export async function startReplayServer(
  responses: Readonly<Record<string, RecordedResponse>>,
): Promise<ReplayServer> {
  const counts: Record<string, number> = {};
  const prepared = Object.fromEntries(
    Object.entries(responses).map(([operation, recorded]) => [
      operation,
      {
        status: recorded.status,
        headers: {
          ...recorded.headers,
          'content-length': String(Buffer.byteLength(recorded.body)),
        },
        body: recorded.body,
      },
    ]),
  );
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      // A GetItem of anything but the SCHEMA item gets the recorded miss, when there is one: a
      // grant reads its purchase record, which the SCHEMA item's answer must not stand for.
      const read = operationOf(req.headers['x-amz-target']);
      const other =
        read === 'GetItem' &&
        prepared.GetItemOther !== undefined &&
        !Buffer.concat(chunks).toString('utf8').includes('"SCHEMA"');
      const operation = other ? 'GetItemOther' : read;
      counts[operation] = (counts[operation] ?? 0) + 1;
      const answer = prepared[operation];
      if (!answer) {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            __type: 'com.amazon.coral.validate#ValidationException',
            message: `the bench's stand-in has no recorded response for ${operation}`,
          }),
        );
        return;
      }
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    });
  });
  const endpoint = await listen(server);
  return { endpoint, counts: () => ({ ...counts }), close: () => closeServer(server) };
}

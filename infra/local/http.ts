import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * A local stand-in for the API Gateway HTTP API in front of the `stripeWebhook` Lambda: it turns
 * an HTTP request into the payload format 2.0 event API Gateway would send, and the Lambda's
 * result back into an HTTP response, the way API Gateway does. The body is kept as raw bytes
 * throughout, because the Stripe signature is computed over exactly those bytes.
 */

export const WEBHOOK_METHOD = 'POST';
export const WEBHOOK_PATH = '/webhooks/stripe';
export const WEBHOOK_ROUTE_KEY = `${WEBHOOK_METHOD} ${WEBHOOK_PATH}`;
export const HEALTH_PATH = '/health';
/** API Gateway HTTP APIs refuse request bodies above 10 MB; so does this server. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** The Lambda side: an API Gateway v2 event in, whatever the function returns out. */
export type WebhookHandler = (event: APIGatewayProxyEventV2) => Promise<unknown>;

/** What the adapter needs from an HTTP request; `rawHeaders` alternate name and value. */
export type HttpRequestParts = {
  readonly method: string;
  /** Path and query string exactly as the client sent them. */
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly receivedAtMs: number;
  readonly requestId?: string;
};

export type HttpResponseParts = {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer;
};

type Headers = Record<string, string>;

/** Lower-cased names; repeated headers joined with ',' (payload format 2.0 has no multi-values). */
function joinHeaders(rawHeaders: readonly string[]): Headers {
  const headers: Headers = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  return headers;
}

function splitUrl(url: string): { rawPath: string; rawQueryString: string } {
  const at = url.indexOf('?');
  return at < 0
    ? { rawPath: url, rawQueryString: '' }
    : { rawPath: url.slice(0, at), rawQueryString: url.slice(at + 1) };
}

function joinQuery(rawQueryString: string): Record<string, string> | undefined {
  if (!rawQueryString) return undefined;
  const joined: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    joined[name] = name in joined ? `${joined[name]},${value}` : value;
  }
  return joined;
}

const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

/** API Gateway's `requestContext.time`, e.g. `21/Nov/2026:16:15:46 +0000`. */
export function requestTime(atMs: number): string {
  const at = new Date(atMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  const date = `${pad(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}`;
  return `${date}:${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} +0000`;
}

/** The body as API Gateway passes it: plain when it is UTF-8 text, else base64. */
function encodeBody(body: Buffer): { body?: string; isBase64Encoded: boolean } {
  if (body.length === 0) return { isBase64Encoded: false };
  return isUtf8(body)
    ? { body: body.toString('utf8'), isBase64Encoded: false }
    : { body: body.toString('base64'), isBase64Encoded: true };
}

/** The payload format 2.0 event API Gateway sends to the Lambda behind `routeKey`. */
export function toApiGatewayEvent(
  request: HttpRequestParts,
  routeKey: string = WEBHOOK_ROUTE_KEY,
): APIGatewayProxyEventV2 {
  const { rawPath, rawQueryString } = splitUrl(request.url);
  const { cookie, ...headers } = joinHeaders(request.rawHeaders);
  const queryStringParameters = joinQuery(rawQueryString);
  const host = headers.host ?? 'localhost';
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookie !== undefined && { cookies: cookie.split(/;\s*/).filter(Boolean) }),
    headers,
    ...(queryStringParameters && { queryStringParameters }),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split(/[.:]/)[0] ?? host,
      http: {
        method: request.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; API Gateway says a.b.c.d.
        sourceIp: request.sourceIp.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ''),
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: request.requestId ?? randomUUID(),
      routeKey,
      stage: '$default',
      time: requestTime(request.receivedAtMs),
      timeEpoch: request.receivedAtMs,
    },
    ...encodeBody(request.body),
  };
}

function jsonResponse(statusCode: number, value: unknown, headers: Headers = {}) {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify(value)),
  };
}

export const INTERNAL_SERVER_ERROR = jsonResponse(500, { message: 'Internal Server Error' });

function isStructured(result: unknown): result is {
  statusCode: number;
  headers?: Record<string, unknown>;
  cookies?: unknown;
  body?: unknown;
  isBase64Encoded?: unknown;
} {
  return typeof result === 'object' && result !== null && 'statusCode' in result;
}

/**
 * The HTTP response API Gateway makes of a Lambda's result: a result with a `statusCode` is
 * used as it is (base64 bodies decoded, each cookie its own set-cookie header); anything else
 * becomes a 200 with the result as its JSON body. A malformed result is a 500, as in AWS.
 */
export function toHttpResponse(result: unknown): HttpResponseParts {
  if (!isStructured(result)) {
    const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? '');
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(body),
    };
  }
  const { statusCode, body = '', isBase64Encoded, cookies } = result;
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    return INTERNAL_SERVER_ERROR;
  }
  if (typeof body !== 'string') return INTERNAL_SERVER_ERROR;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  if (Array.isArray(cookies) && cookies.length > 0) headers['set-cookie'] = cookies.map(String);
  return {
    statusCode,
    headers,
    body: Buffer.from(body, isBase64Encoded === true ? 'base64' : 'utf8'),
  };
}

class BodyTooLargeError extends Error {}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.removeAllListeners('data');
        request.resume();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolveBody(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function writeResponse(response: ServerResponse, parts: HttpResponseParts): void {
  response.writeHead(parts.statusCode, {
    ...parts.headers,
    'content-length': String(parts.body.length),
  });
  response.end(parts.body);
}

/** Writes `parts`; headers Node refuses (e.g. a value with a newline) make it a 500, as in AWS. */
function send(response: ServerResponse, parts: HttpResponseParts, logError: (e: unknown) => void) {
  try {
    writeResponse(response, parts);
    return parts.statusCode;
  } catch (error) {
    logError(error);
    if (response.headersSent) response.destroy();
    else writeResponse(response, INTERNAL_SERVER_ERROR);
    return INTERNAL_SERVER_ERROR.statusCode;
  }
}

export type WebhookServerOptions = {
  readonly port: number;
  readonly handler: WebhookHandler;
  /** Default 127.0.0.1: the dev server is for this machine (and `stripe listen`) only. */
  readonly host?: string;
  /**
   * One line per request, e.g. `POST /webhooks/stripe 200 12ms`; default: silent. The query
   * string is left out: a URL may carry an email or a token, which a log must not keep.
   */
  readonly logRequest?: (line: string) => void;
  /**
   * What `GET /health` reports: 200 when it says ok, else 503 (so a process manager or load
   * balancer takes the stack out of service); default: always ok.
   */
  readonly health?: () => Promise<HealthReport>;
  /** A handler that threw, which API Gateway turns into a 500; default: stderr. */
  readonly logError?: (error: unknown) => void;
  readonly clock?: () => number;
};

export type WebhookServer = {
  /** Where the server listens, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly webhookUrl: string;
  readonly port: number;
  close(): Promise<void>;
};

function logToStderr(error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`webhook handler failed (answered 500): ${detail}\n`);
}

/** `ok` decides the status; the other fields say what was checked. */
export type HealthReport = { readonly ok: boolean } & Readonly<Record<string, unknown>>;

async function answerHealth(health: WebhookServerOptions['health']): Promise<HttpResponseParts> {
  if (!health) return jsonResponse(200, { ok: true });
  try {
    const report = await health();
    return jsonResponse(report.ok ? 200 : 503, report);
  } catch (error) {
    return jsonResponse(503, { ok: false, error: (error as Error).message });
  }
}

type Route = 'webhook' | 'health' | { readonly reject: HttpResponseParts };

function route(method: string, path: string): Route {
  if (path === WEBHOOK_PATH) {
    return method === WEBHOOK_METHOD
      ? 'webhook'
      : { reject: jsonResponse(405, { message: 'Method Not Allowed' }, { allow: WEBHOOK_METHOD }) };
  }
  if (path === HEALTH_PATH) {
    return method === 'GET'
      ? 'health'
      : { reject: jsonResponse(405, { message: 'Method Not Allowed' }, { allow: 'GET' }) };
  }
  return { reject: jsonResponse(404, { message: 'Not Found' }) };
}

async function callHandler(
  options: WebhookServerOptions,
  request: IncomingMessage,
  receivedAtMs: number,
): Promise<HttpResponseParts> {
  let body: Buffer;
  try {
    body = await readBody(request);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return jsonResponse(413, { message: 'Request Entity Too Large' });
    }
    throw error;
  }
  const event = toApiGatewayEvent({
    method: request.method ?? WEBHOOK_METHOD,
    url: request.url ?? WEBHOOK_PATH,
    rawHeaders: request.rawHeaders,
    body,
    sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
    receivedAtMs,
  });
  try {
    return toHttpResponse(await options.handler(event));
  } catch (error) {
    (options.logError ?? logToStderr)(error);
    return INTERNAL_SERVER_ERROR;
  }
}

async function answer(
  options: WebhookServerOptions,
  request: IncomingMessage,
): Promise<HttpResponseParts> {
  const receivedAtMs = (options.clock ?? Date.now)();
  const method = request.method ?? 'GET';
  const { rawPath } = splitUrl(request.url ?? '/');
  const target = route(method, rawPath);
  if (target === 'webhook') return callHandler(options, request, receivedAtMs);
  request.resume();
  return target === 'health' ? answerHealth(options.health) : target.reject;
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string) {
  return new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

/**
 * Serves `handler` at `POST /webhooks/stripe` (and `GET /health`) until `close()`. Rejects with
 * the listen error (e.g. code EADDRINUSE) when the port is taken.
 */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? Date.now;
  const logError = options.logError ?? logToStderr;
  const server = createServer((request, response) => {
    const startedAtMs = clock();
    answer(options, request)
      .catch((error: unknown) => {
        logError(error);
        return INTERNAL_SERVER_ERROR;
      })
      .then((parts) => {
        const status = send(response, parts, logError);
        const { rawPath } = splitUrl(request.url ?? '/');
        options.logRequest?.(`${request.method} ${rawPath} ${status} ${clock() - startedAtMs}ms`);
      });
  });
  await listen(server, options.port, host);
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    webhookUrl: `${url}${WEBHOOK_PATH}`,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

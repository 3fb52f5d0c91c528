import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HealthReport,
  requestTime,
  startWebhookServer,
  toApiGatewayEvent,
  toHttpResponse,
  type WebhookHandler,
  type WebhookServer,
  type WebhookServerOptions,
} from '../../infra/local/http';

type Reply = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
};

/** A raw HTTP request, so that header case, repeats and body bytes are exactly what we send. */
function send(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string | string[]> },
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolveReply, reject) => {
    const target = new URL(options.path ?? '/webhooks/stripe', url);
    const outgoing = httpRequest(
      target,
      { method: options.method ?? 'POST', headers: options.headers ?? {} },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () =>
          resolveReply({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

describe('Function: startWebhookServer', () => {
  let server: WebhookServer | undefined;
  const received: APIGatewayProxyEventV2[] = [];
  const errors: unknown[] = [];

  const logged: string[] = [];

  async function serve(
    handler: WebhookHandler,
    options: Pick<WebhookServerOptions, 'health'> = {},
  ) {
    server = await startWebhookServer({
      port: 0,
      handler: async (event) => {
        received.push(event);
        return handler(event);
      },
      logError: (error) => errors.push(error),
      logRequest: (line) => logged.push(line),
      ...options,
    });
    return server;
  }

  afterEach(async () => {
    await server?.close();
    server = undefined;
    received.length = 0;
    errors.length = 0;
    logged.length = 0;
  });

  it('passes a UTF-8 body through byte for byte as plain text', async () => {
    // Prepare: whitespace, escapes and non-ASCII that any JSON re-serialisation would change
    const { url } = await serve(async () => ({ statusCode: 200, body: '{}' }));
    const body = Buffer.from('{\n  "id": "evt_1",\t"name": "Zoë \\u00e9 ✓"  }\r\n', 'utf8');

    // Act
    await send(url, { headers: { 'Content-Type': 'application/json' } }, body);

    // Assess
    const event = received[0] as APIGatewayProxyEventV2;
    expect(event.isBase64Encoded).toBe(false);
    expect(Buffer.from(event.body ?? '', 'utf8').equals(body)).toBe(true);
  });

  it('passes a body that is not valid UTF-8 as base64 of the exact bytes', async () => {
    // Prepare
    const { url } = await serve(async () => ({ statusCode: 200 }));
    const body = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3]), randomBytes(64)]);

    // Act
    await send(url, { headers: { 'Content-Type': 'application/octet-stream' } }, body);

    // Assess
    const event = received[0] as APIGatewayProxyEventV2;
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64').equals(body)).toBe(true);
  });

  it('lower-cases header names and joins repeated headers with commas', async () => {
    // Prepare
    const { url } = await serve(async () => ({ statusCode: 200 }));

    // Act
    await send(
      url,
      {
        path: '/webhooks/stripe?a=1&a=2&b=x',
        headers: { 'Stripe-Signature': 't=1,v1=abc', 'X-Repeated': ['one', 'two'] },
      },
      Buffer.from('{}'),
    );

    // Assess
    const event = received[0] as APIGatewayProxyEventV2;
    expect(event.headers['stripe-signature']).toBe('t=1,v1=abc');
    expect(event.headers['x-repeated']).toBe('one,two');
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /webhooks/stripe',
      rawPath: '/webhooks/stripe',
      rawQueryString: 'a=1&a=2&b=x',
      queryStringParameters: { a: '1,2', b: 'x' },
      requestContext: {
        routeKey: 'POST /webhooks/stripe',
        stage: '$default',
        http: { method: 'POST', path: '/webhooks/stripe', sourceIp: '127.0.0.1' },
      },
    });
    expect(event.requestContext.requestId).toMatch(/\S/);
    expect(event.requestContext.timeEpoch).toBeTypeOf('number');
  });

  it("writes back the handler's status, headers and body", async () => {
    // Prepare
    const { url } = await serve(async () => ({
      statusCode: 202,
      headers: { 'X-Answer': 42 },
      body: '{"received":true}',
    }));

    // Act
    const reply = await send(url, {}, Buffer.from('{}'));

    // Assess
    expect(reply.status).toBe(202);
    expect(reply.headers['x-answer']).toBe('42');
    expect(reply.body.toString()).toBe('{"received":true}');
  });

  it('decodes a base64 result body', async () => {
    // Prepare
    const bytes = randomBytes(32);
    const { url } = await serve(async () => ({
      statusCode: 200,
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    }));

    // Act
    const reply = await send(url, {}, Buffer.from('{}'));

    // Assess
    expect(reply.body.equals(bytes)).toBe(true);
  });

  it('answers 500 like API Gateway when the handler throws, and reports the error', async () => {
    // Prepare
    const { url } = await serve(async () => {
      throw new Error('boom');
    });

    // Act
    const reply = await send(url, {}, Buffer.from('{}'));

    // Assess
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body.toString())).toEqual({ message: 'Internal Server Error' });
    expect((errors[0] as Error).message).toBe('boom');
  });

  it('answers 404 for other paths and 405 for other methods, without calling the handler', async () => {
    // Prepare
    const { url } = await serve(async () => ({ statusCode: 200 }));

    // Act
    const notFound = await send(url, { path: '/webhooks/other' }, Buffer.from('{}'));
    const trailingSlash = await send(url, { path: '/webhooks/stripe/' }, Buffer.from('{}'));
    const wrongMethod = await send(url, { method: 'GET' });
    const put = await send(url, { method: 'PUT' }, Buffer.from('{}'));

    // Assess
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body.toString())).toEqual({ message: 'Not Found' });
    expect(trailingSlash.status).toBe(404);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect(JSON.parse(wrongMethod.body.toString())).toEqual({ message: 'Method Not Allowed' });
    expect(put.status).toBe(405);
    expect(received).toHaveLength(0);
  });

  it('answers GET /health with {"ok":true}', async () => {
    // Prepare
    const { url } = await serve(async () => ({ statusCode: 200 }));

    // Act
    const reply = await send(url, { method: 'GET', path: '/health' });

    // Assess
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toEqual({ ok: true });
  });

  it('answers /health with the check it is given: 200 when ok, 503 when not or when it throws', async () => {
    // Prepare
    let state: 'up' | 'down' | 'broken' = 'up';
    const { url } = await serve(async () => ({ statusCode: 200 }), {
      health: async (): Promise<HealthReport> => {
        if (state === 'broken') throw new Error('check failed');
        return state === 'up'
          ? { ok: true, dynamodb: 'ok' }
          : { ok: false, dynamodb: 'unreachable' };
      },
    });

    // Act
    const healthy = await send(url, { method: 'GET', path: '/health' });
    state = 'down';
    const unhealthy = await send(url, { method: 'GET', path: '/health' });
    state = 'broken';
    const broken = await send(url, { method: 'GET', path: '/health' });

    // Assess
    expect(healthy.status).toBe(200);
    expect(JSON.parse(healthy.body.toString())).toEqual({ ok: true, dynamodb: 'ok' });
    expect(unhealthy.status).toBe(503);
    expect(JSON.parse(unhealthy.body.toString())).toEqual({ ok: false, dynamodb: 'unreachable' });
    expect(broken.status).toBe(503);
    expect(JSON.parse(broken.body.toString())).toEqual({ ok: false, error: 'check failed' });
  });

  it('logs each request by method, path, status and time, never its query string', async () => {
    // Prepare
    const { url } = await serve(async () => ({ statusCode: 204 }));

    // Act
    await send(
      url,
      { path: '/webhooks/stripe?email=jane%40example.com&token=t0k3n' },
      Buffer.from('{}'),
    );

    // Assess
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^POST \/webhooks\/stripe 204 \d+ms$/);
  });

  it('rejects a second server on a taken port with EADDRINUSE', async () => {
    // Prepare
    const first = await serve(async () => ({ statusCode: 200 }));

    // Act
    const second = startWebhookServer({ port: first.port, handler: async () => ({}) });

    // Assess
    await expect(second).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('Function: toApiGatewayEvent', () => {
  const base = {
    method: 'POST',
    url: '/webhooks/stripe',
    sourceIp: '10.0.0.1',
    receivedAtMs: Date.parse('2026-11-21T16:15:46.123Z'),
    requestId: 'req_1',
  };

  it('moves cookies out of the headers into the cookies list', () => {
    // Act
    const event = toApiGatewayEvent({
      ...base,
      rawHeaders: ['Cookie', 'a=1; b=2', 'Host', 'localhost:3000'],
      body: Buffer.alloc(0),
    });

    // Assess
    expect(event.cookies).toEqual(['a=1', 'b=2']);
    expect(event.headers).toEqual({ host: 'localhost:3000' });
    expect(event.requestContext.domainName).toBe('localhost:3000');
  });

  it('leaves out the body of an empty request, and query parameters when there are none', () => {
    // Act
    const event = toApiGatewayEvent({ ...base, rawHeaders: [], body: Buffer.alloc(0) });

    // Assess
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.rawQueryString).toBe('');
  });

  it('reports an IPv4 client of a dual-stack socket by its IPv4 address', () => {
    // Act
    const mapped = toApiGatewayEvent({
      ...base,
      sourceIp: '::ffff:192.168.1.20',
      rawHeaders: [],
      body: Buffer.alloc(0),
    });
    const v6 = toApiGatewayEvent({
      ...base,
      sourceIp: '::1',
      rawHeaders: [],
      body: Buffer.alloc(0),
    });

    // Assess
    expect(mapped.requestContext.http.sourceIp).toBe('192.168.1.20');
    expect(v6.requestContext.http.sourceIp).toBe('::1');
  });

  it("stamps the request's time as API Gateway writes it", () => {
    // Act
    const event = toApiGatewayEvent({ ...base, rawHeaders: [], body: Buffer.from('x') });

    // Assess
    expect(event.requestContext.timeEpoch).toBe(base.receivedAtMs);
    expect(event.requestContext.time).toBe('21/Nov/2026:16:15:46 +0000');
    expect(requestTime(Date.parse('2027-01-05T03:04:05Z'))).toBe('05/Jan/2027:03:04:05 +0000');
  });
});

describe('Function: toHttpResponse', () => {
  it('turns a result without statusCode into a 200 with the result as JSON', () => {
    // Act
    const response = toHttpResponse({ received: true });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.body.toString()).toBe('{"received":true}');
  });

  it('gives each cookie its own set-cookie header', () => {
    // Act
    const response = toHttpResponse({ statusCode: 200, cookies: ['a=1', 'b=2'] });

    // Assess
    expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('turns a malformed result into a 500', () => {
    // Act
    const badStatus = toHttpResponse({ statusCode: 42 });
    const badBody = toHttpResponse({ statusCode: 200, body: { not: 'a string' } });

    // Assess
    expect(badStatus.statusCode).toBe(500);
    expect(badBody.statusCode).toBe(500);
  });
});

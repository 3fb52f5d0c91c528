import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';

/**
 * A small local stand-in for the Lambda Invoke API (`POST /2015-03-31/functions/<name>/
 * invocations`), so the ops CLI's stage path drives the real SDK client without AWS. Each
 * known function name runs the given handler in this process, the way Lambda would: its result
 * is the payload; a throw is `X-Amz-Function-Error: Unhandled` with `{errorType, errorMessage}`.
 * An unknown name answers ResourceNotFoundException. Every invocation is recorded.
 */
export type LambdaHandlerLike = (event: unknown, context: Context) => Promise<unknown>;

export type LambdaFake = {
  readonly invocations: { functionName: string; payload: unknown; signed: boolean }[];
  client(): LambdaClient;
  stop(): Promise<void>;
};

export async function startLambdaFake(
  handlers: Record<string, LambdaHandlerLike>,
): Promise<LambdaFake> {
  const invocations: LambdaFake['invocations'] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.url ?? '');
      const functionName = decodeURIComponent(match?.[1] ?? '');
      const handler = handlers[functionName];
      if (request.method !== 'POST' || !handler) {
        response.writeHead(404, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'ResourceNotFoundException',
        });
        return response.end(
          JSON.stringify({ Type: 'User', message: `Function not found: ${functionName}` }),
        );
      }
      const payload = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as unknown;
      invocations.push({
        functionName,
        payload,
        signed: String(request.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256'),
      });
      const context = {
        functionName,
        awsRequestId: `req-fake-${invocations.length}`,
        getRemainingTimeInMillis: () => 900_000,
      } as Context;
      try {
        const result = await handler(payload, context);
        response.writeHead(200, {
          'content-type': 'application/json',
          'x-amz-executed-version': '$LATEST',
        });
        response.end(JSON.stringify(result ?? null));
      } catch (error) {
        const fault = error as Error;
        response.writeHead(200, {
          'content-type': 'application/json',
          'x-amz-function-error': 'Unhandled',
        });
        response.end(JSON.stringify({ errorType: fault.name, errorMessage: fault.message }));
      }
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return {
    invocations,
    client: () =>
      new LambdaClient({
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      }),
    stop() {
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

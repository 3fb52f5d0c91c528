import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server speaking the AWS JSON 1.1 protocol for one operation (`X-Amz-Target`),
 * which the real SDK clients reach by `endpoint`: the body is the operation's JSON input, the
 * answer a JSON body with its status (errors as `{"__type": "...", "message": "..."}`). The
 * fakes of SSM and EventBridge are built on it; each says what its one operation answers.
 */
export type AwsJsonAnswer = { readonly status: number; readonly body: unknown };

export type AwsJsonRequest = {
  readonly input: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
  /** Whether the SDK signed the request (SigV4), as it does with any credentials. */
  readonly signed: boolean;
};

export type AwsJsonServer = { readonly endpoint: string; stop(): Promise<void> };

export async function startAwsJsonServer(
  target: string,
  answer: (request: AwsJsonRequest) => AwsJsonAnswer,
): Promise<AwsJsonServer> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const asked = String(request.headers['x-amz-target'] ?? '');
      const { status, body } =
        asked === target
          ? answer({
              input: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'),
              headers: request.headers,
              signed: String(request.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256'),
            })
          : { status: 400, body: { __type: 'UnknownOperationException', message: asked } };
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify(body));
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop() {
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

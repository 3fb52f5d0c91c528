import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSMClient } from '@aws-sdk/client-ssm';

/**
 * A small local stand-in for SSM Parameter Store's GetParameter (AWS JSON 1.1 over HTTP), so
 * tests drive the real SDK client, through Powertools Parameters, without AWS. Each stored
 * parameter keeps a version that `put` bumps, as SSM does. Every GetParameter is recorded.
 * Names in `denied` answer AccessDeniedException; unknown names ParameterNotFound.
 */
export type SsmFake = {
  readonly endpoint: string;
  /** The names asked for, in order, with whether decryption was asked. */
  readonly requests: { name: string; withDecryption: boolean }[];
  readonly denied: Set<string>;
  put(name: string, value: string): void;
  /** An SDK client pointed here, with dummy credentials. */
  client(): SSMClient;
  stop(): Promise<void>;
};

type Stored = { value: string; version: number };

export async function startSsmFake(initial: Record<string, string> = {}): Promise<SsmFake> {
  const parameters = new Map<string, Stored>();
  const requests: SsmFake['requests'] = [];
  const denied = new Set<string>();
  const put = (name: string, value: string) => {
    parameters.set(name, { value, version: (parameters.get(name)?.version ?? 0) + 1 });
  };
  for (const [name, value] of Object.entries(initial)) put(name, value);

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const send = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(body));
      };
      const target = String(request.headers['x-amz-target'] ?? '');
      if (target !== 'AmazonSSM.GetParameter') {
        return send(400, { __type: 'UnknownOperationException', message: target });
      }
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        Name?: string;
        WithDecryption?: boolean;
      };
      const name = String(input.Name);
      requests.push({ name, withDecryption: input.WithDecryption === true });
      if (denied.has(name)) {
        return send(400, {
          __type: 'AccessDeniedException',
          message: `not authorized to perform ssm:GetParameter on ${name}`,
        });
      }
      const stored = parameters.get(name);
      if (!stored) return send(400, { __type: 'ParameterNotFound', message: '' });
      send(200, {
        Parameter: {
          Name: name,
          Type: 'SecureString',
          // Without decryption SSM returns the ciphertext; the fake makes that obvious.
          Value: input.WithDecryption ? stored.value : 'AQICAHh-ciphertext',
          Version: stored.version,
          ARN: `arn:aws:ssm:us-east-1:000000000000:parameter${name}`,
          DataType: 'text',
        },
      });
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    requests,
    denied,
    put,
    client: () =>
      new SSMClient({
        endpoint,
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

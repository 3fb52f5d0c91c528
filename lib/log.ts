/**
 * A small structured logger: one JSON object per line, so CloudWatch Logs Insights can query
 * `eventId`, `type` and `outcome` directly. It never receives payloads: callers pass the few
 * fields worth keeping, and a last line of defence drops fields whose names suggest a secret,
 * a signature, a raw body or an email address.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export const LogLevel = { debug: 'debug', info: 'info', warn: 'warn', error: 'error' } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, unknown>>;

export type Logger = {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line it writes. */
  child(fields: LogFields): Logger;
};

export type LoggerOptions = {
  /** Lines below this level are dropped; defaults to LOG_LEVEL, else `info`. */
  readonly level?: LogLevel;
  /** Where a finished line goes; defaults to stderr, so stdout stays free for results. */
  readonly sink?: (line: string) => void;
  readonly clock?: () => number;
  readonly fields?: LogFields;
};

/**
 * Fields every line written inside `withLogContext` carries, whichever logger writes it: the
 * Lambda request id reaches lines from code that was handed a logger long before the request
 * (the webhook's deps are built once per container), without threading it through every call.
 */
const requestFields = new AsyncLocalStorage<LogFields>();

/** Runs `run` with `fields` (e.g. the request id) added to every line logged inside it. */
export function withLogContext<T>(fields: LogFields, run: () => T): T {
  return requestFields.run({ ...requestFields.getStore(), ...fields }, run);
}

/** The fields of a Lambda invocation worth a log line: its request id, absent in bare tests. */
export function requestContextFields(context: { awsRequestId?: string } | undefined): LogFields {
  const requestId = context?.awsRequestId;
  return requestId ? { requestId } : {};
}

/** Field names that must never reach a log line, whatever a caller passes. */
const FORBIDDEN_FIELD =
  /secret|signature|password|authorization|api[-_]?key|email|raw[-_]?body|^body$/i;

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = rank[options.level ?? levelFromEnv()];
  const sink = options.sink ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = options.clock ?? Date.now;
  const base = options.fields ?? {};
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (rank[level] < threshold) return;
    const line = {
      level,
      time: new Date(clock()).toISOString(),
      message,
      ...requestFields.getStore(),
      ...base,
      ...fields,
    };
    sink(JSON.stringify(line, redact));
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

function levelFromEnv(): LogLevel {
  const wanted = process.env.LOG_LEVEL?.trim().toLowerCase();
  return wanted && wanted in rank ? (wanted as LogLevel) : 'info';
}

function redact(key: string, value: unknown): unknown {
  if (key !== '' && FORBIDDEN_FIELD.test(key)) return '[redacted]';
  return value;
}

/** The fields worth logging about a fault: its name, message and cause, never its payload. */
export function errorFields(error: unknown): { name: string; message: string; cause?: string } {
  if (!(error instanceof Error)) return { name: 'NonError', message: String(error) };
  const cause = error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : '';
  return { name: error.name, message: error.message, ...(cause && { cause }) };
}

/** For tests: a logger that keeps its lines, parsed, instead of writing them. */
export function capturingLogger(options: Omit<LoggerOptions, 'sink'> = {}) {
  const raw: string[] = [];
  const logger = createLogger({ level: 'debug', ...options, sink: (line) => raw.push(line) });
  return {
    logger,
    raw,
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

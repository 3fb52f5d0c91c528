/**
 * What the jobs need from a logger: a message and a few fields per line. Any structured logger
 * with these methods fits; the default writes one JSON object per line to stderr, so a job's
 * stdout (the `npm run invoke` result) stays clean and CloudWatch can query the fields.
 */
export type JobLog = {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
};

function line(level: string) {
  return (message: string, fields: Readonly<Record<string, unknown>> = {}) => {
    process.stderr.write(
      `${JSON.stringify({ level, time: new Date().toISOString(), message, ...fields })}\n`,
    );
  };
}

export const stderrLog: JobLog = { info: line('info'), warn: line('warn'), error: line('error') };

/** Keeps lines instead of writing them, for tests. */
export function collectingLog() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const keep =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, message, fields });
    };
  const log: JobLog = { info: keep('info'), warn: keep('warn'), error: keep('error') };
  return { log, lines };
}

/**
 * Runs in every test worker before its test file. Vitest keeps what a test writes through
 * `console` with that test, and `silent: 'passed-only'` (vitest.config.ts) prints it only when
 * the test fails. The handlers' JSON log lines, and anything else that writes to
 * process.stdout or process.stderr directly, would bypass that and fill a passing run's output,
 * so such writes are handed to the console too, where vitest attributes them to the running
 * test. (Vitest's own console sends its output to the main process, not through these
 * streams, so this cannot loop.)
 */

type Write = typeof process.stdout.write;

function writeThrough(log: (text: string) => void): Write {
  return ((chunk: unknown, encodingOrDone?: unknown, done?: unknown) => {
    const encoding =
      typeof encodingOrDone === 'string' ? (encodingOrDone as BufferEncoding) : 'utf8';
    const text =
      typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(encoding);
    // console adds its own line end.
    log(text.endsWith('\n') ? text.slice(0, -1) : text);
    const callback = typeof encodingOrDone === 'function' ? encodingOrDone : done;
    if (typeof callback === 'function') callback();
    return true;
  }) as Write;
}

process.stdout.write = writeThrough((text) => console.log(text));
process.stderr.write = writeThrough((text) => console.error(text));

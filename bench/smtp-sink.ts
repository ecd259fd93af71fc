/**
 * An SMTP server for the benchmark, run as its own process so its CPU is not the sender's.
 * It accepts everything and counts deliveries per ledger id (the `X-Reminder-Ids` header, or
 * `X-Bench-Id` for messages that never touched the ledger), which is how a run proves that
 * nothing was lost or delivered twice. The parent talks to it over the IPC channel of `fork`.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export type SinkRequest = { type: 'reset' } | { type: 'report' } | { type: 'close' };

export interface SinkReport {
  /** Messages received since the last reset. */
  messages: number;
  /** Distinct ids seen, and the ids seen more than once (with their counts). */
  ids: number;
  duplicates: Array<[string, number]>;
  /** Every id seen, for the parent to compare with what it expected. */
  seen: string[];
  /** Epoch ms of the first and last message fully received: the send window. */
  firstAt: number | null;
  lastAt: number | null;
  bytes: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The ids a message is about, read from its (unfolded) header block. */
function idsOf(head: string): string[] {
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ');
  const match = /^(?:X-Reminder-Ids|X-Bench-Id):(.*)$/im.exec(unfolded);
  return match?.[1] ? match[1].split(',').map((id) => id.trim()).filter(Boolean) : [];
}

let counts = new Map<string, number>();
let state = { messages: 0, firstAt: null as number | null, lastAt: null as number | null, bytes: 0 };

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 10 * 1024 * 1024,
  onData(stream, _session, callback) {
    const chunks: Buffer[] = [];
    let head: string | null = null;
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (head !== null) return;
      chunks.push(chunk);
      const joined = Buffer.concat(chunks);
      const end = joined.indexOf(HEADER_END);
      if (end >= 0) head = joined.subarray(0, end).toString('latin1');
    });
    stream.on('end', () => {
      const now = Date.now();
      for (const id of idsOf(head ?? Buffer.concat(chunks).toString('latin1'))) counts.set(id, (counts.get(id) ?? 0) + 1);
      state.messages += 1;
      state.bytes += length;
      state.firstAt ??= now;
      state.lastAt = now;
      callback(null, 'Ok: queued');
    });
  },
});
server.on('error', () => undefined);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.server.address() as AddressInfo;
  process.send?.({ type: 'listening', port });
});

process.on('message', (request: SinkRequest) => {
  if (request.type === 'reset') {
    counts = new Map();
    state = { messages: 0, firstAt: null, lastAt: null, bytes: 0 };
    process.send?.({ type: 'reset' });
  } else if (request.type === 'report') {
    const report: SinkReport = {
      ...state,
      ids: counts.size,
      duplicates: [...counts].filter(([, n]) => n > 1),
      seen: [...counts.keys()],
    };
    process.send?.({ type: 'report', report });
  } else if (request.type === 'close') {
    server.close(() => process.exit(0));
  }
});
// The parent went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));

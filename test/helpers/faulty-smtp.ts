import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** How the server treats the next messages to one recipient. */
export type Misbehaviour =
  /** Refuse at RCPT TO with this reply (421/451: transient, 550: permanent). */
  | { reply: number; message?: string }
  /** Drop the connection while the body is arriving: nothing was handed over. */
  | { closeMidData: true }
  /** Take the whole body, then drop the connection without a reply: maybe delivered. */
  | { closeAfterData: true }
  /** Take the whole body and never answer: the client's time-out decides. */
  | { stallAfterData: true };

/** One message as the server took it (counted even when the connection then misbehaved). */
export interface Received {
  to: string;
  ledgerIds: string[];
  at: number;
  size: number;
  /** The header block, unfolded; the body is not kept (thousands of messages). */
  headers: string;
}

export interface FaultySmtpServer {
  url: (user?: string, password?: string) => string;
  received: Received[];
  /** Misbehaves for `recipient` the next `times` times (default: until `heal`). */
  misbehave(recipient: string, how: Misbehaviour, times?: number): void;
  /** Delays the reply to every message's DATA by `ms`, to keep sends in flight. */
  slowDown(ms: number): void;
  /** Forgets every misbehaviour and delay. */
  heal(): void;
  /** Messages received per ledger id. */
  deliveriesPerLedgerId(): Map<string, number>;
  close(): Promise<void>;
}

/** Header block of a raw message, folded lines joined. */
function headerBlock(raw: string): string {
  const end = raw.search(/\r?\n\r?\n/);
  return (end < 0 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
}

/**
 * A real SMTP server (smtp-server) that can misbehave per recipient the ways a receiving server
 * does: transient and permanent refusals, a connection lost during or after the body, a reply
 * that never comes. It requires AUTH with the given password, so the password is in play.
 */
export async function startFaultySmtpServer(credentials: { user: string; password: string }): Promise<FaultySmtpServer> {
  const received: Received[] = [];
  const rules = new Map<string, { how: Misbehaviour; times: number }>();
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const byPort = new Map<number, Socket>();
  const take = (to: string, match: (how: Misbehaviour) => boolean): Misbehaviour | undefined => {
    const rule = rules.get(to);
    if (!rule || !match(rule.how)) return undefined;
    rule.times -= 1;
    if (rule.times <= 0) rules.delete(to);
    return rule.how;
  };
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 50 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (auth.username === credentials.user && auth.password === credentials.password) return callback(null, { user: auth.username });
      callback(Object.assign(new Error('535 authentication failed'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      const to = address.address.toLowerCase();
      const refusal = take(to, (how) => 'reply' in how) as { reply: number; message?: string } | undefined;
      if (refusal) return callback(Object.assign(new Error(refusal.message ?? `${refusal.reply} simulated refusal`), { responseCode: refusal.reply }));
      callback();
    },
    onData(stream, session, callback) {
      const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
      const socket = byPort.get(session.remotePort);
      const midData = to.some((r) => take(r, (how) => 'closeMidData' in how));
      const chunks: Buffer[] = [];
      let dropped = false;
      stream.on('data', (chunk: Buffer) => {
        if (midData && !dropped) {
          dropped = true;
          socket?.destroy();
          return;
        }
        chunks.push(chunk);
      });
      stream.on('end', () => {
        if (dropped) return;
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = headerBlock(raw);
        const ids = /^x-reminder-ids:\s*(.*)$/im.exec(headers)?.[1]?.trim();
        const ledgerIds = ids ? ids.split(',').map((id) => id.trim()) : [];
        for (const r of to) received.push({ to: r, ledgerIds, at: Date.now(), size: raw.length, headers });
        if (to.some((r) => take(r, (how) => 'closeAfterData' in how))) {
          socket?.destroy();
          return;
        }
        if (to.some((r) => take(r, (how) => 'stallAfterData' in how))) return; // never answer
        if (delayMs > 0) setTimeout(() => callback(), delayMs);
        else callback();
      });
    },
  });
  server.on('error', () => undefined);
  // The session knows its client's port: that is how one connection is dropped alone.
  server.server.on('connection', (socket: Socket) => {
    const port = socket.remotePort;
    sockets.add(socket);
    if (port) byPort.set(port, socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (port) byPort.delete(port);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: (user = credentials.user, password = credentials.password) =>
      `smtp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}?ignoreTLS=true`,
    received,
    misbehave: (recipient, how, times = Number.POSITIVE_INFINITY) => rules.set(recipient.toLowerCase(), { how, times }),
    slowDown: (ms) => {
      delayMs = ms;
    },
    heal: () => {
      rules.clear();
      delayMs = 0;
    },
    deliveriesPerLedgerId() {
      const counts = new Map<string, number>();
      for (const mail of received) for (const id of mail.ledgerIds) counts.set(id, (counts.get(id) ?? 0) + 1);
      return counts;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

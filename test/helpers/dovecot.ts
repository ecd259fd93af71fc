import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closedPort } from './cli';

const DOVECOT = '/usr/sbin/dovecot';

/** Debian's Dovecot, installed with apt-get when missing (as CI does). */
export function ensureDovecot(): void {
  if (existsSync(DOVECOT)) return;
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'dovecot-imapd'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

export interface DovecotServer {
  port: number;
  user: string;
  password: string;
  /** imap://user:password@127.0.0.1:port/INBOX */
  url: string;
  /** With `tls`: imaps://user:password@localhost:tlsPort/INBOX, its certificate signed by `caFile`. */
  tlsUrl?: string;
  /** With `tls`: the PEM of the test CA that signed the server's certificate (for NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  stop(): Promise<void>;
}

/**
 * A Dovecot instance of the test's own: a config in a temporary directory, one user with a
 * Maildir, plain IMAP on a free loopback port, run in the foreground as a child and stopped by
 * its pid. The system's Dovecot service is never touched.
 */
export async function startDovecot(options: { tls?: boolean } = {}): Promise<DovecotServer> {
  ensureDovecot();
  const dir = mkdtempSync(path.join(tmpdir(), 'dovecot-'));
  const tlsPort = options.tls ? await closedPort() : 0;
  const tls = options.tls ? makeCertificates(dir) : null;
  chmodSync(dir, 0o755);
  const [uid, gid] = (execFileSync('getent', ['passwd', 'dovecot']).toString().split(':').slice(2, 4) as [string, string]).map(Number) as [number, number];
  const mail = path.join(dir, 'mail');
  mkdirSync(mail);
  chownSync(mail, uid, gid);
  const port = await closedPort();
  const user = 'bounces';
  const password = 'bounce-mailbox-password';
  writeFileSync(path.join(dir, 'passwd'), `${user}:{PLAIN}${password}\n`);
  writeFileSync(
    path.join(dir, 'dovecot.conf'),
    `protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
${tls ? `ssl = yes\nssl_cert = <${tls.cert}\nssl_key = <${tls.key}` : 'ssl = no'}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = ${uid}
mail_location = maildir:${mail}/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${mail}/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${tlsPort}
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
`,
  );
  const child: ChildProcess = spawn(DOVECOT, ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = Date.now() + 20_000;
  while (!(await accepts(port)) || (tlsPort > 0 && !(await accepts(tlsPort)))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = existsSync(path.join(dir, 'dovecot.log')) ? readFileSync(path.join(dir, 'dovecot.log'), 'utf8') : '';
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`dovecot did not start: ${output} ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port,
    user,
    password,
    url: `imap://${user}:${password}@127.0.0.1:${port}/INBOX`,
    ...(tls ? { tlsUrl: `imaps://${user}:${password}@localhost:${tlsPort}/INBOX`, caFile: tls.ca } : {}),
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A test CA and a server certificate for localhost signed by it, made with openssl. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=reminders test CA', '-keyout', file('ca.key'), '-out', file('ca.pem'));
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', file('server.key'), '-out', file('server.csr'));
  writeFileSync(file('server.ext'), 'subjectAltName = DNS:localhost, IP:127.0.0.1\n');
  run('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem'));
  // Dovecot reads the key as root before dropping privileges; the test CA is only read by clients.
  chmodSync(file('server.key'), 0o600);
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

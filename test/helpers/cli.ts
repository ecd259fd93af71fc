import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');

/**
 * Starts `reminders <args>` from source in one child process (node with tsx's loader, so that a
 * signal reaches the process that does the work, not a wrapper). `output()` is both streams as
 * they came; `stdoutText()` and `stderrText()` each alone.
 */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcess & { output: () => string; stdoutText: () => string; stderrText: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  return Object.assign(child, { output: () => output, stdoutText: () => stdout, stderrText: () => stderr });
}

/** Resolves with the exit code (or the signal's name) once the child has exited. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs `reminders <args>` from source to its end and returns its exit code and both outputs, apart. */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await exited(child);
  return { code, stdout, stderr };
}

/** A loopback port nothing listens on: connections to it are refused. */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Kills whatever of `children` still runs (a test that failed half-way) and waits for each to exit. */
export async function killLeftovers(children: Iterable<ChildProcess>): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited(child);
  }
}

/** Stops a daemon as its service manager would: SIGTERM, up to `graceMs` to finish, then SIGKILL. */
export async function stopDaemon(child: ChildProcess, graceMs = 15_000): Promise<void> {
  child.kill('SIGTERM');
  await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, graceMs))]);
  await killLeftovers([child]);
}

#!/usr/bin/env node
import { CommanderError } from 'commander';
import { describeError, describeUnexpectedError } from './describe-error';
import { buildProgram } from './program';

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message (or the help) to stderr/stdout.
      return error.exitCode === 0 ? 0 : 2;
    }
    const message = describeError(error);
    if (message) {
      console.error(`reminders: ${message}`);
      return 2;
    }
    console.error(`reminders: ${describeUnexpectedError(error)}`);
    return 1;
  }
}

// `reminders failed | head` closes the pipe early: that is the reader being done, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});

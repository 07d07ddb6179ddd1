/** Asks for a secret at the terminal without echoing it. */
import { ConfigError } from '../errors.ts';

export function readHidden(question: string, from: string): Promise<string> {
  const { stdin, stderr } = process;
  if (!stdin.isTTY)
    return Promise.reject(
      new ConfigError(from, 'asks for a password at the prompt, but stdin is not a terminal: use a password file'),
    );
  return new Promise((resolve, reject) => {
    let typed = '';
    stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new ConfigError(from, 'no password given (Ctrl-C)'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

// The join token: the secret that machines of one run share, given by whoever starts the run (a
// file, or an environment variable a scheduler's secret store fills), from which every launcher
// derives the same handshake secret (handshake.ts). It is the per-run secret of a local run, made
// by hand instead of at random, so one mechanism serves both.
//
// Why random hex and not a passphrase: every handshake shows HMAC(secret, known bytes) to anyone on
// the link, so a secret a person chose can be guessed offline at leisure; 32 random bytes
// (`openssl rand -hex 32`) cannot. The token is hashed (SHA-256, domain-separated) rather than used
// as the key itself, so tokens longer than 32 bytes work, and the HMAC key is never the literal text
// of a file that might be reused elsewhere.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SECRET_BYTES } from './handshake.js';
import { derivationInput, insecureTokenBytes, joinTokenBytes, MAKE_TOKEN } from './join-token-web.js';

export { JOIN_TOKEN_MIN_BYTES, MAKE_TOKEN } from './join-token-web.js';
export const JOIN_TOKEN_ENV = 'LOCALSGD_JOIN_TOKEN';

/** The handshake secret a join token stands for; `where` names its source in errors (never its value). */
export function secretFromJoinToken(text: string, where: string): Buffer {
  return derive(joinTokenBytes(text, where));
}

/**
 * The run's join secret, from `tokenFile` if given (a flag beats the environment), else from
 * LOCALSGD_JOIN_TOKEN in `env`; undefined when neither is there. A file that group or others may
 * read or write is refused, as ssh refuses such a private key: anyone on the machine could join.
 */
export function readJoinSecret(options: { tokenFile?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Buffer | undefined {
  const found = findJoinToken(options);
  return found && secretFromJoinToken(found.text, found.where);
}

/** The join token itself (checked as readJoinSecret checks it), for a link that carries it to browser tabs. */
export function readJoinToken(options: { tokenFile?: string | undefined; env?: NodeJS.ProcessEnv } = {}): string | undefined {
  const found = findJoinToken(options);
  if (!found) return undefined;
  joinTokenBytes(found.text, found.where); // throws, naming the source, on what is not a token
  return found.text.trim().toLowerCase();
}

function findJoinToken(options: { tokenFile?: string | undefined; env?: NodeJS.ProcessEnv }): { text: string; where: string } | undefined {
  const { tokenFile, env = process.env } = options;
  if (tokenFile !== undefined) {
    let mode: number;
    let text: string;
    try {
      mode = statSync(tokenFile).mode;
      text = readFileSync(tokenFile, 'utf8');
    } catch (error) {
      throw new Error(`cannot read the join token file ${tokenFile}: ${(error as Error).message}; make one with: ${MAKE_TOKEN}`);
    }
    if ((mode & 0o077) !== 0) {
      throw new Error(
        `the join token file ${tokenFile} may be read or written by others (mode ${(mode & 0o777).toString(8).padStart(3, '0')}): ` +
          `anyone on this machine could join the run; make it private with: chmod 600 ${tokenFile}`,
      );
    }
    return { text, where: `the join token file ${tokenFile}` };
  }
  const text = env[JOIN_TOKEN_ENV];
  if (text === undefined || text === '') return undefined;
  return { text, where: JOIN_TOKEN_ENV };
}

/** The publicly known secret of an insecure run (see INSECURE_TOKEN). */
export function insecureSecret(): Buffer {
  return derive(insecureTokenBytes());
}

/** SHA-256 over join-token-web.ts's derivationInput: the same secret a page derives. */
function derive(token: Uint8Array): Buffer {
  const secret = createHash('sha256').update(derivationInput(token)).digest();
  if (secret.length !== SECRET_BYTES) throw new Error(`SHA-256 gave ${secret.length} bytes, not ${SECRET_BYTES}`);
  return secret;
}

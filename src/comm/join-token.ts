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

export const JOIN_TOKEN_ENV = 'LOCALSGD_JOIN_TOKEN';
/** At least this many random bytes, as hex. */
export const JOIN_TOKEN_MIN_BYTES = 32;
export const MAKE_TOKEN = `openssl rand -hex ${JOIN_TOKEN_MIN_BYTES} > join.token && chmod 600 join.token`;

const DOMAIN = 'webgpu-local-sgd join token v1';
/**
 * The secret of a run that chose no token ("insecure", for trusted networks): derived from a
 * public string, so anyone can join it, but every connection still does the handshake, so a
 * worker of a secured run is refused loudly by an insecure server, and the reverse.
 */
const INSECURE_TOKEN = 'webgpu-local-sgd insecure: no join token';

/** The handshake secret a join token stands for; `where` names its source in errors (never its value). */
export function secretFromJoinToken(text: string, where: string): Buffer {
  const token = text.trim();
  if (!/^[0-9a-fA-F]+$/.test(token) || token.length % 2 !== 0) {
    throw new Error(
      `${where} is not a join token: it must be hex digits only (${token.length} characters${token.length > 0 ? ', some not hex' : ''}); ` +
        `make one with: ${MAKE_TOKEN}`,
    );
  }
  if (token.length < 2 * JOIN_TOKEN_MIN_BYTES) {
    throw new Error(
      `${where} holds ${token.length / 2} bytes of hex; a join token needs at least ${JOIN_TOKEN_MIN_BYTES} random bytes ` +
        `(${2 * JOIN_TOKEN_MIN_BYTES} hex digits) so that it cannot be guessed from a recorded handshake; make one with: ${MAKE_TOKEN}`,
    );
  }
  return derive(Buffer.from(token.toLowerCase(), 'hex'));
}

/**
 * The run's join secret, from `tokenFile` if given (a flag beats the environment), else from
 * LOCALSGD_JOIN_TOKEN in `env`; undefined when neither is there. A file that group or others may
 * read or write is refused, as ssh refuses such a private key: anyone on the machine could join.
 */
export function readJoinSecret(options: { tokenFile?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Buffer | undefined {
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
    return secretFromJoinToken(text, `the join token file ${tokenFile}`);
  }
  const text = env[JOIN_TOKEN_ENV];
  if (text === undefined || text === '') return undefined;
  return secretFromJoinToken(text, JOIN_TOKEN_ENV);
}

/** The publicly known secret of an insecure run (see INSECURE_TOKEN). */
export function insecureSecret(): Buffer {
  return derive(Buffer.from(INSECURE_TOKEN));
}

function derive(token: Buffer): Buffer {
  const secret = createHash('sha256').update(DOMAIN).update(Buffer.of(0)).update(token).digest();
  if (secret.length !== SECRET_BYTES) throw new Error(`SHA-256 gave ${secret.length} bytes, not ${SECRET_BYTES}`);
  return secret;
}

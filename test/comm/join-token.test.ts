// The join token: read from a private file or LOCALSGD_JOIN_TOKEN into the handshake secret that
// every machine of a run derives alike; anything guessable or exposed is refused, saying how to
// make a good one, and no message ever shows the token.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { insecureSecret, JOIN_TOKEN_ENV, readJoinSecret, secretFromJoinToken } from '../../src/comm/join-token.js';

const test = suite('join token');
const dir = mkdtempSync(join(tmpdir(), 'join-token-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const token = () => randomBytes(32).toString('hex');
function tokenFile(name: string, text: string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, mode); // explicit: writeFileSync's mode is masked by the umask
  return file;
}

test('the same token gives the same 32-byte secret from a file (with its newline) and from the environment; another token another secret', () => {
  const t = token();
  const fromFile = readJoinSecret({ tokenFile: tokenFile('a.token', `${t}\n`), env: {} })!;
  const fromEnv = readJoinSecret({ env: { [JOIN_TOKEN_ENV]: t.toUpperCase() } })!;
  assert.is(fromFile.byteLength, 32);
  assert.equal([...fromFile], [...fromEnv]);
  assert.not.equal([...fromFile], [...secretFromJoinToken(token(), 'x')]);
  // Hashed, not the token's bytes themselves: the HMAC key is not the literal content of the file.
  assert.not.equal([...fromFile], [...Buffer.from(t, 'hex')]);
  assert.not.equal([...fromFile], [...insecureSecret()]);
});

test('a token file beats the environment; with neither there is no secret', () => {
  const [fileToken, envToken] = [token(), token()];
  const secret = readJoinSecret({ tokenFile: tokenFile('b.token', fileToken), env: { [JOIN_TOKEN_ENV]: envToken } })!;
  assert.equal([...secret], [...secretFromJoinToken(fileToken, 'x')]);
  assert.is(readJoinSecret({ env: {} }), undefined);
  assert.is(readJoinSecret({ env: { [JOIN_TOKEN_ENV]: '' } }), undefined);
});

test('a token file that group or others may read or write is refused, naming its mode and chmod 600', () => {
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660]) {
    const file = tokenFile(`open-${mode.toString(8)}.token`, token(), mode);
    assert.throws(() => readJoinSecret({ tokenFile: file, env: {} }), (e: Error) =>
      e.message.includes(`the join token file ${file} may be read or written by others (mode ${mode.toString(8)})`) && e.message.includes(`chmod 600 ${file}`));
  }
  assert.ok(readJoinSecret({ tokenFile: tokenFile('owner-only.token', token(), 0o400), env: {} }), 'read-only for its owner is fine');
});

test('a missing file, a short token, a passphrase or non-hex text is refused with how to make a token, never showing the text', () => {
  const missing = join(dir, 'nope.token');
  assert.throws(() => readJoinSecret({ tokenFile: missing, env: {} }), (e: Error) => e.message.startsWith(`cannot read the join token file ${missing}: ENOENT`) && e.message.includes('openssl rand -hex 32'));
  const cases: Array<[string, RegExp]> = [
    [randomBytes(31).toString('hex'), /holds 31 bytes of hex; a join token needs at least 32 random bytes \(64 hex digits\)/],
    ['correct horse battery staple, a long enough passphrase', /must be hex digits only \(\d+ characters, some not hex\)/],
    [`${token()}0`, /must be hex digits only/], // an odd number of digits is not whole bytes
  ];
  for (const [text, why] of cases) {
    for (const read of [() => readJoinSecret({ env: { [JOIN_TOKEN_ENV]: text } }), () => readJoinSecret({ tokenFile: tokenFile('bad.token', text), env: {} })]) {
      assert.throws(read, (e: Error) => why.test(e.message) && e.message.includes('openssl rand -hex 32 > join.token && chmod 600 join.token') && !e.message.includes(text));
    }
  }
});

test.run();

// A hostile "postinstall" script, the kind that has shipped in real npm packages: it looks for
// credentials, the environment, the network, and ways to persist. Run it through
// `sandboxpm exec` and every attempt fails while ordinary work (writing its own build output)
// still succeeds. Run it with plain `node` to see what it would get without the sandbox.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');

const results = [];
function attempt(what, fn) {
  try {
    const got = fn();
    results.push(`  EXPOSED  ${what}${got ? `: ${String(got).slice(0, 60).replace(/\n/g, ' ')}` : ''}`);
  } catch (e) {
    results.push(`  blocked  ${what} (${e.code || e.message})`);
  }
}

const home = os.homedir();
attempt('read ~/.ssh', () => fs.readdirSync(path.join(home, '.ssh')).join(','));
attempt('read ~/.npmrc', () => fs.readFileSync(path.join(home, '.npmrc'), 'utf8'));
attempt('read ~/.aws/credentials', () => fs.readFileSync(path.join(home, '.aws', 'credentials'), 'utf8'));
attempt('read /etc/shadow', () => fs.readFileSync('/etc/shadow', 'utf8'));
attempt('read the project .env', () => {
  const text = fs.readFileSync(path.join(__dirname, '.env'), 'utf8');
  if (!text) throw Object.assign(new Error('empty'), { code: 'EMPTY' });
  return text;
});
const secrets = Object.keys(process.env).filter((k) => /TOKEN|SECRET|KEY|PASSWORD/.test(k));
attempt('read secret env vars', () => {
  if (secrets.length === 0) throw Object.assign(new Error('none'), { code: 'NONE VISIBLE' });
  return secrets.join(',');
});
// Checked, not written: this example must be harmless when run without the sandbox.
attempt('find a writable ~/.bashrc to persist in', () => {
  fs.accessSync(path.join(home, '.bashrc'), fs.constants.W_OK);
  return 'writable';
});
attempt('write outside the project (/usr/local)', () => fs.writeFileSync('/usr/local/sandboxpm-example', 'x'));
attempt('list host processes', () => {
  const pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  if (pids.length < 5) throw Object.assign(new Error('few'), { code: `ONLY ${pids.length} OWN PROCESSES` });
  return `${pids.length} processes`;
});
fs.writeFileSync(path.join(__dirname, 'build-output.txt'), 'built by the postinstall script\n');
results.push('  ok       wrote build-output.txt in its own directory');

const sock = net.connect({ host: '1.1.1.1', port: 443, timeout: 1500 });
sock.on('connect', () => { results.push('  EXPOSED  network: connected out'); done(); });
sock.on('timeout', () => { results.push('  blocked  network (timeout)'); done(); });
sock.on('error', (e) => { results.push(`  blocked  network (${e.code})`); done(); });
function done() {
  sock.destroy();
  console.log(results.join('\n'));
}

#!/usr/bin/env node
// Builds the Docker image the engine tests run: no registry is reachable, so the image is made
// locally with `docker import` from a rootfs holding this machine's node binary, the shared
// libraries `ldd` lists for it (and the dynamic loader), and the mock vLLM server at
// /app/mock-vllm.mjs. Its entrypoint takes vLLM's flags, like vllm/vllm-openai.
//
//   node test/docker/build-mock-image.mjs [--tag vllm-gw-mock:test] [--script FILE]
//
// Skips the build when an image with the same tag and content-hash label exists.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_MOCK_TAG = 'vllm-gw-mock:test';
export const DEFAULT_MOCK_SCRIPT = path.resolve(here, '../fixtures/mock-vllm.mjs');
const HASH_LABEL = 'vllm-gw-mock.content-hash';
/** The one package the mock imports (its multipart parser, as vLLM's), copied into /app/node_modules. */
const BUSBOY_DIR = path.resolve(here, '../../node_modules/@fastify/busboy');

/** The runtime files of a package: package.json, index.js, lib/ and deps/ (no tests, no benchmarks). */
async function packageFiles(dir) {
  const out = [path.join(dir, 'package.json'), path.join(dir, 'index.js')];
  const walk = async (d) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.js')) out.push(p);
    }
  };
  for (const sub of ['lib', 'deps']) await walk(path.join(dir, sub));
  return out.sort();
}

async function sharedLibraries(binary) {
  const { stdout } = await run('ldd', [binary]);
  const libs = new Set();
  for (const line of stdout.split('\n')) {
    // "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]);
  }
  return [...libs].sort();
}

function hashFile(hash, file) {
  return new Promise((resolve, reject) => {
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', resolve)
      .on('error', reject);
  });
}

async function contentHash(files) {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`\0${file}\0`);
    await hashFile(hash, file);
  }
  return hash.digest('hex').slice(0, 16);
}

async function imageHashLabel(tag) {
  try {
    const { stdout } = await run('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${HASH_LABEL}" }}`, tag]);
    return stdout.trim();
  } catch {
    return null;
  }
}

async function withLock(name, fn) {
  const lock = path.join(os.tmpdir(), `${name}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await fs.mkdir(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const st = await fs.stat(lock).catch(() => null);
      if (st && Date.now() - st.mtimeMs > 120_000) await fs.rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

/** Builds (or finds) the mock image; resolves to { tag, built, hash }. */
export async function buildMockImage({ tag = DEFAULT_MOCK_TAG, script = DEFAULT_MOCK_SCRIPT, log = () => {} } = {}) {
  const node = await fs.realpath(process.execPath);
  const libs = await sharedLibraries(node);
  const busboy = await packageFiles(BUSBOY_DIR);
  const hash = await contentHash([node, script, ...libs, ...busboy]);
  return withLock(`vllm-gw-mock-build-${tag.replace(/[^a-z0-9]/gi, '_')}`, async () => {
    if ((await imageHashLabel(tag)) === hash) return { tag, built: false, hash };
    log(`building ${tag} (content hash ${hash})`);
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'vllm-gw-mock-rootfs-'));
    try {
      const put = async (src, dest) => {
        const target = path.join(root, dest);
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.copyFile(await fs.realpath(src), target); // symlinks resolved: the file lands at the listed path
      };
      await put(node, '/usr/local/bin/node');
      await fs.chmod(path.join(root, '/usr/local/bin/node'), 0o755);
      for (const lib of libs) await put(lib, lib);
      await put(script, '/app/mock-vllm.mjs');
      for (const f of busboy) await put(f, path.join('/app/node_modules/@fastify/busboy', path.relative(BUSBOY_DIR, f)));
      for (const dir of ['/tmp', '/root/.cache/huggingface', '/etc', '/proc', '/sys', '/dev']) {
        await fs.mkdir(path.join(root, dir), { recursive: true });
      }
      await fs.chmod(path.join(root, '/tmp'), 0o1777);
      await fs.writeFile(path.join(root, '/etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      await new Promise((resolve, reject) => {
        const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
        const imp = spawn(
          'docker',
          [
            'import',
            '--change',
            'ENTRYPOINT ["/usr/local/bin/node", "/app/mock-vllm.mjs"]',
            '--change',
            'WORKDIR /app',
            '--change',
            'EXPOSE 8000/tcp',
            '--change',
            `LABEL ${HASH_LABEL}=${hash}`,
            '-',
            tag,
          ],
          { stdio: ['pipe', 'ignore', 'pipe'] },
        );
        let stderr = '';
        imp.stderr.on('data', (d) => (stderr += d));
        tar.stdout.pipe(imp.stdin);
        tar.on('error', reject);
        imp.on('error', reject);
        imp.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker import failed (${code}): ${stderr.trim()}`))));
      });
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
    return { tag, built: true, hash };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const started = Date.now();
  buildMockImage({ tag: opt('--tag'), script: opt('--script') ? path.resolve(opt('--script')) : undefined, log: console.error })
    .then((r) => console.log(`${r.tag} ${r.built ? 'built' : 'up to date'} (hash ${r.hash}, ${Date.now() - started} ms)`))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}

// Builds static/widget.js: src/index.js + socket.io-client as one minified IIFE.
//
//   npm run build          write static/widget.js and print its size (raw and gzip -9)
//   npm run check          rebuild in memory and fail if static/widget.js differs (CI / tests)
//
// The output is deterministic (pinned esbuild, no timestamps, no paths, no source map), so the
// committed file can be compared with a fresh build.

import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, 'static', 'widget.js');
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const sio = JSON.parse(readFileSync(join(here, 'node_modules', 'socket.io-client', 'package.json'), 'utf8'));
const check = process.argv.includes('--check');

// What the widget never uses is left out of the bundle (src/widget.js connects with websocket only):
// - the long-polling and WebTransport transports (engine.io-client drops transports it cannot find);
// - engine.io-parser's base64 decoder, which only long-polling needs (a websocket carries binary
//   frames as they are);
// - engine.io-client's regex URI parser, replaced by the browser's URL (STUBS below);
// - socket.io-client's io() (its manager cache and URL parsing): src/widget.js uses its Manager;
// - socket.io-parser's binary attachments: every event either side sends is JSON (text, ids,
//   numbers), never a Blob or ArrayBuffer, so packets pass through as they are.
// That keeps the bundle within its size budget (tests/widget/test_bundle.py).
const STUBS = {
  'webtransport.js': 'export const WT = undefined;',
  'polling-xhr.js': 'export const XHR = undefined;',
  'polling-xhr.node.js': 'export const XHR = undefined;',
  'polling-fetch.js': 'export const Fetch = undefined;',
  'base64-arraybuffer.js': 'export const decode = undefined;',
  'binary.js': 'export const deconstructPacket = (packet) => ({ packet, buffers: [] }), reconstructPacket = (packet) => packet;',
  // engine.io-client's own URI parser (a regex for old platforms) → the browser's URL. It only ever
  // sees data-server's origin; IPv6 hosts lose their brackets, as the original's output has them.
  'parseuri.js':
    "export function parse(s) { const u = new URL(s); return { host: u.hostname.replace(/^\\[|\\]$/g, ''), protocol: u.protocol.slice(0, -1), port: u.port, query: u.search.slice(1) }; }",
};
const websocketOnly = {
  name: 'websocket-only',
  setup(b) {
    b.onResolve({ filter: /\/(webtransport|polling-xhr(\.node)?|polling-fetch|base64-arraybuffer|parseuri|binary)\.js$/ }, (args) =>
      /engine\.io-(client|parser)|socket\.io-parser/.test(args.importer) ? { path: args.path.split('/').pop(), namespace: 'zora-stub' } : undefined,
    );
    b.onResolve({ filter: /^socket\.io-client$/ }, () => ({
      path: join(here, 'node_modules', 'socket.io-client', 'build', 'esm', 'manager.js'),
    }));
    b.onLoad({ filter: /.*/, namespace: 'zora-stub' }, (args) => ({ contents: STUBS[args.path], loader: 'js' }));
  },
};

const result = await build({
  absWorkingDir: here,
  entryPoints: ['src/index.js'],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  charset: 'ascii',
  legalComments: 'none',
  sourcemap: false,
  write: false,
  outfile,
  define: { 'process.env.NODE_ENV': '"production"' },
  banner: {
    js: `/*! Zora widget ${pkg.version} | includes socket.io-client ${sio.version} (MIT License, (c) Guillermo Rauch and Socket.IO contributors; component-emitter (c) Component contributors) | built from widget/src, do not edit */`,
  },
  plugins: [websocketOnly],
  logLevel: 'warning',
});

const code = result.outputFiles[0].contents;
const gz = gzipSync(code, { level: 9 }).length;
const rel = 'static/widget.js';

if (check) {
  let current = null;
  try {
    current = readFileSync(outfile);
  } catch (_) {
    // missing
  }
  if (!current || Buffer.compare(current, Buffer.from(code)) !== 0) {
    console.error(`${rel} is out of date: run \`npm run build\` in widget/ and commit the result`);
    process.exit(1);
  }
  console.log(`${rel} is up to date (${code.length} bytes, ${gz} bytes gzip -9)`);
} else {
  writeFileSync(outfile, code);
  console.log(`${rel}: ${code.length} bytes, ${gz} bytes gzip -9`);
}

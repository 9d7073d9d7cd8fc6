// Renders the app and tray icons (PNG) from the SVG sources below with Debian's Chromium
// (Playwright, /usr/bin/chromium; never Playwright's own download). The PNGs are committed, so
// the build needs no browser: run this only after changing the artwork.
//   node assets/render-icons.mjs
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';

const here = dirname(fileURLToPath(import.meta.url));

const BARS = (x, y, s) => `
  <rect x="${x}" y="${y}" width="${16 * s}" height="${3.6 * s}" rx="${1.8 * s}" fill="#fff" opacity="0.97"/>
  <rect x="${x}" y="${y + 5.9 * s}" width="${11 * s}" height="${3.6 * s}" rx="${1.8 * s}" fill="#fff" opacity="0.82"/>
  <rect x="${x}" y="${y + 11.8 * s}" width="${6 * s}" height="${3.6 * s}" rx="${1.8 * s}" fill="#fff" opacity="0.68"/>`;

const appIcon = `
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="1024" height="1024">
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#7474f2"/>
      <stop offset="1" stop-color="#4338ca"/>
    </linearGradient>
    <linearGradient id="hl" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#fff" stop-opacity="0.22"/>
      <stop offset="0.5" stop-color="#fff" stop-opacity="0"/>
    </linearGradient>
  </defs>
  <rect x="1.5" y="1.5" width="29" height="29" rx="7" fill="url(#g)"/>
  <rect x="1.5" y="1.5" width="29" height="29" rx="7" fill="url(#hl)"/>
  ${BARS(8, 8.4, 1)}
  <circle cx="23.2" cy="22.6" r="2.6" fill="#4ade80"/>
</svg>`;

const DOT = { idle: null, busy: '#3b82f6', loading: '#f59e0b', error: '#ef4444' };

const trayIcon = (state) => `
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 22 22" width="22" height="22">
  <defs>
    <mask id="cut">
      <rect width="22" height="22" fill="#fff"/>
      ${DOT[state] ? '<circle cx="17" cy="17" r="5.4" fill="#000"/>' : ''}
    </mask>
  </defs>
  <g mask="url(#cut)">
    <rect x="1" y="1" width="18.5" height="18.5" rx="4.6" fill="#5b5bd6"/>
    ${BARS(5, 5.2, 0.66)}
  </g>
  ${DOT[state] ? `<circle cx="17" cy="17" r="4" fill="${DOT[state]}"/>` : ''}
</svg>`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

async function render(svg, size, scale, file) {
  const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: scale });
  await page.setContent(
    `<!doctype html><html><body style="margin:0;background:transparent">${svg.replace(/width="\d+" height="\d+"/, `width="${size}" height="${size}"`)}</body></html>`,
  );
  const png = await page.locator('svg').screenshot({ omitBackground: true });
  writeFileSync(join(here, file), png);
  await page.close();
  console.log('wrote', file);
}

await render(appIcon, 1024, 1, 'icon.png');
await render(appIcon, 256, 1, 'icon-256.png');
for (const state of Object.keys(DOT)) {
  await render(trayIcon(state), 22, 1, `tray-${state}.png`);
  await render(trayIcon(state), 22, 2, `tray-${state}@2x.png`);
}
await browser.close();

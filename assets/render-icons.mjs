// Renders the app and tray icons (PNG) from the SVG sources below with Debian's Chromium
// (Playwright, /usr/bin/chromium; never Playwright's own download), and packs the Windows tray
// icons (.ico, 16/24/32 px) with png-to-ico. The files are committed, so the build needs no
// browser: run this only after changing the artwork.
//   node assets/render-icons.mjs
//
// Per platform (electron/tray.ts): Linux shows the coloured PNGs; macOS the black-and-alpha
// `tray-<state>Template` images, which the menu bar tints for light and dark mode (the state is a
// shape there: a dot for busy, a ring for loading, a bar for error); Windows the .ico files.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import pngToIco from 'png-to-ico';

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

// macOS template image: only the alpha channel counts; colour is ignored.
const MARK = {
  idle: '',
  busy: '<circle cx="17" cy="17" r="4" fill="#000"/>',
  loading: '<circle cx="17" cy="17" r="3.2" fill="none" stroke="#000" stroke-width="1.6"/>',
  error: '<rect x="15.8" y="12.2" width="2.4" height="6" rx="1.2" fill="#000"/><circle cx="17" cy="20.6" r="1.3" fill="#000"/>',
};
const templateIcon = (state) => `
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 22 22" width="22" height="22">
  <defs>
    <mask id="bars">
      <rect width="22" height="22" fill="#fff"/>
      ${BARS(5, 5.2, 0.66)
        .replaceAll('fill="#fff"', 'fill="#000"')
        .replace(/ opacity="[\d.]+"/g, '')}
      ${MARK[state] ? '<circle cx="17" cy="17" r="5.4" fill="#000"/>' : ''}
    </mask>
  </defs>
  <rect x="1" y="1" width="18.5" height="18.5" rx="4.6" fill="#000" mask="url(#bars)"/>
  ${MARK[state]}
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
  await render(templateIcon(state), 22, 1, `tray-${state}Template.png`);
  await render(templateIcon(state), 22, 2, `tray-${state}Template@2x.png`);
  const sizes = [16, 24, 32];
  for (const size of sizes) await render(trayIcon(state), size, 1, `.ico-${state}-${size}.png`);
  const ico = await pngToIco(sizes.map((size) => readFileSync(join(here, `.ico-${state}-${size}.png`))));
  writeFileSync(join(here, `tray-${state}.ico`), ico);
  for (const size of sizes) unlinkSync(join(here, `.ico-${state}-${size}.png`));
  console.log('wrote', `tray-${state}.ico`);
}
await browser.close();

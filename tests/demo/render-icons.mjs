// Renders the demo's PNG icons (192, 512 and a maskable 512) from its SVGs
// with Chromium, so no image tool is needed:
//   node tests/demo/render-icons.mjs
import { chromium } from 'playwright-core';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../../www/demo/icons/', import.meta.url));
const jobs = [
  ['icon.svg', 'icon-192.png', 192],
  ['icon.svg', 'icon-512.png', 512],
  ['maskable.svg', 'maskable-512.png', 512],
];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage();
for (const [svg, png, size] of jobs) {
  const src = `data:image/svg+xml;base64,${(await readFile(dir + svg)).toString('base64')}`;
  await page.setViewportSize({ width: size, height: size });
  await page.setContent(`<style>html,body{margin:0;background:transparent}</style><img src="${src}" width="${size}" height="${size}">`);
  await page.waitForFunction(() => document.images[0].complete);
  await writeFile(dir + png, await page.screenshot({ omitBackground: true }));
  console.log(`wrote www/demo/icons/${png}`);
}
await browser.close();

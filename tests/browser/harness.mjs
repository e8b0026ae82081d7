// Real Chromium through playwright-core (it never downloads a browser: the
// Debian package is used), plus the static server.

import { chromium } from 'playwright-core';
import { serve } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--disable-quic',
];

/** Chromium, launched again once if its first start fails (seen once on a
 *  loaded machine: the browser closed itself during launch). */
async function launch() {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  } catch (err) {
    console.log(`# Chromium failed to launch (${String(err.message).split('\n')[0]}); trying once more`);
    return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }
}

/** Starts the server and a browser; returns helpers and a close function. */
export async function startBrowser() {
  const server = await serve();
  let browser;
  try {
    browser = await launch();
  } catch (err) {
    await server.close(); // or the test process never exits
    throw err;
  }
  const errors = [];
  async function newPage(path = '/tests/browser/pages/blank.html', context) {
    const ctx = context ?? (await browser.newContext());
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(server.url + path);
    return page;
  }
  return {
    server,
    browser,
    errors,
    newPage,
    newContext: () => browser.newContext(),
    async close() {
      // Bounded: the server is closed even if the browser does not finish.
      const late = new Promise((resolve) => setTimeout(resolve, 15_000).unref());
      await Promise.race([browser.close(), late]).catch(() => {});
      await server.close();
    },
  };
}

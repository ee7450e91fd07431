// Opens a Chrome JSON trace in speedscope under headless Chromium and prints what the page shows
// once the profile has loaded: {title, toolbar (the page's text), frames (the Sandwich view's
// table rows), errors}, and a screenshot of the flame chart. Everything is served on 127.0.0.1.
//
// Usage: NODE_PATH=DIR/node_modules node speedscope_check.js TRACE.json CHROMIUM SCREENSHOT.png
const http = require('http');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [trace, browserPath, shot] = process.argv.slice(2);
const dist = path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist', 'release');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };

const server = http.createServer((req, res) => {
  const url = decodeURIComponent(req.url.split('?')[0].split('#')[0]);
  const file = url === '/trace.json' ? trace : path.join(dist, path.normalize(url === '/' ? '/index.html' : url));
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(data);
  });
});

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: browserPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      // playwright starts it with a fresh profile directory of its own.
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const base = `http://127.0.0.1:${port}`;
    await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(base + '/trace.json')}`);
    // Loaded: the title names the profile (it is "speedscope" alone before).
    await page.waitForFunction(() => document.title.includes(' - speedscope'), null, { timeout: 30000 });
    await page.waitForTimeout(500);
    const toolbar = await page.evaluate(() => document.body.innerText);
    await page.screenshot({ path: shot });
    // The Sandwich view lists every frame of the profile in a table: the frame count.
    await page.click('text=Sandwich');
    await page.waitForTimeout(1000);
    const text = await page.evaluate(() => document.body.innerText);
    // Rows of three lines after the header: total, self, the frame's name.
    const rows = (text.split('Symbol Name\n')[1] || '').split('\n');
    const frames = rows.filter((_, i) => i % 3 === 2).map((l) => l.trim());
    console.log(JSON.stringify({ title: await page.title(), toolbar, frames, errors }));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close();
    server.close();
  }
});

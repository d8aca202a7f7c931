// Draws real MNIST test digits on the serve example's page with pointer events, in headless
// Chromium, and reads the page's answer; saves a screenshot of the page.
//
// node tests/browser/draw.mjs SERVE_BINARY WEIGHTS MNIST_SLICE_DIR SCREENSHOT.png [DIGITS] [STATIC_DIR]
//
// With STATIC_DIR (the page written by `serve --static`), the same drawings are made on the
// static page too, served by a plain static file server started here: it must give the served
// page's class for at least 99% of them, and ask nothing of `/api/`.
//
// The server is started here on 127.0.0.1 with an ephemeral port and stopped at the end. Each
// digit is drawn twice, as a person would with the page's pen: along its centre lines, filled
// where it is bolder than the pen; over the whole canvas (10 canvas px per MNIST pixel), and
// smaller (6 px) in the lower right. The strokes are `strokes.json`, written by
// tests/predict.rs from tests/drawing (where the same drawings are judged without a browser).
// Exits non-zero if the drawings are classified right less often than the original 28x28
// tensors less 7 points (a guard, loose enough for 30 digits: 2 of them; the figures are in
// README, and tests/predict.rs judges the same drawings of 500 digits exactly).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import zlib from "node:zlib";
import { chromium } from "playwright-core";

const [serverBin, weights, sliceDir, screenshot, count = "100", staticDir] = process.argv.slice(2);
const digits = Number(count);

function idx(file, header) {
  return zlib.gunzipSync(fs.readFileSync(`${sliceDir}/${file}`)).subarray(header);
}
const images = idx("t10k-images-idx3-ubyte.gz", 16);
const labels = idx("t10k-labels-idx1-ubyte.gz", 8);
const { renderings } = JSON.parse(fs.readFileSync(new URL("strokes.json", import.meta.url)));
if (digits > renderings[0].digits.length) {
  throw new Error(`strokes.json has ${renderings[0].digits.length} digits, not ${digits}`);
}

const server = spawn(serverBin, ["--weights", weights, "--addr", "127.0.0.1:0", "--data-dir", sliceDir],
  { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((ok, fail) => {
  server.stdout.on("data", (d) => {
    const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(d.toString());
    if (m) ok(m[0]);
  });
  server.on("exit", (code) => fail(new Error(`the server exited (${code})`)));
});

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
let files = null;

// The static page on a plain file server: the same drawings, compared with the served page's
// answers. Returns whether it failed.
async function staticPage(served) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
                  ".wasm": "application/wasm", ".json": "application/json", ".onnx": "application/octet-stream" };
  files = http.createServer((request, response) => {
    const file = path.join(staticDir, decodeURIComponent(new URL(request.url, "http://x").pathname));
    const name = file.endsWith("/") ? path.join(file, "index.html") : file;
    fs.readFile(name, (error, data) => {
      if (error) { response.writeHead(404); response.end(); return; }
      response.writeHead(200, { "Content-Type": types[path.extname(name)] || "application/octet-stream" });
      response.end(data);
    });
  });
  await new Promise((ok) => files.listen(0, "127.0.0.1", ok));
  const page = await browser.newPage({ viewport: { width: 760, height: 520 } });
  const requested = [];
  page.on("request", (request) => requested.push(new URL(request.url()).pathname));
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`http://127.0.0.1:${files.address().port}/`);
  const box = await page.locator("#canvas").boundingBox();
  let agree = 0, total = 0;
  const right = renderings.map(() => 0);
  for (let i = 0; i < digits; i++) {
    for (const [r, rendering] of renderings.entries()) {
      const answer = await drawOn(page, box, rendering.digits[i]);
      total++;
      if (answer === served[r][i]) agree++;
      if (answer === labels[i]) right[r]++;
    }
  }
  const status = await page.locator("#status").textContent();
  const api = requested.filter((p) => p.startsWith("/api/"));
  console.log(`static page: the served page's class on ${agree}/${total} drawings ` +
    `(${(100 * agree / total).toFixed(1)}%); right: ${right.join(", ")} of ${digits} per rendering`);
  console.log(`static page: ${requested.length} requests (${[...new Set(requested)].join(" ")}), ` +
    `${api.length} to /api/`);
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-static.png") });
  if (errors.length || status) console.log(`static page errors: ${errors.join("; ")} ${status}`);
  return agree < 0.99 * total || api.length > 0 || errors.length > 0;
}
let drawOn;

try {
  const page = await browser.newPage({ viewport: { width: 760, height: 520 } });
  await page.goto(url);
  const box = await page.locator("#canvas").boundingBox();

  // Every drawing's answer on the served page, rendering by rendering.
  const served = renderings.map(() => []);
  async function draw(lines, on = page, at = box) {
    await on.click("#clear");
    for (const line of lines) {
      await on.mouse.move(at.x + line[0], at.y + line[1]);
      await on.mouse.down();
      for (let k = 2; k < line.length; k += 2) {
        await on.mouse.move(at.x + line[k], at.y + line[k + 1]);
      }
      await on.mouse.up();
    }
    await on.waitForFunction(() => document.body.dataset.busy === "0");
    return Number(await on.locator("#answer").getAttribute("data-top"));
  }

  drawOn = (on, at, lines) => draw(lines, on, at);
  const right = renderings.map(() => 0);
  for (let i = 0; i < digits; i++) {
    for (const [r, rendering] of renderings.entries()) {
      const answer = await draw(rendering.digits[i]);
      served[r].push(answer);
      if (answer === labels[i]) right[r]++;
    }
  }
  // The original tensors, through the same server.
  let original = 0;
  for (let i = 0; i < digits; i++) {
    const pixels = Array.from(images.subarray(i * 784, (i + 1) * 784));
    const answer = await page.evaluate(async (pixels) => {
      const r = await fetch("/api/predict", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pixels }) });
      return (await r.json()).class;
    }, pixels);
    if (answer === labels[i]) original++;
  }
  console.log(`original 28x28 tensors: ${original}/${digits} right`);
  for (const [r, { name }] of renderings.entries()) {
    console.log(`drawn, ${name}: ${right[r]}/${digits} right`);
    if (right[r] < original - digits * 0.07) failed = true;
  }
  await draw(renderings[0].digits[3]);
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);
  if (staticDir) failed = (await staticPage(served)) || failed;
} finally {
  await browser.close();
  server.kill();
  files?.close();
}
process.exit(failed ? 1 : 0);

// Draws real MNIST test digits on the serve example's page with pointer events, in headless
// Chromium, and reads the page's answer; saves a screenshot of the page.
//
// node tests/browser/draw.mjs SERVE_BINARY WEIGHTS MNIST_SLICE_DIR SCREENSHOT.png [DIGITS] [STATIC_DIR]
//
// With STATIC_DIR (the page written by `serve --static`), the same drawings are made on the
// static page too, at the same time as on the served page (each page has its own mouse), served
// by a plain static file server started here: it must give the served page's class for at least
// 99% of them, and ask nothing of `/api/`.
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
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         // Frames as fast as the page draws them, not at 60 Hz: each mouse move waits for one.
         "--disable-frame-rate-limit", "--disable-gpu-vsync"],
});
let failed = false;
let files = null;

// Draws `lines` on a page with the mouse and returns the page's answer (its top class).
async function draw(page, box, lines) {
  await page.click("#clear");
  for (const line of lines) {
    await page.mouse.move(box.x + line[0], box.y + line[1]);
    await page.mouse.down();
    for (let k = 2; k < line.length; k += 2) {
      await page.mouse.move(box.x + line[k], box.y + line[k + 1]);
    }
    await page.mouse.up();
  }
  await page.waitForFunction(() => document.body.dataset.busy === "0");
  return Number(await page.locator("#answer").getAttribute("data-top"));
}

// Every drawing on one page, rendering by rendering: its answers, `answers[rendering][digit]`.
async function drawAll(page) {
  const box = await page.locator("#canvas").boundingBox();
  const answers = renderings.map(() => []);
  for (let i = 0; i < digits; i++) {
    for (const [r, rendering] of renderings.entries()) {
      answers[r].push(await draw(page, box, rendering.digits[i]));
    }
  }
  return answers;
}

// The static page on a plain file server, with its requests and errors recorded.
async function openStatic() {
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
  return { page, requested, errors };
}

// The static page's answers against the served page's. Returns whether it failed.
async function judgeStatic({ page, requested, errors }, answers, served) {
  let agree = 0, total = 0;
  const right = renderings.map(() => 0);
  for (const [r, rendering] of answers.entries()) {
    for (const [i, answer] of rendering.entries()) {
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

try {
  const page = await browser.newPage({ viewport: { width: 760, height: 520 } });
  await page.goto(url);
  const local = staticDir ? await openStatic() : null;
  // The two pages are drawn on at the same time (each has its own mouse): the browser test
  // takes half as long.
  const [served, answers] = await Promise.all([drawAll(page), local && drawAll(local.page)]);
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
    const right = served[r].filter((answer, i) => answer === labels[i]).length;
    console.log(`drawn, ${name}: ${right}/${digits} right`);
    if (right < original - digits * 0.07) failed = true;
  }
  await draw(page, await page.locator("#canvas").boundingBox(), renderings[0].digits[3]);
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);
  if (local) failed = (await judgeStatic(local, answers, served)) || failed;
} finally {
  await browser.close();
  server.kill();
  files?.close();
}
process.exit(failed ? 1 : 0);

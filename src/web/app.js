// The tdfas page: the DOM, the camera / video / photos, the sliding window of the model's frames.
// The engine (WebGPU device, checkpoint, face detector, scoring) is the Rust crate compiled to
// wasm (tdfas_web.js). URL parameters run it without clicks (the tests use them):
//   ?checkpoint=URL   a checkpoint other than the server's
//   ?frames=files     score the served folder's images (`tdfas web --files DIR`) as `tdfas infer` does
//   ?video=URL        score a video file with the sliding window; ?camera=1 the camera
//   ?clips=N          stop after N clips (video, camera)
//   ?test=kernels     run the kernel reference tests; ?bench=1 the bench view
import initWasm, * as tdfas from './tdfas_web.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const page = { model: null, busy: false, running: false, stream: null, result: null };

function setState(state) { document.body.dataset.state = state; }
function log(line) { $('log').textContent += line + '\n'; console.log('tdfas: ' + line); }
function showMessage(text, kind = 'error') {
  const m = $('message');
  m.textContent = text;
  m.className = text ? kind : '';
}
// A final state for the tests: the result (or error) as JSON on the page and on the console.
function finish(state, result) {
  if (page.firstVerdict != null) result.first_verdict_ms = page.firstVerdict;
  page.result = result;
  window.tdfasResult = result;
  setState(state);
  console.log('TDFAS_RESULT ' + JSON.stringify({ state, ...result }));
  if (page.model) result.conv_kernel = page.model.conv_kernel;
}
function fail(text) {
  showMessage(text);
  if (!page.model) $('model').textContent = 'not loaded';
  finish('error', { message: text });
}
const fmt = (x) => (x == null ? '-' : x.toFixed(4));

function showThreshold(t) {
  $('threshold').textContent = t
    ? `${t.value.toFixed(4)} (${t.source})` + (t.at_chance ? ': AT CHANCE on its dev split, verdicts mean nothing' : '')
    : 'none stored: score only, no verdict';
}

// One clip's (or a whole input's) result on the page.
function showResult(r, clipsText) {
  const v = $('verdict');
  if (r.no_face) {
    v.textContent = 'NO FACE';
    v.className = 'noface';
    $('score').textContent = '-';
    showMessage(r.no_face + ': nothing scored. Face the camera, come closer, and light the face.', 'info');
  } else {
    // from opening the page (wasm, WebGPU, checkpoint, frames) to the first score shown
    if (page.firstVerdict == null) page.firstVerdict = performance.now();
    const live = r.threshold ? r.score >= r.threshold.value : null;
    v.textContent = live == null ? 'SCORED' : live ? 'LIVE' : 'ATTACK';
    v.className = live == null ? '' : live ? 'live' : 'attack';
    $('score').textContent = fmt(r.score) + (r.p_live != null ? `  (p_live ${fmt(r.p_live)})` : '');
    showThreshold(r.threshold);
    $('network').textContent = r.network;
    $('facebox').textContent = r.face_box ? r.face_box.map((x) => Math.round(x)).join(', ') + ` (${r.face_source})` : r.face_source;
    if (r.depth) drawDepth(r.depth, r.map_size);
    // as `tdfas infer`: a picture cut close around the face gets a warning with its verdict, and
    // so does a verdict against the threshold of a network that was at chance on its dev split
    const warnings = [r.threshold && r.threshold.at_chance, r.warning].filter((w) => w);
    if (warnings.length) showMessage(warnings.join('. '), 'warn');
    else if (['info', 'warn'].includes($('message').className)) showMessage('');
  }
  if (r.ms != null) $('time').textContent = `${r.ms.toFixed(1)} ms`;
  if (clipsText) $('clips').textContent = clipsText;
}

function drawDepth(map, s) {
  const c = $('depth');
  c.width = s; c.height = s;
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(s, s);
  for (let i = 0; i < s * s; i++) {
    const v = Math.max(0, Math.min(1, map[i])) * 255;
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

// The face box over the shown frame (frame pixels -> the overlay's pixels).
function drawBox(box, w, h) {
  const o = $('overlay');
  const media = $('still').hidden ? $('video') : $('still');
  Object.assign(o.style, { left: media.offsetLeft + 'px', top: media.offsetTop + 'px', width: media.offsetWidth + 'px', height: media.offsetHeight + 'px' });
  o.width = media.offsetWidth; o.height = media.offsetHeight;
  const ctx = o.getContext('2d');
  ctx.clearRect(0, 0, o.width, o.height);
  if (!box || !box.length) return;
  const sx = o.width / w, sy = o.height / h;
  ctx.strokeStyle = '#39d353'; ctx.lineWidth = 3;
  ctx.strokeRect(box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy);
}

// ---- start: wasm, WebGPU, checkpoint ----
// the inputs wait for the engine
const controls = ['camera', 'stop', 'bench-run', 'video-file', 'photo-files', 'checkpoint-file'];
for (const id of controls) $(id).disabled = true;
async function start() {
  try {
    await initWasm();
  } catch (e) {
    return fail(`Could not load tdfas's WebAssembly (${e}). Serve the page with \`tdfas web\`.`);
  }
  if (!navigator.gpu) {
    $('adapter').textContent = 'none';
    return fail('This browser has no WebGPU, which tdfas needs to run the model on your GPU.\n' +
      'Use Chrome or Edge 113 or newer (on Linux start it with --enable-unsafe-webgpu), Safari 26, ' +
      'or Firefox 141+ on Windows; the page must come from http://127.0.0.1 (tdfas web) or https.');
  }
  try {
    const gpu = JSON.parse(await tdfas.open_gpu());
    // wgpu's WebGPU backend leaves the name empty: the browser's own adapter info says it
    const info = (await navigator.gpu.requestAdapter())?.info;
    if (info) gpu.adapter = [info.vendor, info.architecture, info.description].filter((x) => x).join(' ') || gpu.adapter;
    $('adapter').textContent = gpu.adapter;
    page.gpu = gpu;
    log('adapter: ' + gpu.adapter + ', ' + gpu.description);
  } catch (e) {
    $('adapter').textContent = 'none';
    return fail('WebGPU gave no usable GPU: ' + (e.message || e));
  }
  $('checkpoint-file').disabled = false; // another checkpoint can be picked even if the server's fails
  const site = await fetch('site.json').then((r) => r.json()).catch(() => ({}));
  page.site = site;
  const url = params.get('checkpoint') || 'checkpoint.safetensors';
  const name = params.get('checkpoint') || site.checkpoint || 'checkpoint.safetensors';
  try {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
    loadCheckpoint(new Uint8Array(await resp.arrayBuffer()), name);
  } catch (e) {
    return fail(e.message || String(e));
  }
  for (const id of controls) $(id).disabled = false;
  setState('ready');
  await autoRun();
}

function loadCheckpoint(bytes, name) {
  const m = JSON.parse(tdfas.load_checkpoint(bytes, name));
  page.model = m;
  $('model').textContent = `${name}: variant ${m.variant}, ${m.frames} frames every ${m.interval}, ` +
    `${m.image_size}x${m.image_size} input, conv kernel ${m.conv_kernel}`;
  showThreshold(m.threshold);
  log(`checkpoint ${name}: variant ${m.variant}, Nf ${m.frames}, interval ${m.interval}`);
}

async function autoRun() {
  if (params.get('test') === 'kernels') return runKernelTests();
  if (params.get('bench')) return runBench();
  if (params.get('frames') === 'files') {
    const names = (page.site.files || []).filter((n) => IMAGE_NAME.test(n));
    const files = [];
    for (const n of names) {
      const resp = await fetch('files/' + encodeURIComponent(n));
      if (!resp.ok) return fail(`files/${n}: HTTP ${resp.status}`);
      files.push({ name: n, bytes: new Uint8Array(await resp.arrayBuffer()) });
    }
    return scoreImages(files);
  }
  if (params.get('video')) return runVideo(params.get('video'));
  if (params.get('camera')) return runCamera();
}

// ---- photos and frame runs: exactly `tdfas infer`'s clips, faces and scores ----
// the image files `tdfas infer` reads (imageops::IMAGE_EXTENSIONS), and its frame names
// (imageops::frame_number): the number alone, zero-padded to at least 3 digits (0001.png);
// 1.jpg, 2.jpg... are photos
const IMAGE_NAME = /\.(png|jpe?g|webp|bmp)$/i;
const FRAME_NAME = /^\d{3,}\.(png|jpe?g|webp|bmp)$/i;
async function scoreImages(files) {
  stopVideo();
  if (!files.length) return fail('No image files given (PNG, JPEG, WebP or BMP).');
  setState('scoring');
  files.sort((a, b) => (a.name < b.name ? -1 : 1));
  // as `tdfas infer`: files named 0001.png|jpg|... are a video's frames, and the other pictures
  // beside them are left out with a warning naming them (a dataset's NNNN_depth/_mask labels
  // unnamed); without frames every image is a photo
  const frames = files.filter((f) => FRAME_NAME.test(f.name));
  const numbered = frames.length > 1;
  let leftOut = null;
  if (numbered) {
    const others = files.filter((f) => !FRAME_NAME.test(f.name) && !/^\d+_(depth|mask)\./i.test(f.name)).map((f) => f.name);
    if (others.length) {
      const shown = others.slice(0, 5).join(', ') + (others.length > 5 ? ` and ${others.length - 5} more` : '');
      leftOut = `${others.length} picture(s) not named as frames (0001.png ...) left out: ${shown} (give them alone to score them as photos)`;
    }
    files = frames;
  }
  const pics = [];
  for (const f of files) {
    try {
      pics.push(tdfas.decode_image(f.bytes, f.name));
    } catch (e) {
      return fail(`${f.name}: ${e.message || e}`);
    }
  }
  try {
    return numbered ? await scoreRun(pics, leftOut) : await scorePhotos(pics, files.map((f) => f.name));
  } catch (e) {
    return fail(e.message || String(e));
  }
}

function showStill(pic) {
  showPixels(pic.rgba(), pic.width, pic.height);
}

function showPixels(rgba, w, h) {
  const c = $('still');
  c.width = w; c.height = h;
  c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), w, h), 0, 0);
  c.hidden = false;
  $('video').hidden = true;
}

async function scoreRun(pics, leftOut) {
  const { width: w, height: h } = pics[0];
  if (pics.some((p) => p.width !== w || p.height !== h)) throw new Error('the frames differ in size (mixed frame sizes)');
  const plan = tdfas.clip_plan(pics.length);
  if (!plan.length) throw new Error(`${pics.length} frames: the model needs at least ${page.model.frames}`);
  const boxes = new Map();
  const rgba = pics.map((p) => p.rgba());
  const scores = [];
  let last = null, noFace = null, closest = null;
  for (let c = 0; c < plan.length; c += 2) {
    const idx = [...Array(page.model.frames).keys()].map((k) => plan[c] + k * plan[c + 1]);
    for (const i of idx) if (!boxes.has(i)) boxes.set(i, tdfas.detect_face(rgba[i], w, h));
    showStill(pics[idx[idx.length - 1]]);
    const r = await scoreWindow(idx.map((i) => ({ rgba: rgba[i], box: boxes.get(i) })), w, h, false);
    if (r.no_face) { noFace = r; continue; }
    scores.push(r.score);
    last = r;
    closest = leastCropShare(closest, r);
    showResult(r, `${scores.length} of ${plan.length / 2}`);
    drawBox(r.face_box, w, h);
  }
  if (!last) {
    showResult(noFace, `0 of ${plan.length / 2}`);
    return finish('done', { no_face: noFace.no_face, clips: plan.length / 2 });
  }
  const score = scores.reduce((a, b) => a + b, 0) / scores.length;
  const warning = [closest.warning, leftOut].filter((w) => w).join('. ') || null;
  const framing = { crop_in_picture: closest.crop_in_picture, warning };
  showResult({ ...last, ...framing, score, p_live: null }, `${scores.length} of ${plan.length / 2} (the score is their mean)`);
  finish('done', { score, clip_scores: scores, threshold: last.threshold, face_box: last.face_box, ...framing, conv_kernel: page.model.conv_kernel, ms: last.ms });
}

async function scorePhotos(pics, names) {
  const results = [];
  for (let i = 0; i < pics.length; i++) {
    const p = pics[i];
    const rgba = p.rgba();
    const box = tdfas.detect_face(rgba, p.width, p.height);
    showStill(p);
    const frames = Array(page.model.frames).fill({ rgba, box });
    const r = await scoreWindow(frames, p.width, p.height, true);
    r.name = names[i];
    results.push(r);
    showResult(r, `photo ${i + 1} of ${pics.length}: ${names[i]}`);
    drawBox(r.face_box, p.width, p.height);
  }
  finish('done', { photos: results.map(({ depth, ...r }) => r), conv_kernel: page.model.conv_kernel });
}

// Of two scored clips, the one whose face crop is least picture (as `tdfas infer` reports a
// run's least share, and warns by it).
function leastCropShare(a, b) {
  return a == null || b.crop_in_picture < a.crop_in_picture ? b : a;
}

// Scores one window of frames ({rgba, box}); adds the time it took.
async function scoreWindow(frames, w, h, photo) {
  const n = w * h * 4;
  const all = new Uint8Array(n * frames.length);
  const boxes = new Float32Array(4 * frames.length).fill(NaN);
  frames.forEach((f, i) => {
    all.set(f.rgba, i * n);
    if (f.box && f.box.length === 4) boxes.set(f.box, 4 * i);
  });
  const t0 = performance.now();
  const r = JSON.parse(await tdfas.score_clip(all, w, h, boxes, photo));
  r.ms = performance.now() - t0;
  return r;
}

// ---- video and camera: a sliding window of Nf frames taken every `interval` frames ----
function stopVideo() {
  page.running = false;
  const v = $('video');
  v.pause();
  if (page.stream) page.stream.getTracks().forEach((t) => t.stop());
  page.stream = null;
  v.srcObject = null;
}

async function runCamera() {
  stopVideo();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    const why = e.name === 'NotAllowedError' ? 'the camera was refused (permission denied): allow the camera for this page in the browser\'s site settings'
      : e.name === 'NotFoundError' ? 'no camera was found' : `the camera could not be opened (${e.name}: ${e.message})`;
    return fail(`Camera: ${why}. You can also score a video file or photos.`);
  }
  page.stream = stream;
  const v = $('video');
  v.srcObject = stream;
  await v.play();
  return slidingWindow(v, 'camera');
}

async function runVideo(src) {
  stopVideo();
  const v = $('video');
  v.src = src;
  v.loop = false;
  try {
    await v.play();
  } catch (e) {
    return fail(`The video could not be played (${e.message || e}): the browser reads MP4 (H.264) and WebM.`);
  }
  return slidingWindow(v, 'video');
}

async function slidingWindow(v, what) {
  setState('scoring');
  $('still').hidden = true;
  v.hidden = false;
  const m = page.model;
  const maxClips = Number(params.get('clips') || 0);
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const window_ = [];
  const scores = [];
  let frame = 0, noFace = 0, last = null, closest = null;
  page.running = true;
  // the next frame shown, or the video's end (or Stop): no frame callback comes after those
  const nextFrame = () => new Promise((res) => {
    if (v.ended || !page.running) return res();
    for (const e of ['ended', 'pause', 'emptied']) v.addEventListener(e, res, { once: true });
    if ('requestVideoFrameCallback' in v) v.requestVideoFrameCallback(() => res());
    else requestAnimationFrame(() => res());
  });
  while (page.running && !v.ended) {
    await nextFrame();
    // every `interval`-th frame the browser shows joins the window (the model's frame spacing)
    if (frame++ % m.interval !== 0 || !v.videoWidth) continue;
    const scale = Math.min(1, 1280 / Math.max(v.videoWidth, v.videoHeight));
    const w = Math.round(v.videoWidth * scale), h = Math.round(v.videoHeight * scale);
    canvas.width = w; canvas.height = h;
    ctx.drawImage(v, 0, 0, w, h);
    const rgba = new Uint8Array(ctx.getImageData(0, 0, w, h).data.buffer);
    const box = tdfas.detect_face(rgba, w, h);
    drawBox(box, w, h);
    window_.push({ rgba, box, w, h });
    if (window_.length > m.frames) window_.shift();
    if (window_.length < m.frames || page.busy || window_.some((f) => f.w !== w || f.h !== h)) continue;
    page.busy = true;
    try {
      const r = await scoreWindow(window_, w, h, false);
      if (r.no_face) noFace++; else { scores.push(r.score); last = r; closest = leastCropShare(closest, r); }
      showResult(r, `${scores.length} scored, ${noFace} without a face`);
    } catch (e) {
      page.busy = false;
      stopVideo();
      return fail(e.message || String(e));
    }
    page.busy = false;
    if (maxClips && scores.length + noFace >= maxClips) break;
  }
  stopVideo();
  // the last frame stays on the page, with its face box
  const f = window_[window_.length - 1];
  if (f) {
    showPixels(f.rgba, f.w, f.h);
    drawBox(f.box, f.w, f.h);
  }
  if (!last) {
    showResult({ no_face: `no face found in ${noFace} clip(s) of the ${what}` }, `0 scored, ${noFace} without a face`);
    return finish('done', { no_face: `no face found in the ${what}`, clips: noFace });
  }
  const score = scores.reduce((a, b) => a + b, 0) / scores.length;
  const framing = { crop_in_picture: closest.crop_in_picture, warning: closest.warning };
  showResult({ ...last, ...framing, score, p_live: null }, `${scores.length} scored, ${noFace} without a face (the score is their mean)`);
  finish('done', { score, clip_scores: scores, no_face_clips: noFace, threshold: last.threshold, face_box: last.face_box, ...framing, ms: last.ms });
}

// ---- kernel tests and bench (in the engine) ----
async function runKernelTests() {
  if (!tdfas.kernel_tests) return fail('This build has no kernel tests.');
  setState('scoring');
  const r = JSON.parse(await tdfas.kernel_tests());
  for (const t of r.tests) log(`${t.ok ? 'ok  ' : 'FAIL'} ${t.name}: ${t.detail}`);
  showMessage(`Kernel reference checks on ${page.gpu.adapter}: ${r.passed} passed, ${r.failed} failed` +
    r.tests.filter((t) => !t.ok).map((t) => `\n${t.name}: ${t.detail}`).join(''), r.failed ? 'error' : 'info');
  finish('done', r);
}

async function runBench() {
  if (!tdfas.bench) return fail('This build has no bench view.');
  setState('scoring');
  showMessage('Bench: running the kernel rows on ' + page.gpu.adapter + '...', 'info');
  let r;
  try {
    r = JSON.parse(await tdfas.bench());
  } catch (e) {
    return fail('Bench: ' + (e.message || e));
  }
  const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows = r.rows.map((x) => `<tr><td>${esc(x.name)}</td><td>${x.ms.toFixed(2)}</td><td>${x.gflops == null ? '' : x.gflops.toFixed(2)}</td></tr>`).join('');
  $('bench').innerHTML = `<p>Bench on ${esc(page.gpu.adapter)} (${esc(r.timer)})</p><table><tr><th>row</th><th>ms</th><th>GFLOP/s</th></tr>${rows}</table>`;
  showMessage(`Bench: ${r.rows.length} rows on ${page.gpu.adapter}.`, 'info');
  finish('done', r);
}

// ---- controls ----
$('camera').onclick = () => runCamera();
$('stop').onclick = () => stopVideo();
$('bench-run').onclick = () => runBench();
$('video-file').onchange = (e) => { const f = e.target.files[0]; if (f) runVideo(URL.createObjectURL(f)); };
$('photo-files').onchange = async (e) => {
  const files = [];
  for (const f of e.target.files) files.push({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) });
  scoreImages(files);
};
$('checkpoint-file').onchange = async (e) => {
  const f = e.target.files[0];
  if (!f) return;
  try {
    loadCheckpoint(new Uint8Array(await f.arrayBuffer()), f.name);
    showMessage(`Loaded ${f.name}.`, 'info');
    for (const id of controls) $(id).disabled = false;
    setState('ready');
  } catch (err) {
    showMessage(err.message || String(err));
  }
};

start().catch((e) => fail('Unexpected error: ' + (e.message || e)));

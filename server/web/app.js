// tessella web page: plain JavaScript, no build step. It talks to the same
// OpenAI-compatible API as any other client: POST /v1/images/generations
// with stream: true, read as Server-Sent Events from a ReadableStream.
'use strict';

const $ = (id) => document.getElementById(id);
let config = { max_grid: 1, auth_required: false };
let startedAt = 0;
let ticker = null;

function authHeaders() {
  const h = {};
  const key = $('apikey').value.trim();
  if (key) h['Authorization'] = 'Bearer ' + key;
  return h;
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').classList.toggle('error', !!isError);
}

async function loadConfig() {
  const res = await fetch('/api/config');
  config = await res.json();
  $('model').textContent = config.model || '';
  const grid = $('grid');
  for (let g = 2; g <= (config.max_grid || 1); g++) {
    const o = document.createElement('option');
    o.value = String(g);
    o.textContent = g + '×' + g;
    grid.appendChild(o);
  }
  if (config.auth_required) {
    $('keyrow').hidden = false;
    $('apikey').value = sessionStorage.getItem('tessella-key') || '';
  }
}

// Parses a number field; empty means "server default" (omitted).
function numberField(id, integer) {
  const v = $(id).value.trim();
  if (v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new Error(id.replace('_', '-') + ' must be a ' + (integer ? 'whole ' : '') + 'number ≥ 0');
  }
  return n;
}

// Yields {event, data} for each Server-Sent Event in a fetch response.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue; // comment (keep-alive)
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (name === 'event') event = val;
        else if (name === 'data') data += (data ? '\n' : '') + val;
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

function showImage(b64, format, partial, caption) {
  $('current').hidden = false;
  $('current').classList.toggle('partial', partial);
  $('preview').src = 'data:image/' + format + ';base64,' + b64;
  $('preview').dataset.state = partial ? 'partial' : 'final';
  $('caption').textContent = caption;
}

async function generate(ev) {
  ev.preventDefault();
  const body = { prompt: $('prompt').value.trim(), stream: true, partial_images: 3, response_format: 'b64_json' };
  try {
    if (!body.prompt) throw new Error('type a prompt first');
    const fields = [['seed', true], ['temperature', false], ['top_k', true], ['supercondition', false]];
    for (const [id, integer] of fields) {
      const v = numberField(id, integer);
      if (v !== undefined) body[id] = v;
    }
  } catch (e) {
    setStatus(e.message, true);
    return;
  }
  const grid = Number($('grid').value);
  if (grid > 1) body.grid = grid;
  if (config.auth_required) sessionStorage.setItem('tessella-key', $('apikey').value.trim());

  $('generate').disabled = true;
  $('preview').removeAttribute('src');
  $('preview').dataset.state = '';
  $('preview').dataset.partials = '0';
  $('current').hidden = true;
  startedAt = performance.now();
  let phase = 'queued';
  const tick = () => setStatus(phase + '… ' + ((performance.now() - startedAt) / 1000).toFixed(0) + ' s');
  tick();
  ticker = setInterval(tick, 1000);
  try {
    const res = await fetch('/v1/images/generations', {
      method: 'POST',
      headers: Object.assign({ 'Content-Type': 'application/json' }, authHeaders()),
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      let msg = 'HTTP ' + res.status;
      try { msg = (await res.json()).error.message; } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    phase = 'generating';
    let done = false;
    for await (const { event, data } of sseEvents(res)) {
      if (event === 'image_generation.partial_image') {
        $('preview').dataset.partials = String(Number($('preview').dataset.partials || 0) + 1);
        showImage(data.b64_json, data.output_format, true, 'preview ' + (data.partial_image_index + 1) + ' of ' + body.partial_images);
      } else if (event === 'image_generation.completed') {
        const secs = ((performance.now() - startedAt) / 1000).toFixed(1);
        showImage(data.b64_json, data.output_format, false, data.size + ' · seed ' + data.seed + ' · ' + secs + ' s');
        done = true;
      } else if (event === 'error') {
        throw new Error(data.error.message);
      }
    }
    if (!done) throw new Error('the stream ended without an image');
    clearInterval(ticker);
    setStatus('done in ' + ((performance.now() - startedAt) / 1000).toFixed(1) + ' s');
    await loadGallery();
  } catch (e) {
    clearInterval(ticker);
    setStatus(e.message, true);
  } finally {
    $('generate').disabled = false;
  }
}

function card(item) {
  const div = document.createElement('div');
  div.className = 'card';
  const img = document.createElement('img');
  img.src = item.url;
  img.alt = item.prompt;
  img.loading = 'lazy';
  const p = document.createElement('p');
  p.className = 'prompt';
  p.textContent = item.prompt;
  const dl = document.createElement('dl');
  const rows = [['size', item.size], ['time', item.seconds.toFixed(1) + ' s'],
    ['created', new Date(item.created * 1000).toLocaleTimeString()]];
  for (const k of Object.keys(item.settings || {}).sort()) rows.push([k, item.settings[k]]);
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  const a = document.createElement('a');
  a.href = item.url;
  a.download = 'tessella-' + item.seed + '.' + item.output_format;
  a.textContent = 'Download';
  div.append(img, p, dl, a);
  return div;
}

async function loadGallery() {
  const res = await fetch('/api/gallery', { headers: authHeaders() });
  if (!res.ok) {
    $('empty').textContent = res.status === 401 ? 'Enter the API key to see the gallery.' : 'Could not load the gallery.';
    return;
  }
  const items = (await res.json()).data || [];
  $('empty').hidden = items.length > 0;
  $('gallery').replaceChildren(...items.map(card));
}

document.addEventListener('DOMContentLoaded', async () => {
  $('form').addEventListener('submit', generate);
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('form').requestSubmit();
  });
  try {
    await loadConfig();
    if (!config.auth_required || $('apikey').value) await loadGallery();
    else $('empty').textContent = 'Enter the API key to see the gallery.';
  } catch (e) {
    setStatus('cannot reach the server: ' + e.message, true);
  }
});

// Checks shedder-cli's GGUF exports in real llama.cpp: for each case (the demo Mamba-1 and Mamba-2 models whole, in
// f32, f16 and bf16, block-pruned, with an SSM removed inside a block, and cut in width: heads, head dimension,
// state) it writes the GGUF file with
// `shedder-cli export --format gguf`, loads it with node-llama-cpp's prebuilt llama.cpp, checks that llama.cpp's
// tokenizer (from the GGUF's tokenizer metadata) gives the token ids shedder-cli's tokenizer gives, and compares
// the perplexity llama.cpp computes on token windows of the demo test corpus with `shedder-cli eval --tokens` on
// the same windows (the source model with the same components removed), within the storage type's relative
// tolerance. Exit status 0 when every case passes, 1 otherwise.
//
// node check_gguf.mjs --cli PATH/shedder-cli --resources DIR [--work DIR] [--windows N] [--seq-len L]
import {execFileSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

// Relative tolerance on perplexity per GGUF storage type. f32: only the arithmetic differs (summation orders,
// llama.cpp's own exp/softplus). f16/bf16: llama.cpp also rounds the activations to the weight type inside each
// matrix product (its CPU dot products run in that type), and f16 rounds the demo's bf16 weights. Measured on the
// demo models (4 x 256 tokens): f32 <= 1.6e-6, f16 <= 2.5e-5, bf16 <= 1.5e-4; the tolerances are about 10x that
// for f32 and about one unit roundoff of the type for f16 (2^-11 = 4.9e-4, doubled) and bf16 (2^-8 = 3.9e-3).
const TOLERANCE = {f32: 2e-5, f16: 1e-3, bf16: 4e-3};

function parseArgs(argv) {
  const a = {windows: 4, seqLen: 256, work: ""};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i], v = argv[i + 1];
    if (k === "--cli") a.cli = v;
    else if (k === "--resources") a.resources = v;
    else if (k === "--work") a.work = v;
    else if (k === "--windows") a.windows = Number(v);
    else if (k === "--seq-len") a.seqLen = Number(v);
    else throw new Error(`unknown argument ${k}`);
    ++i;
  }
  if (!a.cli || !a.resources) throw new Error("usage: node check_gguf.mjs --cli SHEDDER_CLI --resources DIR [--work DIR]");
  return a;
}

function cli(args, opts, json = true) {
  let out;
  try {
    out = execFileSync(opts.cli, json ? [...args, "--json"] : args,
                       {encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "pipe"]});
  } catch (e) {
    throw new Error(`shedder-cli ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`);
  }
  return json ? JSON.parse(out.trim().split("\n").pop()) : out;
}

// Documents of a JSONL file (field "text"), empty ones dropped, as shedder-cli reads them.
function readDocuments(file) {
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l).text).filter((t) => typeof t === "string" && t !== "");
}

// Documents tokenized, joined with EOS between them, cut into `n` windows of `len` tokens (shedder-cli's rule).
function makeWindows(docIds, eos, n, len) {
  const ids = [];
  for (const d of docIds) {
    if (ids.length >= n * len) break;
    if (ids.length > 0) ids.push(eos);
    ids.push(...d);
  }
  if (ids.length < n * len) throw new Error(`the corpus gives ${ids.length} tokens, fewer than ${n} x ${len}`);
  const w = [];
  for (let i = 0; i < n; ++i) w.push(ids.slice(i * len, (i + 1) * len));
  return w;
}

// A safetensors file holding the windows as one I64 tensor [n, len] (shedder-cli eval --tokens reads it).
function writeWindows(file, windows) {
  const n = windows.length, len = windows[0].length;
  let header = JSON.stringify({ids: {dtype: "I64", shape: [n, len], data_offsets: [0, n * len * 8]}});
  header += " ".repeat((8 - (header.length % 8)) % 8);
  const buf = Buffer.alloc(8 + header.length + n * len * 8);
  buf.writeBigUInt64LE(BigInt(header.length), 0);
  buf.write(header, 8, "utf8");
  let o = 8 + header.length;
  for (const w of windows) for (const t of w) { buf.writeBigInt64LE(BigInt(t), o); o += 8; }
  fs.writeFileSync(file, buf);
}

// Mamba-Shedder's perplexity through llama.cpp: each window from a fresh state, the mean next-token NLL of each
// window from the full next-token distributions, then exp of the mean over windows.
async function llamaPerplexity(context, windows) {
  const seq = context.getSequence();
  let sum = 0;
  for (const w of windows) {
    await seq.clearHistory();
    const input = w.map((t, i) => (i < w.length - 1 ? [t, {generateNext: {probabilities: true}}] : t));
    const out = await seq.controlledEvaluate(input);
    let nll = 0;
    for (let i = 0; i < w.length - 1; ++i) {
      const p = out[i]?.next?.probabilities?.get(w[i + 1]);
      if (!(p > 0)) throw new Error(`llama.cpp gave no probability for token ${w[i + 1]} at position ${i + 1}`);
      nll -= Math.log(p);
    }
    sum += nll / (w.length - 1);
  }
  seq.dispose();
  return Math.exp(sum / windows.length);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const work = opts.work || fs.mkdtempSync(path.join(os.tmpdir(), "shedder-gguf-"));
  fs.mkdirSync(work, {recursive: true});
  const demo = path.join(opts.resources, "demo");
  const docs = readDocuments(path.join(demo, "corpus", "test.jsonl"));
  const cases = [];
  for (const m of ["mamba1", "mamba2"]) {
    for (const type of ["f32", "f16", "bf16"]) cases.push({model: m, type, remove: []});
    cases.push({model: m, type: "f32", remove: ["block:3,10"]});
    cases.push({model: m, type: "bf16", remove: ["block:3,10"]});
    cases.push({model: m, type: "f32", remove: ["block:3", "ssm:7"]});
  }
  // Width cuts with one size for every layer (docs/width.md): the pruned config's sizes reach llama.cpp's hparams.
  const every = (f) => Array.from({length: 16}, (_, l) => f(l)).join(",");
  cases.push({model: "mamba1", type: "f32", tag: "state", remove: [every((l) => `layers.${l}.ssm.state.0`)]});
  cases.push({model: "mamba2", type: "f32", tag: "heads-state",
              remove: [every((l) => `layers.${l}.ssm.heads.1,layers.${l}.ssm.heads.6,layers.${l}.ssm.state.0`)]});
  cases.push({model: "mamba2", type: "f16", tag: "head-dim", remove: [every((l) => `layers.${l}.mixer.channels.2`)]});
  const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
  const reference = {};  // per source model: our token ids of the documents the windows need
  let failures = 0;
  for (const c of cases) {
    const src = path.join(demo, c.model);
    const tag = `${c.model}-${c.type}` +
                (c.tag ? "-" + c.tag : c.remove.length ? "-" + c.remove.join("-").replace(/[:,]/g, "_") : "");
    const file = path.join(work, `${tag}.gguf`);
    const removeArgs = c.remove.flatMap((r) => ["--remove", r]);
    cli(["export", src, ...removeArgs, "--format", "gguf", "--gguf-type", c.type, "--out", file, "--force"], opts);
    const model = await llama.loadModel({modelPath: file});
    try {
      // The tokenizer: llama.cpp's ids for every document the windows take, against ours.
      if (!reference[c.model]) reference[c.model] = [];
      const ours = reference[c.model], theirs = [];
      let total = 0, d = 0;
      for (; d < docs.length && total < opts.windows * opts.seqLen; ++d) {
        theirs.push(Array.from(model.tokenize(docs[d], false)));
        if (ours.length <= d) ours.push(cli(["tokenize", src, "--text", docs[d]], opts).ids);
        if (JSON.stringify(theirs[d]) !== JSON.stringify(ours[d]))
          throw new Error(`${tag}: llama.cpp tokenizes document ${d} differently: ${theirs[d].slice(0, 20)} ... ` +
                          `vs ours ${ours[d].slice(0, 20)} ...`);
        total += theirs[d].length + 1;
      }
      const eos = model.tokens.eos;
      const windows = makeWindows(theirs, eos, opts.windows, opts.seqLen);
      const tokFile = path.join(work, `${tag}.windows.safetensors`);
      writeWindows(tokFile, windows);
      const ourPpl = cli(["eval", src, ...removeArgs, "--tokens", tokFile], opts).perplexity;
      const context = await model.createContext({contextSize: opts.seqLen, batchSize: opts.seqLen, sequences: 1,
                                                   threads: 1});
      const theirPpl = await llamaPerplexity(context, windows);
      await context.dispose();
      const rel = Math.abs(theirPpl / ourPpl - 1), tol = TOLERANCE[c.type];
      const ok = rel <= tol;
      if (!ok) ++failures;
      console.log(`${ok ? "ok  " : "FAIL"} ${tag.padEnd(34)} shedder-cli ppl ${ourPpl.toFixed(6)}  llama.cpp ppl ` +
                  `${theirPpl.toFixed(6)}  relative difference ${rel.toExponential(2)} (tolerance ${tol}; ` +
                  `${d} documents tokenized alike; ${opts.windows} x ${opts.seqLen} tokens)`);
    } finally {
      await model.dispose();
    }
  }
  await llama.dispose();
  if (!opts.work) fs.rmSync(work, {recursive: true, force: true});
  console.log(failures ? `${failures} of ${cases.length} cases failed` : `all ${cases.length} cases passed`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(`check_gguf: ${e.message}`);
  process.exit(1);
});

// Verification in the browser: RFC 6962 / RFC 9162 Merkle proofs, C2SP
// signed-note checkpoints, and the log keys of a Sigstore
// trusted_root.json. Everything here uses WebCrypto (crypto.subtle) and
// nothing the server says beyond the bytes it is asked to prove.
//
// Every verify* function throws an Error whose message says what failed;
// callers show it as the reason.

const enc = new TextEncoder();

export function cryptoAvailable() {
  return typeof crypto !== "undefined" && !!crypto.subtle && window.isSecureContext !== false;
}

export function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(b) {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

// RFC 6962 §2.1 hashes.
export function leafHash(data) { return sha256(Uint8Array.of(0), data); }
function nodeHash(l, r) { return sha256(Uint8Array.of(1), l, r); }

function checkHash(h, what) {
  if (!(h instanceof Uint8Array) || h.length !== 32) throw new Error(`${what} is not a 32-byte hash`);
}

// verifyInclusion checks, as RFC 9162 §2.1.3.2 says, that leaf is at index
// in the tree of size whose root is root. Sizes are BigInt.
export async function verifyInclusion(index, size, leaf, proof, root) {
  index = BigInt(index); size = BigInt(size);
  if (index >= size) throw new Error(`index ${index} is not below tree size ${size}`);
  checkHash(leaf, "the leaf hash"); checkHash(root, "the root hash");
  proof.forEach((p, i) => checkHash(p, `proof hash ${i}`));
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error(`the inclusion proof has ${proof.length} hashes, too many for index ${index} in tree size ${size}`);
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error(`the inclusion proof has ${proof.length} hashes, too few for index ${index} in tree size ${size}`);
  if (!equal(r, root)) {
    throw new Error(`the inclusion proof leads to root ${b64encode(r)}, not the checkpoint's root ${b64encode(root)}`);
  }
}

// verifyConsistency checks, as RFC 9162 §2.1.4.2 says, that the tree of
// size2 (root2) extends the tree of size1 (root1).
export async function verifyConsistency(size1, size2, root1, root2, proof) {
  size1 = BigInt(size1); size2 = BigInt(size2);
  checkHash(root1, "the first root"); checkHash(root2, "the second root");
  proof.forEach((p, i) => checkHash(p, `proof hash ${i}`));
  if (size1 > size2) throw new Error(`tree size ${size1} is larger than ${size2}`);
  if (size1 === size2) {
    if (proof.length !== 0) throw new Error("a proof between equal sizes must be empty");
    if (!equal(root1, root2)) throw new Error(`two checkpoints of size ${size1} have different roots`);
    return;
  }
  if (size1 === 0n) {
    if (proof.length !== 0) throw new Error("a proof from the empty tree must be empty");
    return;
  }
  if (proof.length === 0) throw new Error("the consistency proof is empty");
  let path = proof;
  if ((size1 & (size1 - 1n)) === 0n) path = [root1, ...proof];
  let fn = size1 - 1n, sn = size2 - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new Error("the consistency proof has too many hashes");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the consistency proof has too few hashes");
  if (!equal(fr, root1)) throw new Error(`the consistency proof does not lead to the root of size ${size1}`);
  if (!equal(sr, root2)) throw new Error(`the consistency proof does not lead to the root of size ${size2}`);
}

// parseNote splits a signed note (C2SP signed-note) into its text and
// signature lines, and the text into a checkpoint (C2SP tlog-checkpoint).
export function parseCheckpoint(noteText) {
  const sep = noteText.indexOf("\n\n");
  if (sep < 0) throw new Error("the checkpoint is not a signed note (no blank line before the signatures)");
  const text = noteText.slice(0, sep + 1);
  const lines = text.split("\n");
  lines.pop();
  if (lines.length < 3) throw new Error("the checkpoint has fewer than three lines (origin, size, root)");
  const [origin, sizeLine, rootLine] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new Error(`malformed tree size ${JSON.stringify(sizeLine)}`);
  let root;
  try { root = b64decode(rootLine); } catch { throw new Error("the root hash is not base64"); }
  if (root.length !== 32) throw new Error(`the root hash is ${root.length} bytes, not 32`);
  const sigs = [];
  for (const line of noteText.slice(sep + 2).split("\n")) {
    if (line === "") continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed signature line ${JSON.stringify(line)}`);
    let sig;
    try { sig = b64decode(m[2]); } catch { throw new Error(`signature of ${m[1]} is not base64`); }
    if (sig.length < 5) throw new Error(`signature of ${m[1]} is too short`);
    sigs.push({ name: m[1], keyID: sig.slice(0, 4), sig: sig.slice(4) });
  }
  return { text: enc.encode(text), origin, size: BigInt(sizeLine), root, extensions: lines.slice(3), sigs };
}

// DER ECDSA-Sig-Value → IEEE P1363 r‖s (32 bytes each), as WebCrypto wants.
function derToP1363(der) {
  let o = 0;
  const fail = () => { throw new Error("the ECDSA signature is not DER"); };
  if (der[o++] !== 0x30) fail();
  let len = der[o++];
  if (len & 0x80) { if (len !== 0x81) fail(); len = der[o++]; }
  if (o + len !== der.length) fail();
  const out = new Uint8Array(64);
  for (let k = 0; k < 2; k++) {
    if (der[o++] !== 0x02) fail();
    const n = der[o++];
    let v = der.slice(o, o + n); o += n;
    while (v.length > 32 && v[0] === 0) v = v.slice(1);
    if (v.length > 32) fail();
    out.set(v, 32 * k + 32 - v.length);
  }
  if (o !== der.length) fail();
  return out;
}

// A trusted key: one log instance of trusted_root.json, imported.
// kind is "tlog" or "ctlog".
async function importLogKey(inst, kind) {
  const pk = inst.publicKey || {};
  const der = b64decode(pk.rawBytes || "");
  const k = { baseUrl: inst.baseUrl || "", kind, details: pk.keyDetails || "", der, spkiHash: await sha256(der) };
  try {
    if (k.details === "PKIX_ED25519") {
      k.alg = "Ed25519";
      k.raw = der.slice(der.length - 32);
      k.key = await crypto.subtle.importKey("spki", der, { name: "Ed25519" }, false, ["verify"]);
    } else if (k.details === "PKIX_ECDSA_P256_SHA_256") {
      k.alg = "ECDSA";
      k.key = await crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    } else {
      k.error = `key type ${k.details || "unknown"} is not supported by the console (Ed25519 and ECDSA P-256 are)`;
    }
  } catch (e) {
    k.error = `couldn't import the key: ${e.message || e}`;
  }
  return k;
}

// loadTrustedRoot parses trusted_root.json and imports its log keys.
export async function loadTrustedRoot(json) {
  let tr;
  try { tr = JSON.parse(json); } catch (e) { throw new Error(`trusted_root.json is not JSON: ${e.message}`); }
  if (!tr || typeof tr !== "object") throw new Error("trusted_root.json is not an object");
  const keys = [];
  for (const t of tr.tlogs || []) keys.push(await importLogKey(t, "tlog"));
  for (const t of tr.ctlogs || []) keys.push(await importLogKey(t, "ctlog"));
  if (keys.length === 0) throw new Error("trusted_root.json lists no transparency or CT logs");
  return { mediaType: tr.mediaType || "", keys };
}

// The signed-note key IDs a trusted key can have under a signer name.
async function noteKeyIDs(k, name) {
  const nl = enc.encode(name + "\n");
  const ids = [];
  if (k.alg === "Ed25519") ids.push({ type: "ed25519", id: (await sha256(nl, Uint8Array.of(0x01), k.raw)).slice(0, 4) });
  if (k.alg === "ECDSA") {
    ids.push({ type: "ecdsa", id: k.spkiHash.slice(0, 4) });
    ids.push({ type: "rfc6962", id: (await sha256(nl, Uint8Array.of(0x05), k.spkiHash)).slice(0, 4) });
  }
  return ids;
}

async function verifyWith(k, type, cp, sig) {
  switch (type) {
    case "ed25519":
      return crypto.subtle.verify({ name: "Ed25519" }, k.key, sig, cp.text);
    case "ecdsa":
      return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, k.key, derToP1363(sig), cp.text);
    case "rfc6962": {
      // static-ct-api: timestamp ‖ TLS DigitallySigned over the RFC 6962
      // TreeHeadSignature; the checkpoint carries no extension lines.
      if (cp.extensions.length) throw new Error("an RFC 6962 note signature cannot cover extension lines");
      if (sig.length < 12 || sig[8] !== 4 || sig[9] !== 3) throw new Error("the RFC 6962 signature is not ECDSA with SHA-256");
      const n = (sig[10] << 8) | sig[11];
      if (sig.length !== 12 + n) throw new Error("malformed RFC 6962 signature");
      const ths = new Uint8Array(2 + 8 + 8 + 32);
      ths[0] = 0; ths[1] = 1; // v1, tree_hash
      ths.set(sig.slice(0, 8), 2);
      new DataView(ths.buffer).setBigUint64(10, cp.size);
      ths.set(cp.root, 18);
      return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, k.key, derToP1363(sig.slice(12)), ths);
    }
  }
  return false;
}

// verifyCheckpoint parses noteText and verifies it was signed by a key of
// the trust root. origin, if given, must be the checkpoint's first line.
// It returns the checkpoint, the trusted key that verified it, and the
// other signatures (cosignatures) it carries.
export async function verifyCheckpoint(noteText, trust, origin) {
  const cp = parseCheckpoint(noteText);
  if (origin && cp.origin !== origin) throw new Error(`the checkpoint's origin is ${JSON.stringify(cp.origin)}, not this log's ${JSON.stringify(origin)}`);
  if (cp.sigs.length === 0) throw new Error("the checkpoint has no signature");
  const usable = trust.keys.filter((k) => !k.error);
  let verifiedBy = null;
  const reasons = [];
  const others = [];
  for (const s of cp.sigs) {
    let matched = false;
    for (const k of usable) {
      for (const { type, id } of await noteKeyIDs(k, s.name)) {
        if (!equal(id, s.keyID)) continue;
        matched = true;
        let ok = false;
        try { ok = await verifyWith(k, type, cp, s.sig); } catch (e) { reasons.push(`${s.name}: ${e.message}`); continue; }
        if (ok) { verifiedBy = verifiedBy || { key: k, name: s.name, type }; }
        else reasons.push(`the signature of ${s.name} (key ${hex(s.keyID)}, ${k.baseUrl}) does not verify`);
      }
    }
    if (!matched) others.push({ name: s.name, keyID: hex(s.keyID) });
  }
  if (!verifiedBy) {
    if (reasons.length) throw new Error(`checkpoint signature invalid: ${reasons.join("; ")}`);
    throw new Error(`no signature of the checkpoint is by a log key of the trust root (signers: ${cp.sigs.map((s) => s.name + " " + hex(s.keyID)).join(", ")})`);
  }
  if (reasons.length) throw new Error(`checkpoint signature invalid: ${reasons.join("; ")}`);
  return { ...cp, verifiedBy, cosignatures: others };
}

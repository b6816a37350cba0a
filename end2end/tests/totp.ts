import { createHmac } from "node:crypto";

/** An authenticator app, as far as the tests need one: RFC 6238 codes (HMAC-SHA-1, 6 digits,
 * 30-second steps) from the base32 secret the setup page shows. Written from the RFC so the
 * tests do not share code with the server they check. */
export class Authenticator {
  private readonly key: Buffer;
  /** The step of the last code handed out: the server refuses a step it has seen. */
  private lastStep = -1;

  constructor(base32: string) {
    this.key = base32Decode(base32);
    if (this.key.length < 16) throw new Error(`a secret of ${this.key.length} bytes`);
  }

  /** The code for `step`. */
  codeAt(step: number): string {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(step));
    const mac = createHmac("sha1", this.key).update(counter).digest();
    const offset = mac[mac.length - 1] & 0x0f;
    const value =
      ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
    return String(value % 1_000_000).padStart(6, "0");
  }

  static currentStep(): number {
    return Math.floor(Date.now() / 1000 / 30);
  }

  /** A code the server has not seen yet: now's, or (when now's was used) the next step's,
   * which the server accepts as one step of drift. */
  freshCode(): string {
    const step = Math.max(Authenticator.currentStep(), this.lastStep + 1);
    if (step > Authenticator.currentStep() + 1) {
      throw new Error("two codes asked for within one step after a look-ahead code");
    }
    this.lastStep = step;
    return this.codeAt(step);
  }

  /** The code last handed out (for a replay). */
  lastCode(): string {
    return this.codeAt(this.lastStep);
  }
}

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/\s+/g, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "@playwright/test";
import { simpleParser, type AddressObject } from "mailparser";

/** One message as the tests see it: already decoded (quoted-printable, encoded words). */
export interface Mail {
  subject: string;
  text: string;
  /** The HTML part, or "" when the message has none. */
  html: string;
  /** Every recipient, lower-cased: the To and Cc headers and the SMTP envelope. */
  to: string[];
  /** The absolute http(s) links in the plain-text part, in order. */
  links: string[];
}

// The e2e run's SMTP server (aiosmtpd's Mailbox handler, started by scripts/test.sh) files
// every message it accepts in this Maildir. Reading it checks what a real relay would have
// received: the SMTP conversation, the MIME structure and the encoding, not a side file.
function maildir(): string {
  const dir = process.env.MAILDIR;
  if (!dir) {
    throw new Error("MAILDIR is not set: scripts/test.sh points it at the e2e SMTP server's Maildir");
  }
  return dir;
}

// Messages already handed to a test. A test that waits for "the next" mail after an action
// must not be answered with the one the previous step already read (the second verification
// mail has the same subject and address as the first). One worker runs every spec, so one
// module-level set sees every test.
const consumed = new Set<string>();
// Parsed once: a delivered file never changes (Maildir moves it into new/ whole).
const parsed = new Map<string, Mail>();

interface Entry {
  key: string;
  file: string;
  order: number[];
}

/** Files in new/ and cur/, oldest first. A message moves from new/ to cur/ with ":2,flags"
 * appended, so the part before ":" is its identity. tmp/ holds half-written ones: skipped. */
async function delivered(): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (const sub of ["new", "cur"]) {
    const dir = path.join(maildir(), sub);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const key = name.split(":")[0];
      entries.push({ key, file: path.join(dir, name), order: arrival(key) });
    }
  }
  return entries.sort((a, b) => compareOrder(a.order, b.order) || a.key.localeCompare(b.key));
}

// Python's mailbox.Maildir names a file "<seconds>.M<microseconds>P<pid>Q<counter>.<host>".
// The microseconds are not zero-padded, so the names do not sort as text; the numbers do.
function arrival(key: string): number[] {
  const m = /^(\d+)\.M(\d+)P\d+Q(\d+)\./.exec(key);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
}

function compareOrder(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

async function parse(entry: Entry): Promise<Mail> {
  const cached = parsed.get(entry.key);
  if (cached) return cached;
  const message = await simpleParser(await readFile(entry.file));
  const headerAddresses = (field: AddressObject | AddressObject[] | undefined) =>
    (field === undefined ? [] : Array.isArray(field) ? field : [field]).flatMap((obj) =>
      obj.value.map((addr) => addr.address ?? ""),
    );
  // aiosmtpd adds the envelope recipients as X-RcptTo: what the server actually addressed.
  const envelope = String(message.headers.get("x-rcptto") ?? "")
    .split(",")
    .map((a) => a.trim());
  const text = message.text ?? "";
  const mail: Mail = {
    subject: message.subject ?? "",
    text,
    html: typeof message.html === "string" ? message.html : "",
    to: [...new Set([...headerAddresses(message.to), ...headerAddresses(message.cc), ...envelope])]
      .filter((a) => a !== "")
      .map((a) => a.toLowerCase()),
    links: linksIn(text),
  };
  parsed.set(entry.key, mail);
  return mail;
}

// A URL ends at white space or at characters a URL in prose is wrapped in; punctuation that
// ends a sentence ("…at https://x/y.") is not part of it. Tokens are URL-safe base64, which
// never ends in one of those.
function linksIn(text: string): string[] {
  return (text.match(/https?:\/\/[^\s<>"'()[\]]+/g) ?? []).map((url) => url.replace(/[.,;:!?]+$/, ""));
}

function subjectMatches(subject: string, wanted: string | RegExp): boolean {
  return typeof wanted === "string" ? subject === wanted : wanted.test(subject);
}

async function findUnread(to: string, subject: string | RegExp): Promise<{ key: string; mail: Mail } | undefined> {
  const address = to.toLowerCase();
  for (const entry of await delivered()) {
    if (consumed.has(entry.key)) continue;
    const mail = await parse(entry);
    if (mail.to.includes(address) && subjectMatches(mail.subject, subject)) {
      return { key: entry.key, mail };
    }
  }
  return undefined;
}

/** The oldest message to `to` whose subject is `subject` (exactly, or matching the RegExp)
 * that no earlier call returned, waiting up to 15 s for it to arrive: the app queues mail and
 * sends it in the background, so it lands a moment after the page has answered. */
export async function nextMail(to: string, subject: string | RegExp): Promise<Mail> {
  let found: { key: string; mail: Mail } | undefined;
  await expect
    .poll(
      async () => {
        found = await findUnread(to, subject);
        return found !== undefined;
      },
      {
        message: `a new mail to ${to} with the subject ${String(subject)} in ${process.env.MAILDIR}`,
        timeout: 15_000,
        intervals: [100, 250, 500],
      },
    )
    .toBe(true);
  consumed.add(found!.key);
  return found!.mail;
}

/** The first link in the mail's text whose path (and query) starts with `pathPrefix`, e.g.
 * "/reset-password?token=". Absolute, as written in the mail: it names PUBLIC_URL's host. */
export function linkIn(mail: Mail, pathPrefix: string): string {
  const link = mail.links.find((url) => {
    const { pathname, search } = new URL(url);
    return `${pathname}${search}`.startsWith(pathPrefix);
  });
  if (link === undefined) {
    throw new Error(
      `no link starting with ${pathPrefix} in "${mail.subject}"; its links: ${mail.links.join(" ") || "none"}`,
    );
  }
  return link;
}
